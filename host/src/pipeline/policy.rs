//! A policy file, `policies/<name>.toml`, read and checked: every error
//! names the file, the key and the fix.
//!
//! ```toml
//! pattern = "triage-escalate"   # local | cloud | triage-escalate | parallel-merge | draft-refine
//! description = "Contract review: extract locally, escalate hard cases"
//! schema = "../schemas/contract_triage.json"   # relative to this file
//! prompt = "../schemas/contract_triage.prompt.txt"  # default: the schema's .prompt.txt
//! lang = "es"                   # the anonymiser's language hint
//! task = "contract-review"      # what the router sees as the task
//! sample_rate = 0.2             # parallel-merge: the share also sent to the cloud
//!
//! [cloud]
//! system = "You review contract extractions …"   # the cloud's instructions
//! schema = "../schemas/contract_risk_summary.json"  # what it answers a review in (default: schema)
//! escalate_with = ["fields", "evidence"]  # what leaves on escalation (default: ["fields"])
//! evidence_share = 0.10         # evidence: at most this share of the document's bytes
//!
//! [router]                      # plugin tables: see plugins::settings
//! plugin = "complexity-router"
//! [anonymiser]
//! plugin = "pii-detector"
//! [merger]
//! plugin = "confidence-merge"
//!
//! [budget]
//! cloud_usd_per_day = 5.0
//!
//! [privacy]
//! restore_secrets = false       # put credentials back into answers (default: never)
//! local_tool_calls = false      # keep requests with tools or tool results local
//!
//! [limits]
//! max_document_kib = 512
//! timeout_ms = 120000
//!
//! [extract]                     # how uploaded files are read: see documents::settings
//! deadline_ms = 10000
//!
//! [shadow.router]               # asked beside the router, never acted on: see pipeline::shadow
//! plugin = "strict-router"
//!
//! [audit]
//! record_inputs = false         # keep the router's input, pseudonymised, for `sluice replay`
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::calibration::Calibration;
use crate::documents::Extraction;
use crate::documents::settings::ExtractTable;
use crate::local::triage::TriageStage;
use crate::plugins::sandbox::CallSettings;
use crate::plugins::settings::PluginSettings;

/// How a policy runs a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// The local model alone.
    Local,
    /// The cloud alone, on the anonymised document.
    Cloud,
    /// Local extraction; the router may escalate the anonymised extraction.
    TriageEscalate,
    /// Local always; local and cloud together on a sampled share, merged.
    ParallelMerge,
    /// A local draft, refined by the cloud from its anonymised text.
    DraftRefine,
}

impl Pattern {
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Local => "local",
            Pattern::Cloud => "cloud",
            Pattern::TriageEscalate => "triage-escalate",
            Pattern::ParallelMerge => "parallel-merge",
            Pattern::DraftRefine => "draft-refine",
        }
    }

    pub fn uses_cloud(self) -> bool {
        self != Pattern::Local
    }

    pub fn uses_local(self) -> bool {
        self != Pattern::Cloud
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    pattern: Pattern,
    #[serde(default)]
    description: String,
    schema: Option<PathBuf>,
    prompt: Option<PathBuf>,
    #[serde(default = "default_lang")]
    lang: String,
    #[serde(default)]
    task: String,
    sample_rate: Option<f64>,
    #[serde(default)]
    cloud: CloudStage,
    router: Option<PluginSettings>,
    anonymiser: Option<PluginSettings>,
    merger: Option<PluginSettings>,
    #[serde(default)]
    budget: Budget,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    privacy: Privacy,
    #[serde(default)]
    extract: ExtractTable,
    #[serde(default)]
    shadow: ShadowTables,
    #[serde(default)]
    audit: AuditTable,
}

/// `[audit]`: what the audit log keeps beyond digests.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditTable {
    /// Keep each route record's whole input, pseudonymised, for `sluice replay`.
    #[serde(default)]
    pub record_inputs: bool,
}

/// `[shadow.router]` and `[shadow.merger]`: plugins asked beside the active
/// ones and never acted on (see `pipeline::shadow`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowTables {
    pub router: Option<PluginSettings>,
    pub merger: Option<PluginSettings>,
}

