//! The five executors. Each turns a request into an [`Answer`], writing an
//! audit record at every decision; [`run`] adds the final `answer` record
//! and builds the [`Outcome`]. A cloud failure anywhere (not configured,
//! over budget, circuit open, timeout, bad answer after the repair, or an
//! anonymiser that failed closed) ends in the local answer, marked degraded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::audit::{Kind, digest};
use crate::conversation::{Finish, Role, ToolCall};
use crate::local::LocalError;
use crate::local::triage::FieldReading;
use crate::pipeline::escalation;
use crate::pipeline::request::RequestCtx;
use crate::pipeline::shadow;
use crate::pipeline::signals;
use crate::pipeline::stages::{LocalAnswer, fallback_entry};
use crate::pipeline::{
    Degraded, Outcome, Pattern, Pipeline, PipelineError, Policy, Request, Tier, sample,
};
use crate::plugins::contract::{Candidate, Choice, Route, RouteContext};
use crate::privacy::outbound::Draft;

/// What an executor answers.
struct Answer {
    route: &'static str,
    by: Tier,
    value: Value,
    confidence: Option<f64>,
    /// The local model's reading of each field, when it answered.
    fields: BTreeMap<String, FieldReading>,
    degraded: Option<Degraded>,
    review: bool,
    finish: Finish,
    tool_calls: Vec<ToolCall>,
}

impl Answer {
    /// The local answer; an empty one is marked, never returned silently.
    fn local(route: &'static str, local: LocalAnswer) -> Answer {
        let empty =
            local.value.as_str().is_some_and(|text| text.is_empty()) && local.tool_calls.is_empty();
        Answer {
            route,
            by: Tier::Local,
            value: local.value,
            confidence: local.confidence,
            fields: local.fields,
            degraded: empty.then_some(Degraded::EmptyLocal),
            review: false,
            finish: local.finish,
            tool_calls: local.tool_calls,
        }
    }

    /// The cloud's record, with the confidence it states.
    fn cloud(route: &'static str, value: Value) -> Answer {
        Answer {
            route,
            by: Tier::Cloud,
            confidence: value.get("confidence_score").and_then(Value::as_f64),
            value,
            fields: BTreeMap::new(),
            degraded: None,
            review: false,
            finish: Finish::Stop,
            tool_calls: Vec::new(),
        }
    }

    fn degraded(mut self, reason: Degraded) -> Answer {
        self.degraded = Some(reason);
        self
    }
}

/// Run `request`, whose conversation reads as `document`, through `policy`.
pub async fn run(
    p: &Pipeline,
    policy: Arc<Policy>,
    request: Request,
    document: String,
) -> Result<Outcome, PipelineError> {
    let mut ctx = RequestCtx::new(
        request.id.clone(),
        policy.clone(),
        p.plugins.snapshot(),
        p.audit.clone(),
    );
    let (r, d) = (&request, document.as_str());
    let tool_traffic = !request.tools.offered.is_empty()
        || request
            .turns
            .iter()
            .any(|t| t.role == Role::Tool || !t.tool_calls.is_empty());
    let answer = match policy.pattern {
        _ if tool_traffic && policy.local_tool_calls => {
            let why =
                "the policy keeps tool calls and their results local ([privacy] local_tool_calls)";
            route(&mut ctx, "local", vec![why.into()])?;
            Answer::local("local", local(p, &mut ctx, r, d).await?)
        }
        Pattern::Local => local_only(p, &mut ctx, r, d).await?,
        Pattern::Cloud => cloud_only(p, &mut ctx, r, d).await?,
        Pattern::TriageEscalate => triage_escalate(p, &mut ctx, r, d).await?,
        Pattern::ParallelMerge => parallel_merge(p, &mut ctx, r, d).await?,
        Pattern::DraftRefine => draft_refine(p, &mut ctx, r, d).await?,
    };
    finish(ctx, &document, answer)
}

