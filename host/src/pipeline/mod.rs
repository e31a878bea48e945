//! Policies and the pattern executors: a request comes in with a policy
//! name and a document; the policy's pattern decides which tiers run, the
//! plugins decide where it goes, what is pseudonymised and which answer
//! wins; every decision is audited before the answer leaves.
//!
//! - [`policy`]: a policy file, checked; [`policies`]: the live set,
//!   hot-reloaded.
//! - [`request`]: one request's state: its plugin snapshot, vault, trace and
//!   audit records.
//! - [`stages`]: the local stage (schema-constrained), anonymisation, the
//!   cloud stage (validated, one repair, re-identified).
//! - [`patterns`]: local, cloud, triage-escalate, parallel-merge,
//!   draft-refine; a cloud failure anywhere answers from the local result,
//!   marked degraded.
//! - [`degraded`]: why a fallback answered, typed.
//! - [`budget`]: cloud spend per policy per day; [`divergence`]: where
//!   local and cloud disagree.

pub mod budget;
pub mod degraded;
pub mod divergence;
pub mod escalation;
pub mod intake;
pub mod patterns;
pub mod policies;
pub mod policy;
pub mod request;
pub mod setup;
pub mod shadow;
pub mod signals;
pub mod stages;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::audit::{AuditLog, CloudUsage};
use crate::cloud::CloudClient;
use crate::cloud::ToolCallDelta;
use crate::conversation::{self, Finish, Params, ToolCall, Tools, Turn};
use crate::local::triage::FieldReading;
use crate::local::{LocalError, LocalRuntime};
use crate::plugins::Registry;

pub use budget::Budgets;
pub use degraded::Degraded;
pub use divergence::Divergence;
pub use policies::Policies;
pub use policy::{Pattern, Policy, PolicyError};
pub use request::Step;
pub use setup::{Running, Setup};
pub use stages::LocalUsage;

/// Everything a request may use. Cheap to share (`Arc`).
pub struct Pipeline {
    pub plugins: Arc<Registry>,
    pub policies: Arc<Policies>,
    pub local: LocalRuntime,
    /// `None` in local-only mode.
    pub cloud: Option<Arc<CloudClient>>,
    pub audit: AuditLog,
    pub budgets: Budgets,
    pub divergence: Divergence,
    /// What the policies' shadow plugins would have decided.
    pub shadows: Arc<shadow::Shadows>,
    /// Where traces go (OTLP), when they go anywhere.
    pub telemetry: Option<Arc<crate::telemetry::Telemetry>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

/// A piece of an answer as it is made: text, or a piece of a tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    ToolCall(ToolCallDelta),
}

/// Where an answer's pieces go as they are made.
pub type Deltas = tokio::sync::mpsc::UnboundedSender<Piece>;

/// One conversation (often one document) for one policy.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Chosen by the caller or generated; decides the parallel-merge sample.
    pub id: String,
    pub policy: String,
    /// The caller's turns; a policy that reads a document reads them as
    /// one text ([`Request::document`]).
    pub turns: Vec<Turn>,
    pub params: Params,
    /// The tools the answer may call.
    pub tools: Tools,
    /// Free-form tags the router may read (`hard`, `litigation`).
    pub tags: Vec<String>,
    /// The caller's JSON schema for the answer (`response_format`), for a
    /// policy that has none of its own: `(name, schema)`.
    pub schema: Option<(String, Value)>,
    /// Set to stream: a policy whose answer is free text once it is routed
    /// (`local`, `cloud`) sends the text here as the model writes it, and
    /// stops when the receiver is dropped. Other answers come whole.
    pub deltas: Option<Deltas>,
}

impl Request {
    /// One document from one user turn.
    pub fn document_for(id: &str, policy: &str, document: &str) -> Request {
        Request {
            id: id.to_string(),
            policy: policy.to_string(),
            turns: vec![Turn::user(document)],
            ..Request::default()
        }
    }

    /// What a policy that reads a document reads.
    pub fn document(&self) -> String {
        conversation::document(&self.turns)
    }
}

/// Which tier's answer was returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Local,
    Cloud,
}