fn default_lang() -> String {
    "es".into()
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudStage {
    /// The cloud's instructions; each pattern has a default.
    pub system: Option<String>,
    /// The schema the cloud answers in when it reviews a local record
    /// (triage-escalate, draft-refine); by default the policy's own.
    pub schema: Option<PathBuf>,
    /// What leaves the machine with a reviewed record: `fields` (the
    /// pseudonymised record, always) and `evidence` (the passages the
    /// doubtful fields rest on, pseudonymised).
    pub escalate_with: Option<Vec<String>>,
    /// With evidence, the most of the document's bytes that may go.
    pub evidence_share: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Cloud spend allowed per UTC day; unset means no limit.
    pub cloud_usd_per_day: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Privacy {
    /// Whether credentials (`[SECRET_N]`) are put back into answers.
    #[serde(default)]
    pub restore_secrets: bool,
    /// Whether requests with tools or tool results stay on the local model.
    #[serde(default)]
    pub local_tool_calls: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_document_kib: u64,
    pub timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_kib: 512,
            timeout_ms: 120_000,
        }
    }
}

/// A plugin a policy names, with the settings of every call to it.
#[derive(Debug, Clone)]
pub struct PluginUse {
    pub name: String,
    pub settings: CallSettings,
}

/// A checked policy, ready to run.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub file: PathBuf,
    /// The sha256 of the file (and of its calibration file, when there is
    /// one): which version decided, in the audit log.
    pub sha256: String,
    /// Per-field calibration of the local model's confidence
    /// (`<name>.calibration.json` beside the file).
    pub calibration: Option<Arc<Calibration>>,
    pub pattern: Pattern,
    pub description: String,
    pub schema: Option<Schema>,
    /// The local few-shot prompt (with `{document}`), for patterns that run
    /// the local model.
    pub prompt: Option<String>,
    /// The local model's schema-constrained stage (schema + prompt).
    pub local_stage: Option<Arc<TriageStage>>,
    pub lang: String,
    pub task: String,
    pub sample_rate: f64,
    pub cloud_system: String,
    /// The policy's own `[cloud] system`, if it has one: the first turn a
    /// conversation sends.
    pub instructions: Option<String>,
    /// What the cloud answers a review of a local record in (`[cloud] schema`, else `schema`).
    pub review_schema: Option<Schema>,
    /// With evidence, the share of the document's bytes that may go
    /// (`[cloud] escalate_with` names `evidence`); `None`: the record alone.
    pub evidence_share: Option<f64>,
    pub router: Option<PluginUse>,
    pub anonymiser: Option<PluginUse>,
    pub merger: Option<PluginUse>,
    pub budget_usd_per_day: Option<f64>,
    pub max_document_bytes: usize,
    pub timeout: Duration,
    /// Whether credentials are restored in answers (`[privacy]`).
    pub restore_secrets: bool,
    /// Requests with tools or tool results are answered locally
    /// (`[privacy] local_tool_calls`).
    pub local_tool_calls: bool,
    /// How uploaded files become text (`[extract]`).
    pub extraction: Extraction,
    /// Asked beside the router and the merger, never acted on (`[shadow]`).
    pub shadow_router: Option<PluginUse>,
    pub shadow_merger: Option<PluginUse>,
    /// Route records keep the router's input, pseudonymised (`[audit] record_inputs`).
    pub record_inputs: bool,
}

/// A policy's JSON schema, compiled.
#[derive(Debug, Clone)]
pub struct Schema {
    pub path: PathBuf,
    pub value: Value,
    pub validator: Arc<jsonschema::Validator>,
}

impl Schema {
    /// The schema's name for `response_format`: its file stem.
    pub fn name(&self) -> String {
        self.path
            .file_stem()
            .map_or("answer".into(), |s| s.to_string_lossy().into_owned())
    }

    /// Every way `value` breaks the schema, one line each: where, and which
    /// keyword of the schema it fails, never the value itself (these lines
    /// go back to the cloud in a repair request, into degraded reasons and
    /// the audit log, and the value may be a re-identified one).
    pub fn errors(&self, value: &Value) -> Vec<String> {
        self.validator
            .iter_errors(value)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!(
                    "at {}: fails `{}` (schema {})",
                    if at.is_empty() { "/" } else { &at },
                    e.kind().keyword(),
                    e.schema_path()
                )
            })
            .collect()
    }
}

/// A policy file that cannot be used, and what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {key}: {problem}; fix: {fix}")]
pub struct PolicyError {
    pub file: String,
    pub key: String,
    pub problem: String,
    pub fix: String,
}

