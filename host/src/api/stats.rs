//! What the policies did since the server started, for `/admin/stats`:
//! requests per route, the share the cloud answered, what was sent to the
//! cloud (bytes, tokens, cost) and what the local tier kept from it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::pipeline::{Outcome, Tier};

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PolicyStats {
    pub requests: u64,
    pub routes: BTreeMap<String, u64>,
    pub answered_by_cloud: u64,
    pub degraded: u64,
    pub review: u64,
    pub errors: u64,
    pub cloud_calls: u64,
    pub cloud_bytes: u64,
    pub cloud_prompt_tokens: u64,
    pub cloud_completion_tokens: u64,
    pub cloud_cost_usd: f64,
    pub local_prompt_tokens: u64,
    pub local_completion_tokens: u64,
    /// Tokens the local tier read that did not go to the cloud: what an
    /// all-cloud gateway would have sent, less what was sent.
    pub cloud_tokens_saved: u64,
}

#[derive(Default)]
pub struct Stats {
    by_policy: Mutex<BTreeMap<String, PolicyStats>>,
}

impl Stats {
    pub fn answered(&self, outcome: &Outcome) {
        let mut all = self.by_policy.lock().unwrap_or_else(|p| p.into_inner());
        let s = all.entry(outcome.policy.clone()).or_default();
        s.requests += 1;
        *s.routes.entry(outcome.route.clone()).or_default() += 1;
        s.answered_by_cloud += u64::from(outcome.answered_by == Tier::Cloud);
        s.degraded += u64::from(outcome.degraded.is_some());
        s.review += u64::from(outcome.review);
        s.cloud_calls += u64::from(outcome.cloud.calls);
        s.cloud_bytes += outcome.cloud.bytes;
        s.cloud_prompt_tokens += outcome.cloud.prompt_tokens;
        s.cloud_completion_tokens += outcome.cloud.completion_tokens;
        s.cloud_cost_usd += outcome.cloud.cost_usd;
        s.local_prompt_tokens += outcome.local.prompt_tokens;
        s.local_completion_tokens += outcome.local.completion_tokens;
        s.cloud_tokens_saved += outcome
            .local
            .prompt_tokens
            .saturating_sub(outcome.cloud.prompt_tokens);
    }

    pub fn failed(&self, policy: &str) {
        let mut all = self.by_policy.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(policy.to_string()).or_default().errors += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, PolicyStats> {
        self.by_policy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
