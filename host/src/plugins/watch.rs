//! Hot reload of plugins: the policies folder's `*.wasm` files kept in line
//! with the registry through [`crate::watch`].

use std::path::Path;
use std::sync::Arc;

use crate::plugins::registry::{Registry, plugin_name};
pub use crate::watch::{DEBOUNCE, Watcher};

/// Watch `dir` and keep `registry` in line with its plugin files.
pub fn watch(registry: Arc<Registry>, dir: &Path) -> anyhow::Result<Watcher> {
    let rescan = registry.clone();
    crate::watch::watch(
        dir,
        |p| plugin_name(p).is_some(),
        move |p| registry.sync_path(p),
        move |dir| rescan.load_dir(dir),
    )
}