/// The `answer` record, then the outcome.
fn finish(mut ctx: RequestCtx, document: &str, answer: Answer) -> Result<Outcome, PipelineError> {
    let total = ctx.started.elapsed().as_secs_f64() * 1e3;
    ctx.latency_ms.insert("total".into(), total);
    let mut reasons = vec![format!("answered by the {} tier", tier_name(answer.by))];
    reasons.extend(answer.degraded.iter().map(|d| format!("degraded: {d}")));
    if answer.review {
        reasons.push("flagged for human review".into());
    }
    let mut entry = ctx.entry(Kind::Answer, answer.route).reasons(reasons);
    entry
        .inputs
        .insert("document".into(), digest(document.as_bytes()));
    entry.inputs.insert(
        "result".into(),
        // The answer's text or record, and the tool calls it makes.
        digest(serde_json::to_vec(&(&answer.value, &answer.tool_calls)).unwrap_or_default()),
    );
    entry.latency_ms = ctx.latency_ms.clone();
    entry.tiers = ctx.tiers.clone();
    entry.cloud = (ctx.cloud.calls > 0).then(|| ctx.cloud.clone());
    entry.pseudonyms = ctx.pseudonym_counts();
    // Confidences and byte ranges only: no field's value is written.
    entry.fields = answer
        .fields
        .iter()
        .filter_map(|(name, reading)| Some((name.clone(), serde_json::to_value(reading).ok()?)))
        .collect();
    let decision_id = ctx.decide("answer", entry, total)?;
    Ok(Outcome {
        request_id: ctx.id.clone(),
        decision_id,
        policy: ctx.policy.name.clone(),
        route: answer.route.to_string(),
        answered_by: answer.by,
        degraded: answer.degraded,
        finish: answer.finish,
        tool_calls: answer.tool_calls,
        review: answer.review,
        result: answer.value,
        confidence: answer.confidence,
        fields: answer.fields,
        cloud: ctx.cloud.clone(),
        local: ctx.local,
        latency_ms: ctx.latency_ms.clone(),
        started_at: ctx.started_at,
        stages: std::mem::take(&mut ctx.stages),
        trace: std::mem::take(&mut ctx.trace),
    })
}

fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Local => "local",
        Tier::Cloud => "cloud",
    }
}

async fn local(
    p: &Pipeline,
    ctx: &mut RequestCtx,
    request: &Request,
    document: &str,
) -> Result<LocalAnswer, PipelineError> {
    let answer = match p.local_stage(&ctx.policy, request, document).await {
        Ok(answer) => answer,
        Err(LocalError::Cancelled) if request.deltas.is_some() => {
            // The caller went away mid-stream: generation stopped, and the
            // log says so, since no answer record will follow.
            let entry = ctx
                .entry(Kind::Answer, "abandoned")
                .reasons(["the caller went away while the local answer was streamed".to_string()]);
            ctx.decide("answer", entry, 0.0)?;
            return Err(LocalError::Cancelled.into());
        }
        Err(e) => return Err(e.into()),
    };
    ctx.local.add(answer.usage);
    ctx.took("local", answer.ms);
    ctx.used("local");
    Ok(answer)
}

/// Record the pattern's own routing (no router plugin).
fn route(ctx: &mut RequestCtx, decision: &str, reasons: Vec<String>) -> Result<(), PipelineError> {
    let entry = ctx.entry(Kind::Route, decision).reasons(reasons);
    ctx.decide("route", entry, 0.0).map(|_| ())
}

/// A local answer after a cloud failure: audited, marked degraded.
fn fall_back(
    ctx: &mut RequestCtx,
    local: LocalAnswer,
    route: &'static str,
    reason: Degraded,
) -> Result<Answer, PipelineError> {
    let entry = fallback_entry(ctx, &reason.to_string());
    ctx.decide("fallback", entry, 0.0)?;
    Ok(Answer::local(route, local).degraded(reason))
}

