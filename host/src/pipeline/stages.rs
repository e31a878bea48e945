//! The stages the patterns are made of: the local model (schema-constrained
//! when the policy has a schema), anonymisation with its audit record, the
//! gate before the cloud (configured, within budget), and the cloud stage
//! (strict JSON schema, validated, one repair, then a failure the caller
//! falls back from).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use crate::audit::{CloudUsage, Entry, Kind, digest};
use crate::cloud::{CloudClient, Format, Message};
use crate::local::constraint::strip_annotations;
use crate::local::evidence::Evidence;
use crate::local::provisions::Found;
use crate::local::triage::FieldReading;
use crate::local::{GenerateRequest, LocalError};
use crate::pipeline::policy::Schema;
use crate::pipeline::request::RequestCtx;
use crate::pipeline::{Pipeline, PipelineError, Policy};
use crate::privacy::outbound::sent_bytes;
use crate::privacy::restore::{restore_json, restore_text};
use crate::privacy::{Anonymiser, Refusal, Vault};

/// What the local model answered.
#[derive(Debug, Clone)]
pub struct LocalAnswer {
    /// The record (valid under the schema), or a JSON string of free text.
    pub value: Value,
    pub confidence: Option<f64>,
    /// Per field of a record: the model's confidence and where it read it.
    pub fields: BTreeMap<String, FieldReading>,
    /// The kinds of clause the document holds (a policy with a schema).
    pub provisions: Found,
    /// Per field with cue phrases, the passages that rank best for it.
    pub ranked: BTreeMap<String, Vec<Evidence>>,
    /// Tokens the local model counted in the document (in the prompt,
    /// without a schema).
    pub document_tokens: usize,
    pub usage: LocalUsage,
    pub ms: f64,
}