/// The policy's name for a file: `contract-triage.toml` → `contract-triage`.
pub fn policy_name(path: &Path) -> Option<String> {
    if path.extension()? != "toml" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let valid = !stem.is_empty()
        && stem
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    valid.then(|| stem.to_string())
}

const DEFAULT_TRIAGE_SYSTEM: &str = "You review a structured extraction made by a smaller model. Personal data has been replaced by placeholders such as [PERSON_1]; keep every placeholder exactly as written. Correct what is wrong or missing and answer with the full record in the same JSON schema.";
const DEFAULT_REFINE_SYSTEM: &str = "You refine a draft written by a smaller model. Personal data has been replaced by placeholders such as [PERSON_1]; keep every placeholder exactly as written. Check the draft's reasoning, fix what is wrong, and answer in the JSON schema.";
const DEFAULT_DOCUMENT_SYSTEM: &str = "Personal data in the document has been replaced by placeholders such as [PERSON_1]; keep every placeholder exactly as written in your answer.";

impl Policy {
    /// Read and check one policy file (and the calibration beside it).
    pub fn load(path: &Path, defaults: &CallSettings) -> Result<Policy, PolicyError> {
        Self::read(path, defaults, true)
    }

    /// The same, leaving any calibration beside it unread: for fitting a
    /// new one, which an old or broken file must not stop.
    pub fn load_uncalibrated(path: &Path, defaults: &CallSettings) -> Result<Policy, PolicyError> {
        Self::read(path, defaults, false)
    }

