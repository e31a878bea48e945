//! The stages the patterns are made of: the local model (schema-constrained
//! when the policy has a schema), anonymisation with its audit record, the
//! gate before the cloud (configured, within budget), and the cloud stage
//! (strict JSON schema, validated, one repair, then a failure the caller
//! falls back from).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};

use futures::StreamExt;

use crate::audit::{CloudUsage, Entry, Kind, digest};
use crate::cloud::ToolCallDelta;
use crate::cloud::{CloudClient, Format, Reply};
use crate::conversation::{Finish, Params, Role, ToolCall, Turn};
use crate::local::constraint::strip_annotations;
use crate::local::evidence::Evidence;
use crate::local::generate::FinishReason;
use crate::local::model::ModelInfo;
use crate::local::provisions::Found;
use crate::local::tokenizer::Tokenizer;
use crate::local::triage::FieldReading;
use crate::local::{GenerateRequest, Generation, LocalError, Pending, Sampling, chat, tool_calls};
use crate::pipeline::policy::{Pattern, Schema};
use crate::pipeline::request::RequestCtx;
use crate::pipeline::{Degraded, Deltas, Piece, Pipeline, PipelineError, Policy, Request};
use crate::plugins::contract::{Candidate, RouteContext};
use crate::privacy::outbound::{self, Draft, Outbound};
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
    pub finish: Finish,
    /// Calls of the request's tools, when the answer makes them.
    pub tool_calls: Vec<ToolCall>,
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

/// Tokens of free text the local model writes when the caller sets no
/// `max_tokens`.
const MAX_TEXT_TOKENS: usize = 200;

/// Tokens of a tool call (or its text) when the caller sets no
/// `max_tokens`.
const MAX_CALL_TOKENS: usize = 256;

/// One cloud exchange (one call, or two with the repair): the answer,
/// re-identified, or why there is none; and what it cost either way.
pub struct CloudCall {
    pub result: Result<Value, Degraded>,
    /// The text already streamed to the caller when a stream failed.
    pub sent: String,
    pub finish: Finish,
    /// Calls of the request's tools, re-identified.
    pub tool_calls: Vec<ToolCall>,
    pub usage: CloudUsage,
    pub ms: f64,
}

