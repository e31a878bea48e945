//! The serving policies: an immutable map behind an `ArcSwap`, reloaded
//! from the policies folder when a `*.toml` file (or the
//! `*.calibration.json` beside one) changes. A file that fails
//! its checks never displaces the version in service: the rejection is kept
//! (and audited) and the old policy keeps serving. Deleting a file retires
//! its policy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::policy::{Policy, PolicyError, policy_name};
use crate::audit::{AuditLog, Entry, Kind};
use crate::calibration::Calibration;
use crate::plugins::sandbox::CallSettings;

pub type PolicyMap = BTreeMap<String, Arc<Policy>>;

pub struct Policies {
    dir: PathBuf,
    current: ArcSwap<PolicyMap>,
    rejections: ArcSwap<BTreeMap<String, PolicyError>>,
    writer: Mutex<()>,
    defaults: CallSettings,
    audit: Option<AuditLog>,
}

impl Policies {
    /// Load every policy in `dir`; bad files are logged, audited and skipped.
    pub fn load(dir: &Path, defaults: CallSettings, audit: Option<AuditLog>) -> Arc<Policies> {
        let policies = Arc::new(Policies {
            dir: dir.to_path_buf(),
            current: ArcSwap::from_pointee(PolicyMap::new()),
            rejections: ArcSwap::from_pointee(BTreeMap::new()),
            writer: Mutex::new(()),
            defaults,
            audit,
        });
        policies.load_dir();
        policies
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The policies serving now: a request keeps the `Arc<Policy>` it got.
    pub fn snapshot(&self) -> Arc<PolicyMap> {
        self.current.load_full()
    }

    pub fn get(&self, name: &str) -> Option<Arc<Policy>> {
        self.current.load().get(name).cloned()
    }

    /// The last refusal of each file still refused.
    pub fn rejections(&self) -> Arc<BTreeMap<String, PolicyError>> {
        self.rejections.load_full()
    }

    /// Re-read the whole folder.
    pub fn load_dir(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            tracing::warn!("cannot read the policies folder {}", self.dir.display());
            return;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            self.sync_path(&path);
        }
    }

    /// Bring one file's policy in line with the file: load, replace, retire,
    /// or keep the old one and record why the new one was refused.
    pub fn sync_path(&self, path: &Path) {
        if let Some(policy_file) = Calibration::policy_file(path) {
            return self.sync_path(&policy_file);
        }
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(name) = policy_name(path) else {
            if path.extension().is_some_and(|e| e == "toml") {
                self.reject(
                    path.display().to_string(),
                    PolicyError {
                        file: path.display().to_string(),
                        key: "(file name)".into(),
                        problem: "a policy file is named <name>.toml in lower-case letters, digits and dashes".into(),
                        fix: "rename the file".into(),
                    },
                );
            }
            return;
        };
        if !path.exists() {
            if self.current.load().contains_key(&name) {
                // Audited before it takes effect, like every decision.
                self.audit(
                    Entry::new(Kind::Reload, "retired")
                        .reasons([format!("policy {name}: file removed")]),
                );
                tracing::info!("policy {name} retired (file removed)");
                self.clear_rejection(&name);
                self.swap(|m| {
                    m.remove(&name);
                });
            }
            return;
        }
        match Policy::load(path, &self.defaults) {
            Ok(policy) => {
                let unchanged = self
                    .current
                    .load()
                    .get(&name)
                    .is_some_and(|p| p.sha256 == policy.sha256);
                self.clear_rejection(&name);
                if unchanged {
                    return;
                }
                tracing::info!("policy {name} loaded ({})", policy.pattern.name());
                self.audit(
                    Entry::new(Kind::Reload, "loaded")
                        .reasons([format!("policy {name} ({})", policy.pattern.name())])
                        .plugin(&format!("policy:{name}"), Some(&policy.sha256)),
                );
                let policy = Arc::new(policy);
                self.swap(|m| {
                    m.insert(name.clone(), policy.clone());
                });
            }
            Err(error) => {
                tracing::warn!("{error}; the previous version (if any) keeps serving");
                self.reject(name, error);
            }
        }
    }

    fn reject(&self, name: String, error: PolicyError) {
        self.audit(Entry::new(Kind::Rejection, "policy refused").reasons([error.to_string()]));
        let mut rejections = (**self.rejections.load()).clone();
        rejections.insert(name, error);
        self.rejections.store(Arc::new(rejections));
    }

    fn clear_rejection(&self, name: &str) {
        if self.rejections.load().contains_key(name) {
            let mut rejections = (**self.rejections.load()).clone();
            rejections.remove(name);
            self.rejections.store(Arc::new(rejections));
        }
    }

    fn swap(&self, change: impl FnOnce(&mut PolicyMap)) {
        let mut next = (**self.current.load()).clone();
        change(&mut next);
        self.current.store(Arc::new(next));
    }

    fn audit(&self, entry: Entry) {
        if let Some(log) = &self.audit
            && let Err(e) = log.append(entry)
        {
            tracing::error!("audit: {e:#}");
        }
    }
}

/// Keep `policies` in line with its folder until the watcher is dropped.
pub fn watch(policies: Arc<Policies>) -> anyhow::Result<crate::watch::Watcher> {
    let dir = policies.dir().to_path_buf();
    let rescan = policies.clone();
    crate::watch::watch(
        &dir,
        |p| p.extension().is_some_and(|e| e == "toml") || Calibration::policy_file(p).is_some(),
        move |p| policies.sync_path(p),
        move |_| rescan.load_dir(),
    )
}