async fn local_only(
    p: &Pipeline,
    ctx: &mut RequestCtx,
    request: &Request,
    document: &str,
) -> Result<Answer, PipelineError> {
    route(ctx, "local", vec!["policy pattern is local".into()])?;
    let answer = local(p, ctx, request, document).await?;
    Ok(Answer::local("local", answer))
}

async fn cloud_only(
    p: &Pipeline,
    ctx: &mut RequestCtx,
    request: &Request,
    document: &str,
) -> Result<Answer, PipelineError> {
    route(ctx, "cloud", vec!["policy pattern is cloud".into()])?;
    let failure = match in_cloud(p, ctx, request, document).await {
        Ok((value, finish, tool_calls)) => {
            return Ok(Answer {
                finish,
                tool_calls,
                ..Answer::cloud("cloud", value)
            });
        }
        // Part of the answer has reached the caller: nothing else may
        // follow it, so what was sent stands, marked.
        Err((partial, reason @ (Degraded::StreamBroken { .. } | Degraded::Abandoned { .. }))) => {
            let entry = fallback_entry(ctx, &reason.to_string());
            ctx.decide("fallback", entry, 0.0)?;
            return Ok(Answer::cloud("cloud", Value::String(partial)).degraded(reason));
        }
        Err((_, reason)) => reason,
    };
    // Nothing local ran yet: run it now, so the caller still gets an answer.
    let answer = local(p, ctx, request, document).await.map_err(|e| {
        PipelineError::Unanswerable(format!("{failure}; the local fallback failed too: {e}"))
    })?;
    fall_back(ctx, answer, "cloud", failure)
}

/// The request in the cloud: under a schema, the document pseudonymised
/// after the policy's instructions; as free text, the conversation turn by
/// turn with their roles (the policy's own instructions first), streamed
/// when the caller streams. On failure, the text already streamed.
async fn in_cloud(
    p: &Pipeline,
    ctx: &mut RequestCtx,
    request: &Request,
    document: &str,
) -> Result<(Value, Finish, Vec<ToolCall>), (String, Degraded)> {
    let unsent = |reason| (String::new(), reason);
    let cloud = p.cloud_gate(ctx).map_err(unsent)?;
    let policy = ctx.policy.clone();
    let call = if policy.schema.is_some() {
        let drafts = [
            Draft::text(Role::System, &policy.cloud_system),
            Draft::text(Role::User, document),
        ];
        let outbound = p.seal(ctx, &drafts).await.map_err(unsent)?;
        p.cloud_json(ctx, &cloud, policy.schema.as_ref(), outbound)
            .await
    } else {
        let mut drafts: Vec<Draft> = policy
            .instructions
            .iter()
            .map(|text| Draft::text(Role::System, text))
            .collect();
        drafts.extend(Draft::turns(&request.turns));
        let outbound = p
            .seal(ctx, &drafts)
            .await
            .map_err(unsent)?
            .offering(&request.tools);
        p.cloud_text(
            ctx,
            &cloud,
            &outbound,
            &request.params,
            request.deltas.as_ref(),
        )
        .await
    };
    p.account(ctx, &call);
    let (finish, tool_calls) = (call.finish, call.tool_calls.clone());
    call.result
        .map(|value| (value, finish, tool_calls))
        .map_err(|reason| {
            let sent = match &reason {
                Degraded::StreamBroken { .. } | Degraded::Abandoned { .. } => call.sent.clone(),
                _ => String::new(),
            };
            (sent, reason)
        })
}

