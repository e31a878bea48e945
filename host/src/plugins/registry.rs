//! The serving plugin set: an immutable `PluginSet` behind an `ArcSwap`. A
//! request takes one snapshot and keeps it, so it sees exactly one version of
//! every plugin; a reload builds a new set and swaps it in whole. Readers
//! never lock; writers (reloads) are serialised among themselves.
//!
//! A file that fails to load never displaces the version in service: the
//! rejection is recorded (with its stage) and the old version keeps serving.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::audit::{AuditLog, Entry, Kind};
use crate::plugins::engine::PluginEngine;
use crate::plugins::error::{PluginError, Stage};
use crate::plugins::loader;
use crate::plugins::plugin::Plugin;

/// A file the loader refused.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Rejection {
    pub name: String,
    pub path: PathBuf,
    pub stage: Stage,
    pub reason: String,
    #[serde(with = "crate::time_format")]
    pub at: SystemTime,
}

/// One immutable generation of loaded plugins.
#[derive(Default)]
pub struct PluginSet {
    plugins: BTreeMap<String, Arc<Plugin>>,
    rejections: BTreeMap<String, Rejection>,
    /// Bumped by every swap.
    pub generation: u64,
}

/// What a policy sees of a plugin it names.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum PluginStatus {
    Ready {
        version: String,
    },
    Quarantined {
        version: String,
    },
    /// No version is loaded; `rejected` says why the last file was refused, if one was.
    Missing {
        rejected: Option<String>,
    },
}

impl PluginSet {
    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.plugins.get(name)
    }

    pub fn plugins(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.plugins.values()
    }

    /// The last rejection of each name's file (cleared when a good file loads).
    pub fn rejections(&self) -> impl Iterator<Item = &Rejection> {
        self.rejections.values()
    }

    pub fn status(&self, name: &str) -> PluginStatus {
        match self.plugins.get(name) {
            Some(p) if p.health.is_quarantined() => PluginStatus::Quarantined {
                version: p.sha256.clone(),
            },
            Some(p) => PluginStatus::Ready {
                version: p.sha256.clone(),
            },
            None => PluginStatus::Missing {
                rejected: self
                    .rejections
                    .get(name)
                    .map(|r| format!("{} stage: {}", r.stage, r.reason)),
            },
        }
    }
}

/// How many past rejections are kept for inspection.
const REJECTION_HISTORY: usize = 256;

pub struct Registry {
    engine: Arc<PluginEngine>,
    current: ArcSwap<PluginSet>,
    /// Serialises writers; never taken by a reader.
    writer: Mutex<()>,
    history: Mutex<VecDeque<Rejection>>,
    /// Where loads, removals and rejections are recorded, once set.
    audit: std::sync::OnceLock<AuditLog>,
}

impl Registry {
    pub fn new(engine: Arc<PluginEngine>) -> Registry {
        Registry {
            engine,
            current: ArcSwap::from_pointee(PluginSet::default()),
            writer: Mutex::new(()),
            history: Mutex::new(VecDeque::new()),
            audit: std::sync::OnceLock::new(),
        }
    }

    /// Record every later load, removal and rejection in `log`.
    pub fn audit_to(&self, log: AuditLog) {
        let _ = self.audit.set(log);
    }

    fn audit(&self, entry: Entry) {
        if let Some(log) = self.audit.get()
            && let Err(e) = log.append(entry)
        {
            tracing::error!("audit: {e:#}");
        }
    }

    /// The set a request keeps for its whole life. Lock-free.
    pub fn snapshot(&self) -> Arc<PluginSet> {
        self.current.load_full()
    }