impl Pipeline {
    /// Run the local model on `document` under the policy's schema and
    /// few-shot prompt; without a schema, on the policy's prompt or the
    /// conversation framed as a dialogue, under the caller's parameters,
    /// streamed to `request.deltas` when set (a schema's record too, on a
    /// local policy, when the host adds nothing to it).
    pub async fn local_stage(
        &self,
        policy: &Policy,
        request: &Request,
        document: &str,
    ) -> Result<LocalAnswer, LocalError> {
        let started = Instant::now();
        let document_tokens;
        let usage;
        let mut finish;
        let mut tool_calls = Vec::new();
        let mut fields = BTreeMap::new();
        let mut provisions = Found::default();
        let mut ranked = BTreeMap::new();
        let (value, confidence) = match &policy.local_stage {
            Some(stage) => {
                let prepared = stage.request(self.local.tokenizer(), document);
                document_tokens = prepared.document_tokens;
                // A local policy's record is its answer: where the record is
                // the text as generated, it streams as it is made.
                let generation = match &request.deltas {
                    Some(deltas)
                        if policy.pattern == Pattern::Local && stage.writes_as_generated() =>
                    {
                        streamed(self.local.submit_streaming(prepared.request)?, deltas).await?
                    }
                    _ => self.local.submit(prepared.request)?.finish().await?,
                };
                usage = LocalUsage::of(&generation);
                finish = Finish::Stop;
                let triage = stage.finish(generation, prepared.reading)?;
                fields = triage.fields;
                provisions = triage.provisions;
                ranked = triage.ranked;
                if let Some(calibration) = &policy.calibration {
                    for (field, reading) in &mut fields {
                        reading.calibrated = calibration.apply(
                            field,
                            reading.basis,
                            f64::from(reading.confidence.mean),
                        );
                    }
                }
                (triage.record, Some(triage.confidence))
            }
            None => {
                let generate = text_request(
                    policy,
                    request,
                    document,
                    self.local.info(),
                    self.local.tokenizer(),
                );
                let calls = request.tools.callable() && policy.prompt.is_none();
                let generation = match &request.deltas {
                    Some(deltas) if !calls => {
                        streamed(self.local.submit_streaming(generate)?, deltas).await?
                    }
                    _ => self.local.submit(generate)?.finish().await?,
                };
                document_tokens = generation.prompt_tokens;
                usage = LocalUsage::of(&generation);
                finish = match generation.finish {
                    FinishReason::Stop => Finish::Stop,
                    FinishReason::Length => Finish::Length,
                };
                let confidence = f64::from(generation.confidence);
                let text = if calls {
                    let (text, made) = called(&generation, request)?;
                    if let Some(deltas) = &request.deltas {
                        // Sent whole: a call is JSON until it is complete.
                        let pieces = made
                            .iter()
                            .enumerate()
                            .map(|(index, call)| {
                                Piece::ToolCall(ToolCallDelta {
                                    index: index as u32,
                                    id: Some(call.id.clone()),
                                    name: Some(call.name.clone()),
                                    arguments: call.arguments.clone(),
                                })
                            })
                            .chain((!text.is_empty()).then(|| Piece::Text(text.clone())));
                        for piece in pieces {
                            if deltas.send(piece).is_err() {
                                return Err(LocalError::Cancelled);
                            }
                        }
                    }
                    if !made.is_empty() {
                        finish = Finish::ToolCalls;
                    }
                    tool_calls = made;
                    text
                } else {
                    generation.text.trim().to_string()
                };
                (Value::String(text), Some(confidence))
            }
        };
        Ok(LocalAnswer {
            value,
            confidence,
            fields,
            provisions,
            ranked,
            document_tokens,
            finish,
            tool_calls,
            usage,
            ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// The cloud, if this request may use it now; else why not (a budget
    /// refusal is audited).
    pub fn cloud_gate(
        &self,
        ctx: &mut RequestCtx,
    ) -> Result<std::sync::Arc<CloudClient>, Degraded> {
        let Some(cloud) = &self.cloud else {
            return Err(Degraded::NoCloud);
        };
        match self.over_budget(ctx) {
            Ok(None) => {}
            Ok(Some(reason)) => return Err(Degraded::OverBudget(reason)),
            Err(e) => return Err(Degraded::Refused(e.to_string())),
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

    /// Values as the audit log may keep them for replay: each through the
    /// anonymiser with the request's vault, the policy schema's marked
    /// fields whole where `schema` is set, as a cloud call would send them.
    /// `None` when the anonymiser cannot: nothing is kept then.
    async fn recorded(&self, ctx: &mut RequestCtx, values: &[(Value, bool)]) -> Option<Vec<Value>> {
        let mut vault = std::mem::take(&mut ctx.vault);
        let recorded = async {
            let anonymiser = self.anonymiser(ctx)?;
            let none = json!({});
            let schema = ctx.policy.schema.as_ref().map_or(&none, |s| &s.value);
            let mut out = Vec::with_capacity(values.len());
            for (value, marked) in values {
                let schema = if *marked { schema } else { &none };
                out.push(anonymiser.json(&mut vault, value, schema).await.ok()?);
            }
            Some(out)
        }
        .await;
        ctx.vault = vault;
        recorded
    }

    /// A router's input for replay: its triage and its tags pseudonymised.
    pub async fn recorded_route(
        &self,
        ctx: &mut RequestCtx,
        route: &RouteContext,
    ) -> Option<Value> {
        let triage = route
            .triage_json
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or(Value::Null);
        let [triage, tags]: [Value; 2] = self
            .recorded(ctx, &[(triage, true), (json!(route.tags), false)])
            .await?
            .try_into()
            .ok()?;
        Some(crate::replay::record_route(route, triage, tags))
    }

    /// A merger's input for replay: both candidates pseudonymised.
    pub async fn recorded_merge(
        &self,
        ctx: &mut RequestCtx,
        local: &Candidate,
        cloud: &Candidate,
    ) -> Option<Value> {
        let values = [
            (serde_json::from_str(&local.json).ok()?, true),
            (serde_json::from_str(&cloud.json).ok()?, true),
        ];
        let [local_json, cloud_json]: [Value; 2] =
            self.recorded(ctx, &values).await?.try_into().ok()?;
        Some(json!({
            "local": crate::replay::record_candidate(local, local_json),
            "cloud": crate::replay::record_candidate(cloud, cloud_json),
        }))
    }

    /// Pseudonymise `drafts` into what may leave the machine, and audit
    /// it; a refusal (or an anonymiser the policy lacks) sends nothing.
    pub async fn seal(
        &self,
        ctx: &mut RequestCtx,
        drafts: &[Draft<'_>],
    ) -> Result<Outbound, Degraded> {
        let started = Instant::now();
        let mut vault = std::mem::take(&mut ctx.vault);
        let result = match self.anonymiser(ctx) {
            Some(a) => a.outbound(&mut vault, drafts).await,
            None => Err(missing_anonymiser(ctx)),
        };
        ctx.vault = vault;
        let input: Vec<u8> = drafts
            .iter()
            .flat_map(|d| match d.says {
                outbound::Says::Text(text) => text.as_bytes().to_vec(),
                outbound::Says::Record { value, .. } => {
                    serde_json::to_vec(value).unwrap_or_default()
                }
            })
            .collect();
        self.audit_anonymise(ctx, started, input, result)
            .map_err(|e| Degraded::Refused(e.to_string()))
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
    /// review schema) with `outbound`. The answer is re-identified, then
    /// validated: a placeholder cannot meet a field's format (a date
    /// pattern), the value it stands for can. One repair if it does not
    /// validate; the repair request is pseudonymised like the rest.
    pub async fn cloud_json(
        &self,
        ctx: &mut RequestCtx,
        cloud: &CloudClient,
        schema: Option<&Schema>,
        outbound: Outbound,
    ) -> CloudCall {
        let started = Instant::now();
        let mut usage = CloudUsage::default();
        let result = match schema {
            Some(schema) => {
                let mut vault = std::mem::take(&mut ctx.vault);
                let anonymiser = self.anonymiser(ctx);
                let result =
                    ask_json(cloud, anonymiser, &mut vault, schema, outbound, &mut usage).await;
                ctx.vault = vault;
                result
            }
            None => Err(Degraded::Invalid(format!(
                "policy {} has no schema",
                ctx.policy.name
            ))),
        };
        CloudCall {
            result,
            sent: String::new(),
            finish: Finish::Stop,
            tool_calls: Vec::new(),
            usage,
            ms: started.elapsed().as_secs_f64() * 1e3,
        }
    }

    /// Ask the cloud for free text with `outbound`, under the caller's
    /// parameters; the answer re-identified, streamed to `deltas` when set.
    /// A stream that fails before its first byte is a failure like any
    /// other; one that fails later keeps what was sent.
    pub async fn cloud_text(
        &self,
        ctx: &RequestCtx,
        cloud: &CloudClient,
        outbound: &Outbound,
        params: &Params,
        deltas: Option<&Deltas>,
    ) -> CloudCall {
        let started = Instant::now();
        let mut usage = CloudUsage {
            bytes: outbound.bytes() as u64,
            calls: 1,
            ..CloudUsage::default()
        };
        let mut finish = Finish::Stop;
        let mut sent = String::new();
        let mut tool_calls = Vec::new();
        let result = match deltas {
            None => match cloud.complete(outbound, Format::Text, params).await {
                Ok(reply) => {
                    charge(&mut usage, &reply);
                    finish = reply.finish;
                    tool_calls = outbound::restore_calls(&ctx.vault, &reply.tool_calls);
                    Ok(Value::String(restore_text(&ctx.vault, &reply.content).text))
                }
                Err(e) => Err(Degraded::Cloud(e)),
            },
            Some(deltas) => {
                match stream_text(cloud, outbound, params, &ctx.vault, deltas, &mut usage).await {
                    Ok((text, end, calls)) => {
                        finish = end;
                        tool_calls = calls;
                        Ok(Value::String(text))
                    }
                    Err((text, degraded)) => {
                        sent = text;
                        Err(degraded)
                    }
                }
            }
        };
        usage.cost_usd += cloud
            .cost(usage.prompt_tokens, usage.completion_tokens)
            .unwrap_or(0.0);
        CloudCall {
            result,
            sent,
            finish,
            tool_calls,
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
        ctx.took("cloud", call.ms);
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

/// The tokens of a whole answer (its cost is added by the caller).
fn charge(usage: &mut CloudUsage, reply: &Reply) {
    usage.prompt_tokens += u64::from(reply.prompt_tokens);
    usage.completion_tokens += u64::from(reply.completion_tokens);
}

async fn call(
    cloud: &CloudClient,
    outbound: &Outbound,
    format: Format<'_>,
    usage: &mut CloudUsage,
) -> Result<String, Degraded> {
    usage.bytes += outbound.bytes() as u64;
    usage.calls += 1;
    let reply = cloud
        .complete(outbound, format, &Params::default())
        .await
        .map_err(Degraded::Cloud)?;
    charge(usage, &reply);
    usage.cost_usd += reply.cost_usd.unwrap_or(0.0);
    Ok(reply.content)
}

/// Forward a cloud stream, re-identified, to `deltas`; the whole text, why
/// it ended, and the tool calls it made.
async fn stream_text(
    cloud: &CloudClient,
    outbound: &Outbound,
    params: &Params,
    vault: &Vault,
    deltas: &Deltas,
    usage: &mut CloudUsage,
) -> Result<(String, Finish, Vec<ToolCall>), (String, Degraded)> {
    let stream = outbound::stream(cloud, outbound, params, vault)
        .await
        .map_err(|e| (String::new(), Degraded::Cloud(e)))?;
    let mut stream = std::pin::pin!(stream);
    let mut text = String::new();
    let mut calls: BTreeMap<u32, ToolCall> = BTreeMap::new();
    let mut finish = Finish::Stop;
    while let Some(item) = stream.next().await {
        let delta = match item {
            Ok(delta) => delta,
            Err(error) if text.is_empty() && calls.is_empty() => {
                return Err((text, Degraded::Cloud(error)));
            }
            Err(error) => {
                let broken = Degraded::StreamBroken {
                    sent: text.len(),
                    error,
                };
                return Err((text, broken));
            }
        };
        if let Some((prompt, completion)) = delta.usage {
            usage.prompt_tokens += u64::from(prompt);
            usage.completion_tokens += u64::from(completion);
        }
        if let Some(end) = delta.finish {
            finish = end;
        }
        let mut pieces = Vec::new();
        if !delta.text.is_empty() {
            text.push_str(&delta.text);
            pieces.push(Piece::Text(delta.text));
        }
        for piece in delta.tool_calls {
            let call = calls.entry(piece.index).or_insert_with(|| ToolCall {
                id: String::new(),
                name: String::new(),
                arguments: String::new(),
            });
            if let Some(id) = &piece.id {
                call.id.clone_from(id);
            }
            if let Some(name) = &piece.name {
                call.name.push_str(name);
            }
            call.arguments.push_str(&piece.arguments);
            pieces.push(Piece::ToolCall(piece));
        }
        for piece in pieces {
            if deltas.send(piece).is_err() {
                let sent = text.len();
                return Err((text, Degraded::Abandoned { sent }));
            }
        }
    }
    Ok((text, finish, calls.into_values().collect()))
}

/// The generation a free-text answer asks for: the policy's prompt over the
/// document, or the conversation framed for the loaded model (held to the
/// tools' schema when the answer may call one); the caller's parameters.
fn text_request(
    policy: &Policy,
    request: &Request,
    document: &str,
    model: &ModelInfo,
    tokenizer: &Tokenizer,
) -> GenerateRequest {
    let params = &request.params;
    let mut generate = match &policy.prompt {
        Some(prompt) => {
            let mut generate = GenerateRequest::new(prompt.replace("{document}", document.trim()));
            generate.stop = vec!["\n\n".into()];
            generate
        }
        None if request.tools.callable() => {
            let mut turns = vec![Turn::system(tool_calls::preamble(&request.tools))];
            turns.extend(request.turns.iter().cloned());
            let framed = chat::frame(&turns, model.chat_template.as_deref(), tokenizer);
            let mut generate = GenerateRequest::new(framed.prompt);
            generate.marked = framed.marked;
            // Held to the calls' schema: the schema's end is the call's end.
            generate.schema = Some(tool_calls::schema(&request.tools));
            generate
        }
        None => {
            let framed = chat::frame(&request.turns, model.chat_template.as_deref(), tokenizer);
            let mut generate = GenerateRequest::new(framed.prompt);
            generate.marked = framed.marked;
            generate.stop = framed.stop;
            generate.answer_required = true;
            generate
        }
    };
    generate.stop.extend(params.stop.iter().cloned());
    let default = if generate.schema.is_some() {
        MAX_CALL_TOKENS
    } else {
        MAX_TEXT_TOKENS
    };
    generate.max_tokens = params.max_tokens.map_or(default, |max| max as usize);
    generate.sampling = match params.temperature {
        Some(temperature) if temperature > 0.0 => Sampling::Random {
            temperature,
            top_p: params.top_p.unwrap_or(1.0),
            seed: params.seed.unwrap_or_else(|| seed_of(&request.id)),
        },
        _ => Sampling::Greedy,
    };
    generate
}

/// The answer to a request that may call its tools: a call, or text.
fn called(
    generation: &Generation,
    request: &Request,
) -> Result<(String, Vec<ToolCall>), LocalError> {
    let value: Value = serde_json::from_str(&generation.text).map_err(|_| {
        LocalError::Schema(format!(
            "the tool call was cut off at {} tokens: raise max_tokens",
            generation.tokens.len()
        ))
    })?;
    Ok(match tool_calls::read(&value) {
        Some(tool_calls::Read::Calls(calls)) => {
            let id = format!("call_{:016x}", seed_of(&request.id));
            let calls = calls
                .into_iter()
                .enumerate()
                .map(|(i, call)| ToolCall {
                    id: if i == 0 {
                        id.clone()
                    } else {
                        format!("{id}_{i}")
                    },
                    name: call.name,
                    arguments: call.arguments.to_string(),
                })
                .collect();
            (String::new(), calls)
        }
        Some(tool_calls::Read::Reply(text)) => (text, Vec::new()),
        None => (generation.text.clone(), Vec::new()),
    })
}

/// A seed from the request id: a retried request samples the same text.
fn seed_of(id: &str) -> u64 {
    (crate::pipeline::sample(id) * (1u64 << 53) as f64) as u64
}

/// Forward a local generation's text to `deltas` as it is made, without
/// the blank space at either end (the whole answer is trimmed too); the
/// generation stops when the receiver is gone.
async fn streamed(mut pending: Pending, deltas: &Deltas) -> Result<Generation, LocalError> {
    let mut pieces = pending.text.take().expect("a streaming request has text");
    let mut started = false;
    // Blank space written so far that only text after it may release.
    let mut blank = String::new();
    while let Some(piece) = pieces.recv().await {
        let piece = if started {
            piece.as_str()
        } else {
            piece.trim_start()
        };
        if piece.is_empty() {
            continue;
        }
        started = true;
        let body = piece.trim_end();
        if body.is_empty() {
            blank.push_str(piece);
            continue;
        }
        let out = std::mem::take(&mut blank) + body;
        blank.push_str(&piece[body.len()..]);
        if deltas.send(Piece::Text(out)).is_err() {
            pending.cancel();
            return Err(LocalError::Cancelled);
        }
    }
    pending.finish().await
}

async fn ask_json(
    cloud: &CloudClient,
    anonymiser: Option<Anonymiser<'_>>,
    vault: &mut Vault,
    schema: &Schema,
    mut outbound: Outbound,
    usage: &mut CloudUsage,
) -> Result<Value, Degraded> {
    let mut strict = schema.value.clone();
    strip_annotations(&mut strict);
    let name = schema.name();
    let format = || Format::JsonSchema {
        name: &name,
        schema: &strict,
    };
    let first = call(cloud, &outbound, format(), usage).await?;
    let problems = match check(schema, vault, &first) {
        Ok(value) => return Ok(value),
        Err(problems) => problems,
    };
    tracing::info!("cloud answer invalid ({problems}); asking once for a repair");
    let Some(anonymiser) = anonymiser else {
        return Err(Degraded::Invalid(problems));
    };
    let repair = format!(
        "That answer does not match the JSON schema: {problems}. Answer again with the whole record, valid under the schema."
    );
    outbound
        .extend(
            &anonymiser,
            vault,
            &[
                Draft::text(Role::Assistant, &first),
                Draft::text(Role::User, &repair),
            ],
        )
        .await
        .map_err(|refusal| Degraded::Refused(refusal.to_string()))?;
    let second = call(cloud, &outbound, format(), usage).await?;
    check(schema, vault, &second).map_err(|p| {
        Degraded::Invalid(format!(
            "the cloud's answer did not match the schema after one repair: {p}"
        ))
    })
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