/// A local record, pseudonymised, to the cloud for review, with the
/// passages its `doubtful` fields rest on when the policy escalates with
/// evidence ([`escalation`]); the answer validated against the review
/// schema and restored. Never the document.
async fn refine_in_cloud(
    p: &Pipeline,
    ctx: &mut RequestCtx,
    document: &str,
    local: &LocalAnswer,
    doubtful: &[String],
) -> Result<Value, Degraded> {
    let cloud = p.cloud_gate(ctx)?;
    let policy = ctx.policy.clone();
    let schema = policy
        .schema
        .as_ref()
        .map_or(Value::Null, |s| s.value.clone());
    let user = match policy.evidence_share {
        None => local.value.clone(),
        Some(share) => {
            let evidence = evidence(ctx, document.trim(), local, doubtful, share)
                .map_err(|e| Degraded::Refused(e.to_string()))?;
            json!({"record": local.value, "evidence": evidence})
        }
    };
    // The record's marked fields are found under `record` when evidence
    // goes with it.
    let marks = match policy.evidence_share {
        None => schema,
        Some(_) => nested(&schema, "record"),
    };
    let drafts = [
        Draft::text(Role::System, &policy.cloud_system),
        Draft::record(Role::User, &user, &marks),
    ];
    let outbound = p.seal(ctx, &drafts).await?;
    let call = p
        .cloud_json(ctx, &cloud, policy.review_schema.as_ref(), outbound)
        .await;
    p.account(ctx, &call);
    call.result
}

/// A schema for an object that holds a value of `schema` under `key`; its
/// definitions stay at the root, where its references point.
fn nested(schema: &Value, key: &str) -> Value {
    let mut inner = schema.clone();
    let defs = inner
        .as_object_mut()
        .and_then(|o| o.remove("$defs"))
        .unwrap_or(Value::Null);
    json!({"type": "object", "properties": {key: inner}, "$defs": defs})
}

/// The passages that go with an escalated record (pseudonymised with it),
/// and an audit record of which go and how much of the document they are.
fn evidence(
    ctx: &mut RequestCtx,
    document: &str,
    local: &LocalAnswer,
    doubtful: &[String],
    share: f64,
) -> Result<Vec<Value>, PipelineError> {
    let started = Instant::now();
    let chosen = escalation::passages(document, local, doubtful, share);
    let bytes: usize = chosen.iter().map(|q| q.passage.end - q.passage.start).sum();
    let clauses: Vec<String> = chosen
        .iter()
        .map(|q| q.passage.clause.to_string())
        .collect();
    let mut fields: Vec<&str> = chosen.iter().map(|q| q.field.as_str()).collect();
    fields.dedup();
    let entry = ctx.entry(Kind::Anonymise, "evidence").reasons([format!(
        "{} passages (clauses {}) for {}: {bytes} of the document's {} bytes ({:.1}%, at most {:.0}%)",
        chosen.len(),
        if clauses.is_empty() { "none".into() } else { clauses.join(", ") },
        if fields.is_empty() { "no field".into() } else { fields.join(", ") },
        document.len(),
        bytes as f64 * 100.0 / document.len().max(1) as f64,
        share * 100.0
    )]);
    let ms = ctx.timed("evidence", started);
    ctx.decide("evidence", entry, ms)?;
    Ok(chosen
        .into_iter()
        .map(|quoted| {
            let text = &document[quoted.passage.start..quoted.passage.end];
            json!({"field": quoted.field, "clause": quoted.passage.clause, "text": text})
        })
        .collect())
}

pub(crate) fn route_name(route: Route) -> &'static str {
    match route {
        Route::Local => "local",
        Route::Escalate => "escalate",
        Route::Parallel => "parallel",
        Route::DraftRefine => "draft-refine",
        Route::Reject => "reject",
    }
}