/// The answer and how it was reached.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub request_id: String,
    /// The id of the `answer` audit record.
    pub decision_id: String,
    pub policy: String,
    /// Where the policy sent the request: `local`, `escalate`, `parallel`,
    /// `draft-refine`, `cloud`.
    pub route: String,
    pub answered_by: Tier,
    /// Why a fallback answered, when one did.
    pub degraded: Option<Degraded>,
    /// Why a free-text answer ended (a record always ends at its end).
    pub finish: Finish,
    /// The calls the answer makes, when it calls the request's tools.
    pub tool_calls: Vec<ToolCall>,
    /// A merger asked for a person to look.
    pub review: bool,
    /// Valid under the policy's schema (or a JSON string for free text).
    pub result: Value,
    pub confidence: Option<f64>,
    /// Per field of a local record: the model's confidence and the passage
    /// it read the value from; empty when the cloud answered.
    pub fields: BTreeMap<String, FieldReading>,
    pub cloud: CloudUsage,
    pub local: LocalUsage,
    /// Milliseconds per stage (`local`, `cloud`, `router`, `anonymise`,
    /// `merger`, `total`).
    pub latency_ms: BTreeMap<String, f64>,
    pub trace: Vec<Step>,
    /// When the request started and each stage as it happened (its trace spans).
    #[serde(skip)]
    pub started_at: std::time::SystemTime,
    #[serde(skip)]
    pub stages: Vec<crate::telemetry::StageSpan>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("no policy named {name:?}; known policies: {known}")]
    UnknownPolicy { name: String, known: String },
    #[error("the document is {size} bytes; policy {policy} accepts at most {limit}")]
    TooLarge {
        policy: String,
        size: usize,
        limit: usize,
    },
    #[error("the document is empty")]
    Empty,
    /// The caller's `response_format` cannot be used with this policy.
    #[error("{0}")]
    Schema(String),
    #[error(transparent)]
    Local(#[from] LocalError),
    /// Neither tier could answer (a cloud policy whose cloud and local
    /// fallback both failed, or whose anonymiser failed closed).
    #[error("no answer: {0}")]
    Unanswerable(String),
    #[error("the router rejected the request: {0}")]
    Rejected(String),
    #[error("policy {policy} did not answer within {seconds} s")]
    Timeout { policy: String, seconds: u64 },
    /// The audit record could not be written, so no answer may leave.
    #[error("audit log: {0}")]
    Audit(String),
}

impl Pipeline {
    /// Run one request through its policy.
    pub async fn run(&self, request: Request) -> Result<Outcome, PipelineError> {
        let Some(policy) = self.policies.get(&request.policy) else {
            let known: Vec<String> = self.policies.snapshot().keys().cloned().collect();
            return Err(PipelineError::UnknownPolicy {
                name: request.policy,
                known: if known.is_empty() {
                    "none loaded".into()
                } else {
                    known.join(", ")
                },
            });
        };
        let document = request.document();
        if document.trim().is_empty() {
            return Err(PipelineError::Empty);
        }
        if document.len() > policy.max_document_bytes {
            return Err(PipelineError::TooLarge {
                policy: policy.name.clone(),
                size: document.len(),
                limit: policy.max_document_bytes,
            });
        }
        if (policy.schema.is_some() || request.schema.is_some())
            && !request.tools.offered.is_empty()
        {
            return Err(PipelineError::Schema(format!(
                "policy {} answers in a JSON schema, so it cannot call tools: send tools to a free-text policy (local, cloud)",
                policy.name
            )));
        }
        let policy = match &request.schema {
            Some((name, schema)) => Arc::new(
                policy
                    .answering_in(name, schema.clone())
                    .map_err(PipelineError::Schema)?,
            ),
            None => policy,
        };
        let timeout = policy.timeout;
        let started = std::time::SystemTime::now();
        let request_id = request.id.clone();
        let run = patterns::run(self, policy.clone(), request, document);
        let result = tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| PipelineError::Timeout {
                policy: policy.name.clone(),
                seconds: timeout.as_secs(),
            })
            .and_then(|r| r);
        if let Some(telemetry) = &self.telemetry {
            match &result {
                Ok(outcome) => telemetry.answered(outcome, outcome.started_at, &outcome.stages),
                Err(error) => telemetry.failed(&policy.name, &request_id, error.kind(), started),
            }
        }
        result
    }
}

impl PipelineError {
    /// The kind of failure, in a word (for traces: never the message).
    pub fn kind(&self) -> &'static str {
        match self {
            PipelineError::UnknownPolicy { .. } => "unknown_policy",
            PipelineError::TooLarge { .. } => "document_too_large",
            PipelineError::Empty => "empty_document",
            PipelineError::Schema(_) => "schema",
            PipelineError::Local(_) => "local",
            PipelineError::Unanswerable(_) => "unanswerable",
            PipelineError::Rejected(_) => "rejected",
            PipelineError::Timeout { .. } => "timeout",
            PipelineError::Audit(_) => "audit",
        }
    }
}

/// A number in [0, 1) from a request id: the same id always draws the same
/// sample, so a retried request takes the same path.
pub fn sample(request_id: &str) -> f64 {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(request_id.as_bytes());
    let mut top = [0u8; 8];
    top.copy_from_slice(&hash[..8]);
    (u64::from_be_bytes(top) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_are_stable_and_spread() {
        assert_eq!(super::sample("req-1"), super::sample("req-1"));
        let under = (0..10_000)
            .filter(|i| super::sample(&format!("req-{i}")) < 0.2)
            .count();
        assert!((1_800..2_200).contains(&under), "{under}");
    }
}
