//! The admin API, behind an admin key: the plugins (version, status, health,
//! last rejection and its stage), the policies (and rejected files), the
//! audit log filtered and streamed as JSON lines, the statistics, and
//! labels: a reviewer's verdict on an answer, kept in the log for replay.

use std::io::BufReader;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Api;
use crate::api::error::ApiError;
use crate::api::openai;
use crate::audit::label::Label;
use crate::audit::{Filter, Kind};
use crate::plugins::contract::World;

pub async fn plugins(State(api): State<Arc<Api>>) -> axum::Json<Value> {
    let set = api.pipeline.plugins.snapshot();
    let history = api.pipeline.plugins.rejection_history();
    let last_rejection = |name: &str| {
        history
            .iter()
            .rev()
            .find(|r| r.name == name)
            .map(|r| json!({"stage": r.stage, "reason": r.reason, "file": r.path, "at": humantime::format_rfc3339_millis(r.at).to_string()}))
    };
    let mut data: Vec<Value> = set
        .plugins()
        .map(|p| {
            json!({
                "name": p.name,
                "world": p.world,
                "media_types": (p.world == World::Extractor).then_some(&p.media_types),
                "contract_version": p.contract_version,
                "deprecated": p.deprecated,
                "version": p.sha256,
                "file": p.path,
                "status": if p.health.is_quarantined() { "quarantined" } else { "ready" },
                "loaded_at": humantime::format_rfc3339_millis(p.loaded_at).to_string(),
                "calls": p.health.calls(),
                "failures": p.health.failures(),
                "last_error": p.health.last_error(),
                "last_rejection": last_rejection(&p.name),
            })
        })
        .collect();
    for rejected in set.rejections().filter(|r| set.get(&r.name).is_none()) {
        data.push(json!({
            "name": rejected.name,
            "world": null,
            "version": null,
            "file": rejected.path,
            "status": "rejected",
            "last_rejection": last_rejection(&rejected.name),
        }));
    }
    axum::Json(json!({"object": "list", "data": data}))
}