async fn triage_escalate(
    p: &Pipeline,
    ctx: &mut RequestCtx,
    request: &Request,
    document: &str,
) -> Result<Answer, PipelineError> {
    let triage = local(p, ctx, request, document).await?;
    let router = ctx
        .policy
        .router
        .clone()
        .expect("checked at load: triage-escalate has a router");
    let budget_left = p
        .budgets
        .left(&ctx.policy.name, ctx.policy.budget_usd_per_day);
    let route_ctx = RouteContext {
        request_id: ctx.id.clone(),
        policy: ctx.policy.name.clone(),
        task: ctx.policy.task.clone(),
        tags: request.tags.clone(),
        input_tokens: triage.document_tokens as u32,
        triage_json: Some(triage.value.to_string()),
        confidence: triage.confidence.unwrap_or(0.0) as f32,
        fields: signals::fields(&triage),
        document: signals::document(&triage),
        budget_left_usd: if budget_left.is_finite() {
            budget_left
        } else {
            f64::MAX
        },
        sample: sample(&ctx.id),
    };
    // Over budget, the router sees nothing left and the host says why.
    let over_budget = if budget_left <= 0.0 {
        p.over_budget(ctx)?
    } else {
        None
    };
    let recorded = if ctx.policy.record_inputs {
        let started = Instant::now();
        let recorded = p.recorded_route(ctx, &route_ctx).await;
        ctx.timed("record_inputs", started);
        recorded
    } else {
        None
    };
    let started = Instant::now();
    let routed = ctx
        .plugins
        .route(&router.name, &route_ctx, &router.settings)
        .await;
    let ms = ctx.timed("router", started);
    let decision = route_name(routed.decision.route);
    let mut entry = ctx
        .entry(Kind::Route, decision)
        .reasons(routed.decision.reasons.clone())
        .plugin(&router.name, routed.version.as_deref());
    entry.recorded = recorded;
    entry
        .inputs
        .insert("triage".into(), digest(triage.value.to_string()));
    let inputs = entry.inputs.clone();
    let record = ctx.decide("router", entry, ms)?;
    if let Some(shadow) = ctx.policy.shadow_router.clone() {
        shadow::route(p.beside(ctx, inputs, record, decision), shadow, route_ctx);
    }
    match routed.decision.route {
        Route::Reject => Err(PipelineError::Rejected(routed.decision.reasons.join("; "))),
        Route::Local => {
            let answer = Answer::local("local", triage);
            Ok(match over_budget {
                Some(reason) => answer.degraded(Degraded::OverBudget(reason)),
                None => answer,
            })
        }
        Route::Escalate | Route::Parallel | Route::DraftRefine => {
            let doubtful = &routed.decision.doubtful;
            match refine_in_cloud(p, ctx, document, &triage, doubtful).await {
                Ok(value) => Ok(Answer::cloud("escalate", value)),
                Err(reason) => fall_back(ctx, triage, "escalate", reason),
            }
        }
    }
}

async fn draft_refine(
    p: &Pipeline,
    ctx: &mut RequestCtx,
    request: &Request,
    document: &str,
) -> Result<Answer, PipelineError> {
    let draft = local(p, ctx, request, document).await?;
    route(
        ctx,
        "draft-refine",
        vec!["policy pattern is draft-refine: the cloud refines the local draft".into()],
    )?;
    match refine_in_cloud(p, ctx, document, &draft, &[]).await {
        Ok(value) => Ok(Answer::cloud("draft-refine", value)),
        Err(reason) => fall_back(ctx, draft, "draft-refine", reason),
    }
}