    fn read(path: &Path, defaults: &CallSettings, calibrated: bool) -> Result<Policy, PolicyError> {
        let shown = path.display().to_string();
        let fail = |key: &str, problem: String, fix: &str| PolicyError {
            file: shown.clone(),
            key: key.to_string(),
            problem,
            fix: fix.to_string(),
        };
        let name = policy_name(path).ok_or_else(|| {
            fail(
                "(file name)",
                "a policy file is named <name>.toml, the name in lower-case letters, digits and dashes".into(),
                "rename the file, for example contract-triage.toml",
            )
        })?;
        let bytes = std::fs::read(path).map_err(|e| {
            fail(
                "(file)",
                format!("cannot be read: {e}"),
                "check the file exists and is readable",
            )
        })?;
        // A calibration beside the file is part of the policy's version.
        let calibration_path = Calibration::path_for(path);
        let beside = calibrated.then(|| std::fs::read(&calibration_path));
        let (sha256, calibration) = match beside {
            Some(Ok(calibration_bytes)) => {
                let text = String::from_utf8_lossy(&calibration_bytes);
                let calibration = Calibration::parse(&text).map_err(|problem| {
                    fail(
                        "calibration",
                        format!("{}: {problem}", calibration_path.display()),
                        "run `sluice calibrate` again, or remove the file",
                    )
                })?;
                let both = [bytes.as_slice(), calibration_bytes.as_slice()].concat();
                (crate::audit::digest(&both), Some(Arc::new(calibration)))
            }
            _ => (crate::audit::digest(&bytes), None),
        };
        let text = String::from_utf8(bytes).map_err(|_| {
            fail(
                "(file)",
                "is not UTF-8 text".into(),
                "save the file as UTF-8",
            )
        })?;
        let file: File = toml::from_str(&text).map_err(|e| {
            let key = e
                .span()
                .map(|span| text[span].trim().to_string())
                .filter(|k| !k.is_empty() && k.len() < 60)
                .unwrap_or_else(|| "(syntax)".into());
            fail(
                &key,
                e.message().to_string(),
                "see the example at the top of docs/policies.md",
            )
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let pattern = file.pattern;

        let schema = match &file.schema {
            Some(relative) => Some(load_schema(&base.join(relative)).map_err(|problem| {
                fail(
                    "schema",
                    problem,
                    "point schema at a JSON Schema file, relative to the policy file",
                )
            })?),
            None if matches!(
                pattern,
                Pattern::TriageEscalate | Pattern::ParallelMerge | Pattern::DraftRefine
            ) =>
            {
                return Err(fail(
                    "schema",
                    format!(
                        "the {} pattern answers in a JSON schema, and none is named",
                        pattern.name()
                    ),
                    "add schema = \"../schemas/<name>.json\"",
                ));
            }
            None => None,
        };

        let prompt = if pattern.uses_local() {
            let prompt_path = match (&file.prompt, &schema) {
                (Some(p), _) => Some(base.join(p)),
                (None, Some(s)) => Some(crate::local::triage::prompt_path(&s.path)),
                (None, None) => None,
            };
            match prompt_path {
                Some(p) => {
                    let prompt = std::fs::read_to_string(&p).map_err(|e| {
                        fail(
                            "prompt",
                            format!("cannot read {}: {e}", p.display()),
                            "point prompt at the few-shot prompt file, relative to the policy file",
                        )
                    })?;
                    if !prompt.contains("{document}") {
                        return Err(fail(
                            "prompt",
                            format!("{} has no {{document}} placeholder", p.display()),
                            "mark where the document goes with {document}",
                        ));
                    }
                    Some(prompt)
                }
                None => None,
            }
        } else {
            if file.prompt.is_some() {
                return Err(fail(
                    "prompt",
                    "the cloud pattern runs no local model".into(),
                    "remove prompt",
                ));
            }
            None
        };

        let plugin = |key: &str,
                      table: &Option<PluginSettings>,
                      needed: bool,
                      example: &str|
         -> Result<Option<PluginUse>, PolicyError> {
            match table {
                Some(settings) => {
                    let call = settings.call_settings(defaults).map_err(|e| {
                        fail(
                            &format!("{key}.{}", e.key),
                            e.problem.clone(),
                            "use a value in the range given",
                        )
                    })?;
                    Ok(Some(PluginUse {
                        name: settings.plugin.clone(),
                        settings: call,
                    }))
                }
                None if needed => Err(fail(
                    key,
                    format!("the {} pattern needs a {key}", pattern.name()),
                    &format!("add [{key}] with plugin = \"{example}\""),
                )),
                None => Ok(None),
            }
        };
        let router = plugin(
            "router",
            &file.router,
            pattern == Pattern::TriageEscalate,
            "complexity-router",
        )?;
        let anonymiser = plugin(
            "anonymiser",
            &file.anonymiser,
            pattern.uses_cloud(),
            "pii-detector",
        )?;
        let merger = plugin(
            "merger",
            &file.merger,
            pattern == Pattern::ParallelMerge,
            "confidence-merge",
        )?;

        let shadow_router = plugin("shadow.router", &file.shadow.router, false, "")?;
        let shadow_merger = plugin("shadow.merger", &file.shadow.merger, false, "")?;
        for (key, shadow, active) in [
            ("shadow.router", &shadow_router, &router),
            ("shadow.merger", &shadow_merger, &merger),
        ] {
            if shadow.is_some() && active.is_none() {
                return Err(fail(
                    key,
                    format!(
                        "a shadow stands beside an active plugin, and this {} policy has no [{}]",
                        pattern.name(),
                        &key["shadow.".len()..]
                    ),
                    "remove the shadow, or shadow a policy that has one",
                ));
            }
        }

        if file.audit.record_inputs
            && (anonymiser.is_none() || (router.is_none() && merger.is_none()))
        {
            return Err(fail(
                "audit.record_inputs",
                "recorded inputs are a router's or a merger's, pseudonymised: the policy needs a [router] or a [merger], and an [anonymiser]".into(),
                "add them, or remove record_inputs",
            ));
        }

        let sample_rate = match (pattern, file.sample_rate) {
            (Pattern::ParallelMerge, None) => {
                return Err(fail(
                    "sample_rate",
                    "parallel-merge needs the share of requests also sent to the cloud".into(),
                    "add sample_rate = 0.2 (a number from 0 to 1)",
                ));
            }
            (Pattern::ParallelMerge, Some(r)) if !(0.0..=1.0).contains(&r) => {
                return Err(fail(
                    "sample_rate",
                    format!("{r} is not a share"),
                    "use a number from 0 to 1",
                ));
            }
            (Pattern::ParallelMerge, Some(r)) => r,
            (_, Some(_)) => {
                return Err(fail(
                    "sample_rate",
                    format!(
                        "only parallel-merge samples, and this policy is {}",
                        pattern.name()
                    ),
                    "remove sample_rate",
                ));
            }
            (_, None) => 0.0,
        };
        if let Some(usd) = file.budget.cloud_usd_per_day
            && !(usd >= 0.0 && usd.is_finite())
        {
            return Err(fail(
                "budget.cloud_usd_per_day",
                format!("{usd} is not an amount"),
                "use a number of dollars, 0 or more",
            ));
        }
        if file.limits.max_document_kib == 0 || file.limits.timeout_ms == 0 {
            return Err(fail(
                "limits",
                "a limit of 0 would refuse everything".into(),
                "use a positive number or remove the key",
            ));
        }
        let local_stage = match (&schema, &prompt) {
            (Some(schema), Some(prompt)) => Some(Arc::new(
                TriageStage::with_validator(
                    schema.value.clone(),
                    schema.validator.clone(),
                    prompt.clone(),
                )
                .map_err(|e| {
                    fail(
                        "schema",
                        e.to_string(),
                        "use a schema the local model can be held to",
                    )
                })?,
            )),
            _ => None,
        };
        let review_schema = match &file.cloud.schema {
            None => schema.clone(),
            Some(_) if !matches!(pattern, Pattern::TriageEscalate | Pattern::DraftRefine) => {
                return Err(fail(
                    "cloud.schema",
                    format!(
                        "only a review of a local record answers in its own schema, and this policy is {}",
                        pattern.name()
                    ),
                    "remove cloud.schema",
                ));
            }
            Some(relative) => Some(load_schema(&base.join(relative)).map_err(|problem| {
                fail(
                    "cloud.schema",
                    problem,
                    "point cloud.schema at a JSON Schema file, relative to the policy file",
                )
            })?),
        };
        let evidence_share = evidence_share(&file.cloud, pattern, &fail)?;
        let extraction = Extraction::from_table(&file.extract).map_err(|e| {
            fail(
                &format!("extract.{}", e.key),
                e.problem.clone(),
                "use a value in the range given",
            )
        })?;
        let cloud_system = file.cloud.system.clone().unwrap_or_else(|| {
            match pattern {
                Pattern::TriageEscalate => DEFAULT_TRIAGE_SYSTEM,
                Pattern::DraftRefine => DEFAULT_REFINE_SYSTEM,
                _ => DEFAULT_DOCUMENT_SYSTEM,
            }
            .to_string()
        });
        Ok(Policy {
            name,
            file: path.to_path_buf(),
            sha256,
            calibration,
            pattern,
            description: file.description,
            schema,
            prompt,
            local_stage,
            lang: file.lang,
            task: file.task,
            sample_rate,
            cloud_system,
            instructions: file.cloud.system.clone(),
            review_schema,
            evidence_share,
            router,
            anonymiser,
            merger,
            budget_usd_per_day: file.budget.cloud_usd_per_day,
            max_document_bytes: (file.limits.max_document_kib as usize) << 10,
            timeout: Duration::from_millis(file.limits.timeout_ms),
            restore_secrets: file.privacy.restore_secrets,
            local_tool_calls: file.privacy.local_tool_calls,
            extraction,
            shadow_router,
            shadow_merger,
            record_inputs: file.audit.record_inputs,
        })
    }
}

/// The local model's prompt for a caller's schema: no examples to follow,
/// the constraint does the rest.
const CALLER_SCHEMA_PROMPT: &str = "{document}\n\nThe answer, as JSON:\n";

impl Policy {
    /// This policy answering in the caller's schema (`response_format`):
    /// only a policy without a schema of its own may.
    pub fn answering_in(&self, name: &str, schema: Value) -> Result<Policy, String> {
        if let Some(own) = &self.schema {
            return Err(format!(
                "policy {} answers in its own schema ({}); leave response_format out, or use \
                 a policy without one (such as sluice/local or sluice/cloud)",
                self.name,
                own.name()
            ));
        }
        let validator = Arc::new(
            jsonschema::validator_for(&schema)
                .map_err(|e| format!("response_format.json_schema.schema is not valid: {e}"))?,
        );
        let stage = TriageStage::with_validator(
            schema.clone(),
            validator.clone(),
            CALLER_SCHEMA_PROMPT.into(),
        )
        .map_err(|e| format!("response_format.json_schema.schema: {e}"))?;
        let mut policy = self.clone();
        policy.schema = Some(Schema {
            path: PathBuf::from(format!("{name}.json")),
            value: schema,
            validator,
        });
        policy.local_stage = Some(Arc::new(stage));
        Ok(policy)
    }
}

/// `[cloud] escalate_with` and `evidence_share`, checked.
fn evidence_share(
    cloud: &CloudStage,
    pattern: Pattern,
    fail: &dyn Fn(&str, String, &str) -> PolicyError,
) -> Result<Option<f64>, PolicyError> {
    let with = cloud
        .escalate_with
        .clone()
        .unwrap_or_else(|| vec!["fields".into()]);
    if let Some(other) = with
        .iter()
        .find(|w| !matches!(w.as_str(), "fields" | "evidence"))
    {
        return Err(fail(
            "cloud.escalate_with",
            format!("{other:?} is not something that can leave"),
            "use [\"fields\"] or [\"fields\", \"evidence\"]",
        ));
    }
    if !with.iter().any(|w| w == "fields") {
        return Err(fail(
            "cloud.escalate_with",
            "the record (fields) always goes with an escalation".into(),
            "use [\"fields\"] or [\"fields\", \"evidence\"]",
        ));
    }
    let evidence = with.iter().any(|w| w == "evidence");
    if evidence && !matches!(pattern, Pattern::TriageEscalate | Pattern::DraftRefine) {
        return Err(fail(
            "cloud.escalate_with",
            format!(
                "evidence goes with a reviewed local record, and this policy is {}",
                pattern.name()
            ),
            "remove evidence",
        ));
    }
    match (evidence, cloud.evidence_share) {
        (_, Some(share)) if !(share > 0.0 && share <= 1.0) => Err(fail(
            "cloud.evidence_share",
            format!("{share} is not a share"),
            "use a number above 0 and at most 1, such as 0.1",
        )),
        (false, Some(_)) => Err(fail(
            "cloud.evidence_share",
            "set without evidence in escalate_with".into(),
            "add \"evidence\" to escalate_with, or remove evidence_share",
        )),
        (true, share) => Ok(Some(
            share.unwrap_or(crate::pipeline::escalation::DEFAULT_EVIDENCE_SHARE),
        )),
        (false, None) => Ok(None),
    }
}

fn load_schema(path: &Path) -> Result<Schema, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let validator = jsonschema::validator_for(&value)
        .map_err(|e| format!("{} is not a valid JSON schema: {e}", path.display()))?;
    Ok(Schema {
        path: path.to_path_buf(),
        value,
        validator: Arc::new(validator),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, text: &str) -> Result<Policy, String> {
        let dir = tempfile::tempdir().unwrap();
        let schemas = dir.path().join("schemas");
        std::fs::create_dir(&schemas).unwrap();
        std::fs::write(
            schemas.join("s.json"),
            r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
        )
        .unwrap();
        std::fs::write(schemas.join("s.prompt.txt"), "Example…\n{document}\n").unwrap();
        std::fs::write(schemas.join("bad.json"), r#"{"type": 12}"#).unwrap();
        let policies = dir.path().join("policies");
        std::fs::create_dir(&policies).unwrap();
        let path = policies.join(name);
        std::fs::write(&path, text).unwrap();
        Policy::load(&path, &CallSettings::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn good_policies_load() {
        let p = load(
            "triage.toml",
            "pattern = \"triage-escalate\"\nschema = \"../schemas/s.json\"\n[router]\nplugin = \"complexity-router\"\n[router.config]\nmin_confidence = 0.7\n[anonymiser]\nplugin = \"pii-detector\"\n[budget]\ncloud_usd_per_day = 5",
        )
        .unwrap();
        assert_eq!(
            (p.name.as_str(), p.pattern),
            ("triage", Pattern::TriageEscalate)
        );
        assert!(p.prompt.unwrap().contains("{document}"));
        assert_eq!(
            p.router
                .unwrap()
                .settings
                .config
                .get("min_confidence")
                .unwrap(),
            "0.7"
        );
        assert_eq!(p.budget_usd_per_day, Some(5.0));
        let local = load("local.toml", "pattern = \"local\"").unwrap();
        assert!(local.schema.is_none() && local.prompt.is_none());
        assert_eq!(p.evidence_share, None);
        assert_eq!(p.review_schema.unwrap().path, p.schema.unwrap().path);
    }

    #[test]
    fn escalation_with_evidence_is_checked() {
        let triage = "pattern = \"triage-escalate\"\nschema = \"../schemas/s.json\"\n[router]\nplugin = \"r\"\n[anonymiser]\nplugin = \"p\"\n[cloud]\n";
        let p = load(
            "t.toml",
            &format!(
                "{triage}escalate_with = [\"fields\", \"evidence\"]\nschema = \"../schemas/s.json\""
            ),
        )
        .unwrap();
        assert_eq!(p.evidence_share, Some(0.10));
        assert!(p.review_schema.is_some());
        for (cloud, says) in [
            (
                "escalate_with = [\"evidence\"]",
                "the record (fields) always goes",
            ),
            (
                "escalate_with = [\"fields\", \"document\"]",
                "\"document\" is not something",
            ),
            (
                "escalate_with = [\"fields\", \"evidence\"]\nevidence_share = 1.5",
                "1.5 is not a share",
            ),
            ("evidence_share = 0.2", "set without evidence"),
            ("schema = \"../schemas/bad.json\"", "cloud.schema: "),
        ] {
            let error = load("t.toml", &format!("{triage}{cloud}")).unwrap_err();
            assert!(error.contains(says), "{cloud}: {error}");
        }
        let error = load(
            "c.toml",
            "pattern = \"cloud\"\n[anonymiser]\nplugin = \"p\"\n[cloud]\nescalate_with = [\"fields\", \"evidence\"]",
        )
        .unwrap_err();
        assert!(
            error.contains("evidence goes with a reviewed local record"),
            "{error}"
        );
    }

    #[test]
    fn errors_name_the_file_the_key_and_the_fix() {
        let cases = [
            (
                "a.toml",
                "pattern = \"sideways\"",
                "sideways",
                "unknown variant",
            ),
            (
                "a.toml",
                "pattern = \"local\"\ncolour = 1",
                "colour",
                "unknown field",
            ),
            (
                "a.toml",
                "pattern = \"triage-escalate\"\n[anonymiser]\nplugin=\"p\"",
                ": schema:",
                "add schema =",
            ),
            (
                "a.toml",
                "pattern = \"triage-escalate\"\nschema = \"../schemas/s.json\"\n[anonymiser]\nplugin=\"p\"",
                ": router:",
                "add [router] with plugin = \"complexity-router\"",
            ),
            (
                "a.toml",
                "pattern = \"cloud\"",
                ": anonymiser:",
                "add [anonymiser]",
            ),
            (
                "a.toml",
                "pattern = \"local\"\nschema = \"../schemas/missing.json\"",
                ": schema: cannot read",
                "relative to the policy file",
            ),
            (
                "a.toml",
                "pattern = \"local\"\nschema = \"../schemas/bad.json\"",
                "is not a valid JSON schema",
                "fix:",
            ),
            (
                "a.toml",
                "pattern = \"parallel-merge\"\nschema = \"../schemas/s.json\"\n[anonymiser]\nplugin=\"p\"\n[merger]\nplugin=\"m\"",
                ": sample_rate:",
                "sample_rate = 0.2",
            ),
            (
                "a.toml",
                "pattern = \"parallel-merge\"\nschema = \"../schemas/s.json\"\nsample_rate = 1.5\n[anonymiser]\nplugin=\"p\"\n[merger]\nplugin=\"m\"",
                "1.5 is not a share",
                "from 0 to 1",
            ),
            (
                "a.toml",
                "pattern = \"local\"\nsample_rate = 0.5",
                "only parallel-merge samples",
                "remove sample_rate",
            ),
            (
                "a.toml",
                "pattern = \"cloud\"\n[anonymiser]\nplugin=\"p\"\nmemory_mib = 4096",
                "anonymiser.memory_mib: 4096 is out of range",
                "fix:",
            ),
            (
                "a.toml",
                "pattern = \"local\"\n[budget]\ncloud_usd_per_day = -1",
                "budget.cloud_usd_per_day",
                "0 or more",
            ),
            (
                "Bad Name.toml",
                "pattern = \"local\"",
                "(file name)",
                "rename the file",
            ),
            ("a.toml", "pattern = ", "(syntax)", "fix:"),
        ];
        for (file, text, what, fix) in cases {
            let err = load(file, text).expect_err(text);
            assert!(err.contains(file), "{err}");
            assert!(err.contains(what), "{text}\n→ {err}\nwant {what:?}");
            assert!(err.contains(fix), "{text}\n→ {err}\nwant fix {fix:?}");
        }
    }
}