pub async fn policies(State(api): State<Arc<Api>>) -> axum::Json<Value> {
    let pipeline = &api.pipeline;
    let plugins = pipeline.plugins.snapshot();
    let data: Vec<Value> = pipeline
        .policies
        .snapshot()
        .values()
        .map(|p| {
            let uses = |u: &Option<crate::pipeline::policy::PluginUse>| {
                u.as_ref()
                    .map(|u| json!({"plugin": u.name, "status": plugins.status(&u.name)}))
            };
            json!({
                "name": p.name,
                "model": format!("sluice/{}", p.name),
                "pattern": p.pattern.name(),
                "description": p.description,
                "file": p.file,
                "version": p.sha256,
                "schema": p.schema.as_ref().map(|s| s.name()),
                "router": uses(&p.router),
                "anonymiser": uses(&p.anonymiser),
                "merger": uses(&p.merger),
                "sample_rate": p.sample_rate,
                "budget_usd_per_day": p.budget_usd_per_day,
                "spent_today_usd": pipeline.budgets.spent(&p.name),
                "max_document_bytes": p.max_document_bytes,
                "timeout_ms": p.timeout.as_millis() as u64,
            })
        })
        .collect();
    let rejected: Vec<Value> = pipeline
        .policies
        .rejections()
        .values()
        .map(|e| json!({"file": e.file, "key": e.key, "problem": e.problem, "fix": e.fix}))
        .collect();
    axum::Json(json!({"object": "list", "data": data, "rejected": rejected}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    policy: Option<String>,
    decision: Option<String>,
    kind: Option<String>,
    request_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// At most this many records (the first ones that match).
    limit: Option<usize>,
}

impl AuditQuery {
    fn filter(&self) -> Result<Filter, ApiError> {
        let time = |name: &str, text: &Option<String>| {
            text.as_deref()
                .map(Filter::time)
                .transpose()
                .map_err(|e| ApiError::invalid(format!("{name}: {e}")).param(name))
        };
        let kind = self
            .kind
            .as_deref()
            .map(|k| {
                Kind::parse(k).map_err(|e| ApiError::invalid(format!("kind {e}")).param("kind"))
            })
            .transpose()?;
        Ok(Filter {
            policy: self.policy.clone(),
            decision: self.decision.clone(),
            kind,
            request_id: self.request_id.clone(),
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
        })
    }
}

/// The matching records as JSON lines, read from the file as they are
/// sent: a large log is never held in memory.
pub async fn audit(
    State(api): State<Arc<Api>>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::invalid(format!(
            "{}; the filters are policy, decision, kind, request_id, since, until and limit",
            e.body_text()
        ))
    })?;
    let filter = query.filter()?;
    let limit = query.limit.unwrap_or(usize::MAX);
    let file = std::fs::File::open(api.pipeline.audit.path())
        .map_err(|e| ApiError::internal(format!("cannot read the audit log: {e}")))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<String>>(64);
    tokio::task::spawn_blocking(move || {
        for item in filter.scan(BufReader::new(file)).take(limit) {
            let line = item.map(|(_, line)| line + "\n");
            if tx.blocking_send(line).is_err() {
                return; // the client went away
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (line, rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `POST /admin/labels`: a verdict on a request's answer (`{"request_id",
/// "verdict": "right"|"wrong", "fields": [...]}`), kept as a `label` record
/// of the request's policy. The request must have been answered (its
/// `answer` record is in the log): 404 `unknown_request` otherwise.
pub async fn label(
    State(api): State<Arc<Api>>,
    openai::Body(label): openai::Body<Label>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    label
        .check()
        .map_err(|e| ApiError::invalid(e).code("invalid_label"))?;
    let path = api.pipeline.audit.path().to_path_buf();
    let filter = Filter {
        kind: Some(Kind::Answer),
        request_id: Some(label.request_id.clone()),
        ..Filter::default()
    };
    let policy = tokio::task::spawn_blocking(move || -> std::io::Result<Option<String>> {
        let file = std::fs::File::open(path)?;
        match filter.scan(BufReader::new(file)).next() {
            Some(item) => Ok(item?.0.entry.policy),
            None => Ok(None),
        }
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading the audit log failed: {e}")))?
    .map_err(|e| ApiError::internal(format!("cannot read the audit log: {e}")))?;
    let Some(policy) = policy else {
        return Err(ApiError::not_found(format!(
            "no answered request has the id {:?} in the audit log",
            label.request_id
        ))
        .code("unknown_request")
        .param("request_id"));
    };
    let record = api
        .pipeline
        .audit
        .append(label.entry(&policy))
        .map_err(|e| ApiError::internal(format!("cannot write the label: {e}")))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "object": "label",
            "id": record.id,
            "request_id": label.request_id,
            "policy": policy,
            "verdict": label.verdict,
            "fields": label.fields,
        })),
    ))
}

pub async fn stats(State(api): State<Arc<Api>>) -> axum::Json<Value> {
    let pipeline = &api.pipeline;
    let per_policy = api.stats.snapshot();
    let total: u64 = per_policy.values().map(|s| s.requests).sum();
    let by_cloud: u64 = per_policy.values().map(|s| s.answered_by_cloud).sum();
    let saved_tokens: u64 = per_policy.values().map(|s| s.cloud_tokens_saved).sum();
    let cost_saved = pipeline
        .cloud
        .as_ref()
        .and_then(|c| c.cost(saved_tokens, 0));
    axum::Json(json!({
        "since": humantime::format_rfc3339_seconds(api.started).to_string(),
        "requests": total,
        "cloud_share": if total == 0 { 0.0 } else { by_cloud as f64 / total as f64 },
        "cloud_tokens_saved": saved_tokens,
        "cloud_cost_saved_usd": cost_saved,
        "cloud_sent": {
            "bytes": per_policy.values().map(|s| s.cloud_bytes).sum::<u64>(),
            "prompt_tokens": per_policy.values().map(|s| s.cloud_prompt_tokens).sum::<u64>(),
            "completion_tokens": per_policy.values().map(|s| s.cloud_completion_tokens).sum::<u64>(),
            "cost_usd": per_policy.values().map(|s| s.cloud_cost_usd).sum::<f64>(),
        },
        "cloud_circuit": pipeline.cloud.as_ref().map(|c| c.circuit()),
        "policies": per_policy.iter().map(|(name, s)| {
            let mut policy = json!(s);
            // What the tokens the local tier kept would have cost in the cloud.
            policy["cloud_cost_saved_usd"] = json!(pipeline.cloud.as_ref().and_then(|c| c.cost(s.cloud_tokens_saved, 0)));
            (name.clone(), policy)
        }).collect::<serde_json::Map<String, Value>>(),
        "divergence": pipeline.divergence.snapshot().into_iter().map(|(policy, d)| {
            let rates: serde_json::Map<String, Value> = d.fields.keys().map(|f| (f.clone(), json!(d.rate(f)))).collect();
            (policy, json!({"compared": d.compared, "diverged": d.fields, "rate": rates}))
        }).collect::<serde_json::Map<String, Value>>(),
        "shadow": shadow_stats(&pipeline.shadows.snapshot(), &per_policy),
    }))
}

/// Per policy, what its shadows said: agreement with the active decisions,
/// the shadows' decision shares, and what they would have spent in the
/// cloud: each request a shadow would have sent there at the mean cost of
/// the policy's requests the cloud did answer (unknown, `null`, until the
/// cloud has answered one).
fn shadow_stats(
    shadows: &std::collections::BTreeMap<String, crate::pipeline::shadow::PolicyShadow>,
    per_policy: &std::collections::BTreeMap<String, crate::api::stats::PolicyStats>,
) -> serde_json::Map<String, Value> {
    shadows
        .iter()
        .map(|(policy, s)| {
            let share = |n: u64| {
                if s.decisions == 0 {
                    0.0
                } else {
                    n as f64 / s.decisions as f64
                }
            };
            let shares: serde_json::Map<String, Value> = s
                .decided
                .iter()
                .map(|(d, n)| (d.clone(), json!(share(*n))))
                .collect();
            let active = per_policy.get(policy);
            let mean_cloud_cost = active
                .filter(|a| a.answered_by_cloud > 0)
                .map(|a| a.cloud_cost_usd / a.answered_by_cloud as f64);
            (
                policy.clone(),
                json!({
                    "decisions": s.decisions,
                    "agreements": s.agreements,
                    "agreement": share(s.agreements),
                    "decided": s.decided,
                    "shares": shares,
                    "to_cloud": s.to_cloud,
                    "failures": s.failures,
                    "projected_cloud_cost_usd": mean_cloud_cost.map(|c| c * s.to_cloud as f64),
                }),
            )
        })
        .collect()
}
