//! One request's state while a pattern runs: the plugin snapshot it keeps
//! for its whole life, its vault, the trace the caller sees, and the audit
//! records (each written as the decision is made, before the answer).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::audit::{AuditLog, CloudUsage, Entry, Kind};
use crate::pipeline::stages::LocalUsage;
use crate::pipeline::{PipelineError, Policy};
use crate::plugins::PluginSet;
use crate::privacy::Vault;
use crate::telemetry::StageSpan;

/// One decision, as the caller sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub stage: String,
    pub decision: String,
    pub reasons: Vec<String>,
    pub ms: f64,
}

pub struct RequestCtx {
    pub id: String,
    pub policy: Arc<Policy>,
    pub plugins: Arc<PluginSet>,
    pub vault: Vault,
    pub trace: Vec<Step>,
    pub latency_ms: BTreeMap<String, f64>,
    pub cloud: CloudUsage,
    pub local: LocalUsage,
    /// Tiers that did work.
    pub tiers: Vec<String>,
    pub started: Instant,
    /// When it started, for its trace span.
    pub started_at: SystemTime,
    /// Each stage as it happened, for its trace span.
    pub stages: Vec<StageSpan>,
    audit: AuditLog,
}

impl RequestCtx {
    pub fn new(id: String, policy: Arc<Policy>, plugins: Arc<PluginSet>, audit: AuditLog) -> Self {
        let vault = Vault::new().restoring_secrets(policy.restore_secrets);
        RequestCtx {
            id,
            policy,
            plugins,
            vault,
            trace: Vec::new(),
            latency_ms: BTreeMap::new(),
            cloud: CloudUsage::default(),
            local: LocalUsage::default(),
            tiers: Vec::new(),
            started: Instant::now(),
            started_at: SystemTime::now(),
            stages: Vec::new(),
            audit,
        }
    }

    /// Note a stage's time (summed when a stage runs twice).
    pub fn timed(&mut self, stage: &str, since: Instant) -> f64 {
        let took = since.elapsed();
        let ms = took.as_secs_f64() * 1e3;
        *self.latency_ms.entry(stage.to_string()).or_default() += ms;
        self.span(stage, took);
        ms
    }

    /// Note a stage that just ended after `ms`, timed by the stage itself.
    pub fn took(&mut self, stage: &str, ms: f64) {
        *self.latency_ms.entry(stage.to_string()).or_default() += ms;
        self.span(stage, std::time::Duration::from_secs_f64(ms.max(0.0) / 1e3));
    }

    /// A stage that just ended after `took`.
    fn span(&mut self, stage: &str, took: std::time::Duration) {
        let end = SystemTime::now();
        self.stages.push(StageSpan {
            name: stage.to_string(),
            start: end.checked_sub(took).unwrap_or(end),
            end,
        });
    }

    pub fn used(&mut self, tier: &str) {
        if !self.tiers.iter().any(|t| t == tier) {
            self.tiers.push(tier.to_string());
        }
    }

    /// An entry about this request, with the policy version that decided.
    pub fn entry(&self, kind: Kind, decision: &str) -> Entry {
        Entry::new(kind, decision)
            .request(&self.id, &self.policy.name)
            .plugin(
                &format!("policy:{}", self.policy.name),
                Some(&self.policy.sha256),
            )
    }

    /// Record a decision: in the trace and, first, in the audit log.
    pub fn decide(&mut self, stage: &str, entry: Entry, ms: f64) -> Result<String, PipelineError> {
        let started = Instant::now();
        let record = self
            .audit
            .append(entry.clone())
            .map_err(|e| PipelineError::Audit(format!("{e:#}")))?;
        self.span("audit", started.elapsed());
        self.trace.push(Step {
            stage: stage.to_string(),
            decision: entry.decision,
            reasons: entry.reasons,
            ms,
        });
        Ok(record.id)
    }

    /// Pseudonyms issued so far, per kind.
    pub fn pseudonym_counts(&self) -> BTreeMap<String, u32> {
        self.vault.counts_by_kind()
    }
}