    /// Recent rejections, oldest first (bounded).
    pub fn rejection_history(&self) -> Vec<Rejection> {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Bring the set in line with every `*.wasm` file in `dir` (loads new and
    /// changed files, drops plugins whose file is gone).
    pub fn load_dir(&self, dir: &Path) {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| is_plugin_file(p))
                    .collect()
            })
            .unwrap_or_else(|e| {
                tracing::error!(dir = %dir.display(), "cannot list the policies folder: {e}");
                Vec::new()
            });
        let present: Vec<String> = paths.iter().filter_map(|p| plugin_name(p)).collect();
        for gone in self
            .snapshot()
            .plugins
            .keys()
            .filter(|n| !present.contains(n))
        {
            self.sync_path(&dir.join(format!("{gone}.wasm")));
        }
        paths.sort();
        for path in paths {
            self.sync_path(&path);
        }
    }

    /// Bring one plugin in line with its file: load it if it exists and
    /// changed, drop the plugin if the file is gone.
    pub fn sync_path(&self, path: &Path) {
        let Some(name) = plugin_name(path) else {
            return;
        };
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.snapshot();
        if !path.exists() {
            if let Some(old) = current.plugins.get(&name) {
                tracing::warn!(plugin = %name, version = old.short_sha(), "plugin file removed; policies that use it fall back");
                old.retire();
                self.audit(
                    Entry::new(Kind::Reload, "retired")
                        .reasons([format!("plugin {name}: file removed")])
                        .plugin(&name, Some(&old.sha256)),
                );
                self.swap(&current, |set| {
                    set.plugins.remove(&name);
                });
            }
            return;
        }
        let loaded = loader::read_file(&self.engine, path).and_then(|bytes| {
            let sha256 = loader::digest(&bytes);
            if current
                .plugins
                .get(&name)
                .is_some_and(|p| p.sha256 == sha256)
            {
                return Ok(None); // same bytes: nothing to do
            }
            loader::load_bytes(&self.engine, path, &bytes, sha256).map(Some)
        });
        match loaded {
            Ok(None) => {}
            Ok(Some(plugin)) => {
                tracing::info!(
                    plugin = %name, world = %plugin.world, version = plugin.short_sha(), cached = plugin.from_cache,
                    "plugin version in service (ready in {:?})", plugin.compile_time
                );
                if let Some(why) = &plugin.deprecated {
                    tracing::warn!(plugin = %name, "deprecated: {why}");
                }
                self.audit(
                    Entry::new(Kind::Reload, "loaded")
                        .reasons([format!("plugin {name} ({})", plugin.world)])
                        .plugin(&name, Some(&plugin.sha256)),
                );
                let plugin = Arc::new(plugin);
                let old = current.plugins.get(&name).cloned();
                self.swap(&current, |set| {
                    set.plugins.insert(name.clone(), plugin);
                    set.rejections.remove(&name);
                });
                if let Some(old) = old {
                    old.retire();
                }
            }
            Err(error) => self.reject(&current, &name, path, error),
        }
    }

    fn reject(&self, current: &PluginSet, name: &str, path: &Path, error: PluginError) {
        let stage = error.stage().unwrap_or(Stage::Read);
        let keeping = match current.plugins.get(name) {
            Some(p) => format!("keeping version {}… in service", p.short_sha()),
            None => "no version of it is in service".to_string(),
        };
        tracing::error!(
            "plugin {} rejected at the {stage} stage: {error}; {keeping}",
            path.display()
        );
        self.audit(
            Entry::new(Kind::Rejection, "plugin refused")
                .reasons([format!("plugin {name}: {stage} stage: {error}; {keeping}")])
                .plugin(name, current.plugins.get(name).map(|p| p.sha256.as_str())),
        );
        let rejection = Rejection {
            name: name.to_string(),
            path: path.to_path_buf(),
            stage,
            reason: error.to_string(),
            at: SystemTime::now(),
        };
        {
            let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
            if history.len() == REJECTION_HISTORY {
                history.pop_front();
            }
            history.push_back(rejection.clone());
        }
        self.swap(current, |set| {
            set.rejections.insert(name.to_string(), rejection);
        });
    }

    /// Build the next generation from `current` and publish it. Only called
    /// with the writer lock held, so `current` is still the published set.
    fn swap(&self, current: &PluginSet, change: impl FnOnce(&mut PluginSet)) {
        let mut next = PluginSet {
            plugins: current.plugins.clone(),
            rejections: current.rejections.clone(),
            generation: current.generation + 1,
        };
        change(&mut next);
        self.current.store(Arc::new(next));
    }
}

fn is_plugin_file(path: &Path) -> bool {
    plugin_name(path).is_some()
}

/// `policies/complexity-router.wasm` → `complexity-router`; hidden and
/// temporary files (editors' swap files, `.part` downloads) are not plugins.
pub fn plugin_name(path: &Path) -> Option<String> {
    if path.extension().and_then(|e| e.to_str()) != Some("wasm") {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    (!stem.starts_with('.') && !stem.is_empty()).then(|| stem.to_string())
}
