//! Hot reload: a debounced `notify` watcher on the policies folder. Create,
//! overwrite, rename-over and delete all end in `Registry::sync_path` for the
//! files concerned; a watcher error ends in a full rescan. Loading runs on
//! the debouncer's thread, never on a request's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use crate::plugins::registry::{Registry, plugin_name};

/// How long a file must be quiet before it is loaded: long enough for `cp`
/// to finish a write, short enough for a swap to feel immediate.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// Keeps the watch alive; dropping it stops watching.
pub struct Watcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

/// Watch `dir` and keep `registry` in line with its plugin files.
pub fn watch(registry: Arc<Registry>, dir: &Path) -> anyhow::Result<Watcher> {
    // Events carry canonical paths; compare like with like.
    let folder = dir
        .canonicalize()
        .with_context(|| format!("opening {}", dir.display()))?;
    let watched = folder.clone();
    let mut debouncer =
        new_debouncer(
            DEBOUNCE,
            None,
            move |result: DebounceEventResult| match result {
                Ok(events) => {
                    let paths: BTreeSet<PathBuf> = events
                        .iter()
                        .flat_map(|e| e.paths.iter())
                        .filter(|p| {
                            plugin_name(p).is_some() && p.parent() == Some(folder.as_path())
                        })
                        .cloned()
                        .collect();
                    for path in paths {
                        registry.sync_path(&path);
                    }
                }
                Err(errors) => {
                    for e in errors {
                        tracing::warn!("watching {}: {e}; rescanning", folder.display());
                    }
                    registry.load_dir(&folder);
                }
            },
        )
        .context("starting the file watcher")?;
    debouncer
        .watch(&watched, RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", dir.display()))?;
    Ok(Watcher {
        _debouncer: debouncer,
    })
}
