//! Shared helpers: where the built plugins are, and hosts to load them into.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice::plugins::contract::RouteContext;
use sluice::plugins::{HostConfig, PluginHost, PluginSet};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A component built by `cargo xtask plugins`, such as `complexity-router` or `testing/iloop`.
pub fn built(name: &str) -> PathBuf {
    let path = root().join("target/plugins").join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask plugins` first",
        path.display()
    );
    path
}

/// Host settings for tests: a persistent artifact cache shared by the suite
/// (compiling the Python and JavaScript components takes seconds).
pub fn config() -> HostConfig {
    HostConfig {
        cache_dir: root().join("target/test-cache/components"),
        ..HostConfig::default()
    }
}

pub fn host() -> PluginHost {
    PluginHost::start(config()).expect("starting the plugin host")
}

/// A fresh policies folder holding copies of the given plugins, under the given names.
pub fn folder(plugins: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (built_name, as_name) in plugins {
        std::fs::copy(
            built(built_name),
            dir.path().join(format!("{as_name}.wasm")),
        )
        .unwrap();
    }
    dir
}

pub fn ctx() -> RouteContext {
    RouteContext::example()
}

/// Wait until the registry's set satisfies `done` (a file watcher is asynchronous).
pub fn wait_for(host: &PluginHost, what: &str, done: impl Fn(&Arc<PluginSet>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if done(&host.registry().snapshot()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("timed out waiting for {what}");
}

/// Replace `to` the way editors and `cp --atomic` tools do: write beside it, then rename over it.
pub fn rename_over(from: &Path, to: &Path) {
    let tmp = to.with_extension("wasm.tmp");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

pub fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}
