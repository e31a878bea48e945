//! Hot reload of a folder: a debounced `notify` watcher. Create, overwrite,
//! rename-over and delete all end in `on_change` for each accepted file
//! concerned; a watcher error ends in `on_rescan`. Callbacks run on the
//! debouncer's thread, never on a request's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

/// How long a file must be quiet before it is loaded: long enough for `cp`
/// to finish a write, short enough for a swap to feel immediate.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// Keeps the watch alive; dropping it stops watching.
pub struct Watcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

/// Watch the files directly in `dir` that `accept` takes.
pub fn watch(
    dir: &Path,
    accept: impl Fn(&Path) -> bool + Send + 'static,
    on_change: impl Fn(&Path) + Send + 'static,
    on_rescan: impl Fn(&Path) + Send + 'static,
) -> anyhow::Result<Watcher> {
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
                        .filter(|p| accept(p) && p.parent() == Some(folder.as_path()))
                        .cloned()
                        .collect();
                    for path in paths {
                        on_change(&path);
                    }
                }
                Err(errors) => {
                    for e in errors {
                        tracing::warn!("watching {}: {e}; rescanning", folder.display());
                    }
                    on_rescan(&folder);
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