/// What the local model read and wrote for a request.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct LocalUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl LocalUsage {
    fn of(generation: &crate::local::Generation) -> LocalUsage {
        LocalUsage {
            prompt_tokens: generation.prompt_tokens as u64,
            completion_tokens: generation.tokens.len() as u64,
        }
    }

    pub fn add(&mut self, other: LocalUsage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// Tokens of free text the local model writes at most.
const MAX_TEXT_TOKENS: usize = 200;

/// One cloud exchange (one call, or two with the repair): the answer,
/// re-identified, or why there is none; and what it cost either way.
pub struct CloudCall {
    pub result: Result<Value, String>,
    pub usage: CloudUsage,
    pub ms: f64,
}

impl Pipeline {
    /// Run the local model on `document` under the policy's schema and
    /// few-shot prompt (free text without a schema).
    pub async fn local_stage(
        &self,
        policy: &Policy,
        document: &str,
    ) -> Result<LocalAnswer, LocalError> {
        let started = Instant::now();
        let document_tokens;
        let usage;
        let mut fields = BTreeMap::new();
        let mut provisions = Found::default();
        let mut ranked = BTreeMap::new();
        let (value, confidence) = match &policy.local_stage {
            Some(stage) => {
                let prepared = stage.request(self.local.tokenizer(), document);
                document_tokens = prepared.document_tokens;
                let generation = self.local.submit(prepared.request)?.finish().await?;
                usage = LocalUsage::of(&generation);
                let triage = stage.finish(generation, prepared.reading)?;
                fields = triage.fields;
                provisions = triage.provisions;
                ranked = triage.ranked;
                if let Some(calibration) = &policy.calibration {
                    for (field, reading) in &mut fields {
                        reading.calibrated =
                            calibration.apply(field, f64::from(reading.confidence.mean));
                    }
                }
                (triage.record, Some(triage.confidence))
            }
            None => {
                let prompt = match &policy.prompt {
                    Some(p) => p.replace("{document}", document.trim()),
                    None => document.to_string(),
                };
                let mut request = GenerateRequest::new(prompt);
                request.max_tokens = MAX_TEXT_TOKENS;
                request.stop = vec!["\n\n".into()];
                let generation = self.local.submit(request)?.finish().await?;
                document_tokens = generation.prompt_tokens;
                usage = LocalUsage::of(&generation);
                let confidence = f64::from(generation.confidence);
                (
                    Value::String(generation.text.trim().to_string()),
                    Some(confidence),
                )
            }
        };
        Ok(LocalAnswer {
            value,
            confidence,
            fields,
            provisions,
            ranked,
            document_tokens,
            usage,
            ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// The cloud, if this request may use it now; else why not (a budget
    /// refusal is audited).
    pub fn cloud_gate(&self, ctx: &mut RequestCtx) -> Result<std::sync::Arc<CloudClient>, String> {
        let Some(cloud) = &self.cloud else {
            return Err("local-only mode: no cloud is configured (set OPENAI_API_KEY)".into());
        };
        if let Some(reason) = self.over_budget(ctx).map_err(|e| e.to_string())? {
            return Err(reason);
        }
        Ok(cloud.clone())
    }

    /// Whether the policy has spent today's cloud budget; if so, the
    /// decision to stay local is audited and its reason returned.
    pub fn over_budget(&self, ctx: &mut RequestCtx) -> Result<Option<String>, PipelineError> {
        let policy = &ctx.policy;
        if self.budgets.left(&policy.name, policy.budget_usd_per_day) > 0.0 {
            return Ok(None);
        }
        let reason = format!(
            "policy {} is over its cloud budget: ${:.4} spent of ${:.2} today",
            policy.name,
            self.budgets.spent(&policy.name),
            policy.budget_usd_per_day.unwrap_or_default()
        );
        let entry = ctx.entry(Kind::Budget, "local").reasons([reason.clone()]);
        ctx.decide("budget", entry, 0.0)?;
        Ok(Some(reason))
    }

    fn anonymiser<'a>(&self, ctx: &'a RequestCtx) -> Option<Anonymiser<'a>> {
        let using = ctx.policy.anonymiser.as_ref()?;
        Some(Anonymiser {
            plugins: &ctx.plugins,
            plugin: &using.name,
            settings: &using.settings,
            lang: &ctx.policy.lang,
        })
    }

    /// Pseudonymise `value` (schema marks, then the detector) and audit it.
    pub async fn anonymise_json(
        &self,
        ctx: &mut RequestCtx,
        value: &Value,
    ) -> Result<Value, PipelineError> {
        let started = Instant::now();
        let schema = ctx
            .policy
            .schema
            .as_ref()
            .map_or(Value::Null, |s| s.value.clone());
        let mut vault = std::mem::take(&mut ctx.vault);
        let result = match self.anonymiser(ctx) {
            Some(a) => a.json(&mut vault, value, &schema).await,
            None => Err(missing_anonymiser(ctx)),
        };
        ctx.vault = vault;
        self.audit_anonymise(
            ctx,
            started,
            serde_json::to_vec(value).unwrap_or_default(),
            result,
        )
    }

    /// Pseudonymise free text and audit it.
    pub async fn anonymise_text(
        &self,
        ctx: &mut RequestCtx,
        text: &str,
    ) -> Result<String, PipelineError> {
        let started = Instant::now();
        let mut vault = std::mem::take(&mut ctx.vault);
        let result = match self.anonymiser(ctx) {
            Some(a) => a.text(&mut vault, text).await,
            None => Err(missing_anonymiser(ctx)),
        };
        ctx.vault = vault;
        self.audit_anonymise(ctx, started, text.as_bytes().to_vec(), result)
    }

    fn audit_anonymise<T>(
        &self,
        ctx: &mut RequestCtx,
        started: Instant,
        input: Vec<u8>,
        result: Result<T, Refusal>,
    ) -> Result<T, PipelineError> {
        let ms = ctx.timed("anonymise", started);
        let using = ctx.policy.anonymiser.as_ref();
        let name = using.map_or("(none)", |u| u.name.as_str()).to_string();
        let version = ctx.plugins.get(&name).map(|p| p.sha256.clone());
        let mut entry = match &result {
            Ok(_) => ctx.entry(Kind::Anonymise, "pseudonymised"),
            Err(refusal) => ctx
                .entry(Kind::Anonymise, "refused")
                .reasons([format!("{refusal}")]),
        }
        .plugin(&name, version.as_deref());
        entry.inputs.insert("text".into(), digest(&input));
        entry.pseudonyms = ctx.pseudonym_counts();
        ctx.decide("anonymise", entry, ms)?;
        result.map_err(|refusal| PipelineError::Unanswerable(refusal.to_string()))
    }

    /// Ask the cloud for a record valid under `schema` (the policy's, or its
    /// review schema) from pseudonymised `user` text. The answer is re-identified through
    /// `vault`, then validated: a placeholder cannot meet a field's format
    /// (a date pattern), the value it stands for can. One repair if it does
    /// not validate.
    pub async fn cloud_json(
        &self,
        cloud: &CloudClient,
        policy: &Policy,
        schema: Option<&Schema>,
        user: String,
        vault: &Vault,
    ) -> CloudCall {
        let started = Instant::now();
        let mut usage = CloudUsage::default();
        let result = match schema {
            Some(schema) => ask_json(cloud, policy, schema, user, vault, &mut usage).await,
            None => Err(format!("policy {} has no schema", policy.name)),
        };
        CloudCall {
            result,
            usage,
            ms: started.elapsed().as_secs_f64() * 1e3,
        }
    }

    /// Ask the cloud for free text from pseudonymised `user` text; the
    /// answer re-identified.
    pub async fn cloud_text(
        &self,
        cloud: &CloudClient,
        policy: &Policy,
        user: String,
        vault: &Vault,
    ) -> CloudCall {
        let started = Instant::now();
        let mut usage = CloudUsage::default();
        let messages = [
            Message::System(policy.cloud_system.clone()),
            Message::User(user),
        ];
        let result = call(cloud, &messages, Format::Text, &mut usage)
            .await
            .map(|text| Value::String(restore_text(vault, &text).text));
        CloudCall {
            result,
            usage,
            ms: started.elapsed().as_secs_f64() * 1e3,
        }
    }

    /// Account a cloud exchange to the request and the policy's budget.
    pub fn account(&self, ctx: &mut RequestCtx, call: &CloudCall) {
        let usage = &call.usage;
        ctx.cloud.bytes += usage.bytes;
        ctx.cloud.prompt_tokens += usage.prompt_tokens;
        ctx.cloud.completion_tokens += usage.completion_tokens;
        ctx.cloud.cost_usd += usage.cost_usd;
        ctx.cloud.calls += usage.calls;
        *ctx.latency_ms.entry("cloud".into()).or_default() += call.ms;
        if usage.calls > 0 {
            ctx.used("cloud");
        }
        self.budgets.charge(&ctx.policy.name, usage.cost_usd);
    }
}

fn missing_anonymiser(ctx: &RequestCtx) -> Refusal {
    crate::plugins::failure::FailClosed(crate::plugins::failure::FallbackReason {
        plugin: format!("(policy {} names no anonymiser)", ctx.policy.name),
        error: crate::plugins::PluginError::Missing,
    })
}

async fn call(
    cloud: &CloudClient,
    messages: &[Message],
    format: Format<'_>,
    usage: &mut CloudUsage,
) -> Result<String, String> {
    usage.bytes += sent_bytes(messages) as u64;
    usage.calls += 1;
    let reply = cloud
        .complete(messages, format)
        .await
        .map_err(|e| e.to_string())?;
    usage.prompt_tokens += u64::from(reply.prompt_tokens);
    usage.completion_tokens += u64::from(reply.completion_tokens);
    usage.cost_usd += reply.cost_usd.unwrap_or(0.0);
    Ok(reply.content)
}

async fn ask_json(
    cloud: &CloudClient,
    policy: &Policy,
    schema: &Schema,
    user: String,
    vault: &Vault,
    usage: &mut CloudUsage,
) -> Result<Value, String> {
    let mut strict = schema.value.clone();
    strip_annotations(&mut strict);
    let name = schema.name();
    let format = || Format::JsonSchema {
        name: &name,
        schema: &strict,
    };
    let mut messages = vec![
        Message::System(policy.cloud_system.clone()),
        Message::User(user),
    ];
    let first = call(cloud, &messages, format(), usage).await?;
    let problems = match check(schema, vault, &first) {
        Ok(value) => return Ok(value),
        Err(problems) => problems,
    };
    tracing::info!("cloud answer invalid ({problems}); asking once for a repair");
    messages.push(Message::Assistant(first));
    messages.push(Message::User(format!(
        "That answer does not match the JSON schema: {problems}. Answer again with the whole record, valid under the schema."
    )));
    let second = call(cloud, &messages, format(), usage).await?;
    check(schema, vault, &second)
        .map_err(|p| format!("the cloud's answer did not match the schema after one repair: {p}"))
}

/// Parse, re-identify and validate a cloud answer; the problems, joined,
/// when it fails.
fn check(schema: &Schema, vault: &Vault, text: &str) -> Result<Value, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    let (value, _) = restore_json(vault, &value);
    let errors = schema.errors(&value);
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors.join("; "))
    }
}

/// An audit entry for a fallback: the local answer stands, and why.
pub fn fallback_entry(ctx: &RequestCtx, reason: &str) -> Entry {
    ctx.entry(Kind::Fallback, "local")
        .reasons([reason.to_string()])
}
