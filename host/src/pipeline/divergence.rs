//! Where local and cloud disagree: per policy, how many answers were
//! compared, and per field how often the merger found them apart. The share
//! per field says where the local model is weakest.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PolicyDivergence {
    /// Answers compared by the merger.
    pub compared: u64,
    /// Of those, how many diverged on each field.
    pub fields: BTreeMap<String, u64>,
}

impl PolicyDivergence {
    /// The share of compared answers that diverged on `field`.
    pub fn rate(&self, field: &str) -> f64 {
        if self.compared == 0 {
            return 0.0;
        }
        self.fields.get(field).copied().unwrap_or(0) as f64 / self.compared as f64
    }
}

#[derive(Default)]
pub struct Divergence {
    by_policy: Mutex<BTreeMap<String, PolicyDivergence>>,
}

impl Divergence {
    pub fn record(&self, policy: &str, diverged: &[String]) {
        let mut all = self.by_policy.lock().unwrap_or_else(|p| p.into_inner());
        let entry = all.entry(policy.to_string()).or_default();
        entry.compared += 1;
        for field in diverged {
            *entry.fields.entry(field.clone()).or_default() += 1;
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, PolicyDivergence> {
        self.by_policy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