async fn parallel_merge(
    p: &Pipeline,
    ctx: &mut RequestCtx,
    request: &Request,
    document: &str,
) -> Result<Answer, PipelineError> {
    let drawn = sample(&ctx.id);
    let rate = ctx.policy.sample_rate;
    if drawn >= rate {
        route(
            ctx,
            "local",
            vec![format!("sample {drawn:.3} is not under the rate {rate}")],
        )?;
        let answer = local(p, ctx, request, document).await?;
        return Ok(Answer::local("local", answer));
    }
    let cloud = match p.cloud_gate(ctx) {
        Ok(cloud) => cloud,
        Err(reason) => {
            let why = format!("sample {drawn:.3} is under the rate {rate}, but {reason}");
            route(ctx, "local", vec![why])?;
            let answer = local(p, ctx, request, document).await?;
            return fall_back(ctx, answer, "local", reason);
        }
    };
    route(
        ctx,
        "parallel",
        vec![format!("sample {drawn:.3} is under the rate {rate}")],
    )?;
    let policy = ctx.policy.clone();
    let drafts = [
        Draft::text(Role::System, &policy.cloud_system),
        Draft::text(Role::User, document),
    ];
    let outbound = match p.seal(ctx, &drafts).await {
        Ok(outbound) => outbound,
        Err(refused) => {
            let answer = local(p, ctx, request, document).await?;
            return fall_back(ctx, answer, "parallel", refused);
        }
    };
    let (local_result, call) = tokio::join!(
        p.local_stage(&policy, request, document),
        p.cloud_json(ctx, &cloud, policy.schema.as_ref(), outbound)
    );
    p.account(ctx, &call);
    let local_answer = local_result?;
    ctx.local.add(local_answer.usage);
    ctx.took("local", local_answer.ms);
    ctx.used("local");
    let cloud_value = match call.result {
        Ok(value) => value,
        Err(reason) => return fall_back(ctx, local_answer, "parallel", reason),
    };
    let merger = policy
        .merger
        .clone()
        .expect("checked at load: parallel-merge has a merger");
    let schema_text = policy
        .schema
        .as_ref()
        .map_or(String::new(), |s| s.value.to_string());
    let schema_value = policy.schema.as_ref().map(|s| &s.value);
    let local_candidate = Candidate {
        json: answer_fields(&local_answer.value, schema_value).to_string(),
        confidence: local_answer.confidence.unwrap_or(0.0) as f32,
        fields: signals::fields(&local_answer),
    };
    let cloud_confidence = cloud_value.get("confidence_score").and_then(Value::as_f64);
    let cloud_candidate = Candidate {
        json: answer_fields(&cloud_value, schema_value).to_string(),
        confidence: cloud_confidence.unwrap_or(0.0) as f32,
        fields: Vec::new(),
    };
    let recorded = if policy.record_inputs {
        let started = Instant::now();
        let recorded = p
            .recorded_merge(ctx, &local_candidate, &cloud_candidate)
            .await;
        ctx.timed("record_inputs", started);
        recorded
    } else {
        None
    };
    let started = Instant::now();
    let merged = ctx
        .plugins
        .merge(
            &merger.name,
            &local_candidate,
            &cloud_candidate,
            &schema_text,
            &merger.settings,
        )
        .await;
    let ms = ctx.timed("merger", started);
    let decision = &merged.decision;
    p.divergence.record(&policy.name, &decision.diverged);
    let choice = match decision.choice {
        Choice::Local => "local",
        Choice::Cloud => "cloud",
        Choice::Review => "review",
    };
    let mut reasons = decision.reasons.clone();
    reasons.push(format!("agreement {:.2}", decision.agreement));
    if !decision.diverged.is_empty() {
        reasons.push(format!("diverged on {}", decision.diverged.join(", ")));
    }
    let mut entry = ctx
        .entry(Kind::Merge, choice)
        .reasons(reasons)
        .plugin(&merger.name, merged.version.as_deref());
    entry.recorded = recorded;
    let inputs = entry.inputs.clone();
    let record = ctx.decide("merger", entry, ms)?;
    if let Some(shadow) = policy.shadow_merger.clone() {
        let beside = p.beside(ctx, inputs, record, choice);
        shadow::merge(
            beside,
            shadow,
            local_candidate,
            cloud_candidate,
            schema_text,
        );
    }
    Ok(match decision.choice {
        Choice::Cloud => Answer::cloud("parallel", cloud_value),
        Choice::Local | Choice::Review => Answer {
            review: merged.review,
            ..Answer::local("parallel", local_answer)
        },
    })
}

/// A record without the fields the host computes (`x-sluice-computed`,
/// such as `confidence_score`): what a merger compares.
fn answer_fields(record: &Value, schema: Option<&Value>) -> Value {
    let mut record = record.clone();
    let computed = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, p)| p.get(crate::local::constraint::COMPUTED).is_some())
        .map(|(k, _)| k.clone());
    if let Some(fields) = record.as_object_mut() {
        for key in computed {
            fields.remove(&key);
        }
    }
    record
}
