//! Shadow plugins: a policy may name a `[shadow.router]` beside its router
//! and a `[shadow.merger]` beside its merger. Each decision the active one
//! makes, the shadow is asked too, with the same plugin snapshot and the
//! same inputs, off the request's path (a task of its own, under its own
//! deadline). Its decision goes to the audit log as a `shadow` record
//! linked to the active decision's record, and is never acted on.
//! Per policy, what the shadows said, for `/admin/stats`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::audit::record::Shadowed;
use crate::audit::{AuditLog, Entry, Kind};
use crate::pipeline::policy::PluginUse;
use crate::plugins::PluginSet;
use crate::plugins::contract::{Candidate, Choice, RouteContext};

/// What one policy's shadows said since the server started.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PolicyShadow {
    /// Decisions the shadows made (each beside an active one).
    pub decisions: u64,
    /// Of those, how many were the active decision.
    pub agreements: u64,
    /// The shadows' decisions by name (`local`, `escalate`, … or a merger's
    /// `local`, `cloud`, `review`).
    pub decided: BTreeMap<String, u64>,
    /// Shadow decisions that would have sent the request to the cloud.
    pub to_cloud: u64,
    /// Shadow calls that failed (their fallback decision is what is counted).
    pub failures: u64,
}

#[derive(Default)]
pub struct Shadows {
    by_policy: Mutex<BTreeMap<String, PolicyShadow>>,
}

impl Shadows {
    fn record(&self, policy: &str, decision: &str, agrees: bool, to_cloud: bool, failed: bool) {
        let mut all = self.by_policy.lock().unwrap_or_else(|p| p.into_inner());
        let s = all.entry(policy.to_string()).or_default();
        s.decisions += 1;
        s.agreements += u64::from(agrees);
        *s.decided.entry(decision.to_string()).or_default() += 1;
        s.to_cloud += u64::from(to_cloud);
        s.failures += u64::from(failed);
    }

    pub fn snapshot(&self) -> BTreeMap<String, PolicyShadow> {
        self.by_policy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What a shadow call needs to outlive the request: where to write, what
/// to count, which active record it stands beside.
pub struct Beside {
    pub shadows: Arc<Shadows>,
    pub audit: AuditLog,
    pub plugins: Arc<PluginSet>,
    /// The active decision's entry (request, policy, its version).
    pub entry: Entry,
    /// The active decision's record id, and the decision.
    pub record: String,
    pub active: String,
}

impl Beside {
    fn write(
        self,
        shadow: &PluginUse,
        decision: &str,
        reasons: Vec<String>,
        version: Option<&str>,
        started: Instant,
    ) {
        let agrees = decision == self.active;
        // A router's escalate, parallel or draft-refine, a merger's cloud.
        let to_cloud = !matches!(decision, "local" | "reject" | "review");
        let policy = self.entry.policy.clone().unwrap_or_default();
        let failed = version.is_none();
        let mut entry = Entry {
            decision: decision.to_string(),
            reasons,
            shadows: Some(Shadowed {
                record: self.record,
                active: self.active,
                agrees,
            }),
            ..self.entry
        }
        .plugin(&shadow.name, version);
        entry
            .latency_ms
            .insert("shadow".into(), started.elapsed().as_secs_f64() * 1e3);
        if let Err(e) = self.audit.append(entry) {
            tracing::warn!(policy, "a shadow decision could not be audited: {e:#}");
        }
        self.shadows
            .record(&policy, decision, agrees, to_cloud, failed);
    }
}

/// Ask the shadow router what it would have decided, in a task of its own.
pub fn route(beside: Beside, shadow: PluginUse, ctx: RouteContext) {
    tokio::spawn(async move {
        let started = Instant::now();
        let routed = beside
            .plugins
            .route(&shadow.name, &ctx, &shadow.settings)
            .await;
        let decision = super::patterns::route_name(routed.decision.route);
        let version = routed.version.as_deref();
        beside.write(&shadow, decision, routed.decision.reasons, version, started);
    });
}

/// Ask the shadow merger which answer it would have kept, in a task of its own.
pub fn merge(
    beside: Beside,
    shadow: PluginUse,
    local: Candidate,
    cloud: Candidate,
    schema: String,
) {
    tokio::spawn(async move {
        let started = Instant::now();
        let merged = beside
            .plugins
            .merge(&shadow.name, &local, &cloud, &schema, &shadow.settings)
            .await;
        let decision = match merged.decision.choice {
            Choice::Local => "local",
            Choice::Cloud => "cloud",
            Choice::Review => "review",
        };
        let mut reasons = merged.decision.reasons;
        reasons.push(format!("agreement {:.2}", merged.decision.agreement));
        beside.write(
            &shadow,
            decision,
            reasons,
            merged.version.as_deref(),
            started,
        );
    });
}

impl super::Pipeline {
    /// What a shadow of the active decision (record `record`, decision
    /// `active`, read from `inputs`) needs: the same inputs, the request's
    /// plugin snapshot.
    pub(crate) fn beside(
        &self,
        ctx: &super::request::RequestCtx,
        inputs: BTreeMap<String, String>,
        record: String,
        active: &str,
    ) -> Beside {
        let mut base = ctx.entry(Kind::Shadow, "");
        base.inputs = inputs;
        Beside {
            shadows: self.shadows.clone(),
            audit: self.audit.clone(),
            plugins: ctx.plugins.clone(),
            entry: base,
            record,
            active: active.to_string(),
        }
    }
}
