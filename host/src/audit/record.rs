//! One audit line. The caller fills an [`Entry`]; the log wraps it in a
//! [`Record`] with the chain fields (`seq`, `id`, `time`, `prev`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What kind of decision a record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Where a request went (router plugin, sample, or the pattern itself).
    Route,
    /// What was pseudonymised before text left (counts per kind, detector).
    Anonymise,
    /// A merger's choice between the local and the cloud answer.
    Merge,
    /// A stage failed and the answer came from a fallback (degraded).
    Fallback,
    /// A policy over its cloud budget was kept local.
    Budget,
    /// What a shadow plugin would have decided beside the active one; never acted on.
    Shadow,
    /// What was answered: route, tiers, bytes, tokens, cost, latencies.
    Answer,
    /// A document read into text (its type, size, pages, extractor) or
    /// refused, and why.
    Extract,
    /// A reviewer's verdict on a request's answer: right, or wrong in the
    /// fields named; what replay scores a candidate's escalations against.
    Label,
    /// A plugin or policy file was loaded, replaced or removed.
    Reload,
    /// A plugin or policy file was refused; the old version kept serving.
    Rejection,
    /// The log itself: a torn last line cut off at open.
    Recovery,
}

impl Kind {
    /// A kind from its name (`route`, `answer`, …), for filters.
    pub fn parse(name: &str) -> Result<Kind, String> {
        serde_json::from_value(serde_json::Value::String(name.into())).map_err(|_| {
            format!(
                "{name:?} is not a record kind; use route, anonymise, merge, fallback, budget, shadow, answer, extract, label, reload, rejection or recovery"
            )
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Route => "route",
            Kind::Anonymise => "anonymise",
            Kind::Merge => "merge",
            Kind::Fallback => "fallback",
            Kind::Budget => "budget",
            Kind::Shadow => "shadow",
            Kind::Answer => "answer",
            Kind::Extract => "extract",
            Kind::Label => "label",
            Kind::Reload => "reload",
            Kind::Rejection => "rejection",
            Kind::Recovery => "recovery",
        }
    }
}

/// A plugin (or policy file) version that took part in a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginRef {
    pub name: String,
    /// The sha256 of the file; none when the plugin was missing.
    pub sha256: Option<String>,
}

/// What one request sent to the cloud, and what it cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CloudUsage {
    /// Bytes of message text that left the machine (pseudonymised).
    pub bytes: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    /// Cloud calls made, retries included.
    pub calls: u32,
}

/// The decision, as the caller describes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub kind: Option<Kind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The decision in one word or phrase (`local`, `escalate`, `cloud`, …).
    pub decision: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginRef>,
    /// Digests (hex sha256) of the inputs the decision read, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
    /// Milliseconds per stage.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub latency_ms: BTreeMap<String, f64>,
    /// `local`, `cloud`: which tiers did work.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<CloudUsage>,
    /// Pseudonyms issued, per kind (`person`: 2); never the values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pseudonyms: BTreeMap<String, u32>,
    /// Per field of a local answer: the model's confidence and where in the
    /// document it read the value (a clause and a byte range); never the value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// A document read into text: what it was and what came of it; never its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentRead>,
    /// For a shadow decision: the active decision it stands beside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadows: Option<Shadowed>,
    /// A router's whole input, pseudonymised, where the policy records
    /// inputs for replay (`[audit] record_inputs`); see `crate::replay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<serde_json::Value>,
}

/// The active decision a shadow decision stands beside.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Shadowed {
    /// The active decision's record id.
    pub record: String,
    /// The active decision.
    pub active: String,
    /// Whether the shadow decided the same.
    pub agrees: bool,
}

/// What reading one document gave, for the audit log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentRead {
    pub media_type: String,
    /// Bytes of the file.
    pub bytes: u64,
    /// Bytes of text extracted, attachments included.
    pub text_bytes: u64,
    pub pages: u32,
    /// Attachments read, and attachments skipped.
    pub attachments: u32,
    pub skipped: u32,
}

impl Entry {
    pub fn new(kind: Kind, decision: impl Into<String>) -> Entry {
        Entry {
            kind: Some(kind),
            decision: decision.into(),
            ..Entry::default()
        }
    }

    pub fn request(mut self, request_id: &str, policy: &str) -> Entry {
        self.request_id = Some(request_id.to_string());
        self.policy = Some(policy.to_string());
        self
    }

    pub fn reasons(mut self, reasons: impl IntoIterator<Item = impl Into<String>>) -> Entry {
        self.reasons.extend(reasons.into_iter().map(Into::into));
        self
    }

    pub fn plugin(mut self, name: &str, sha256: Option<&str>) -> Entry {
        self.plugins.push(PluginRef {
            name: name.to_string(),
            sha256: sha256.map(str::to_string),
        });
        self
    }
}

/// A line of the log: the chain fields, then the entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 1 for the first record of a log, then one more per line.
    pub seq: u64,
    /// Unique id of this decision (the `x-sluice-decision-id` of an answer).
    pub id: String,
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    /// Hex sha256 of the previous line's bytes (without its newline); 64
    /// zeros for the first.
    pub prev: String,
    #[serde(flatten)]
    pub entry: Entry,
}

/// The `prev` of a log's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
