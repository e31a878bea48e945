//! The dashboard: `/dashboard` is one page, embedded in the binary (no
//! CDN, works offline), that asks for the admin key (kept in the page's
//! session, sent only as a bearer header) and draws what
//! `/admin/dashboard` says every few seconds, without a reload: per policy
//! the requests and routes over the last hour, the cloud share, the cost
//! spent against the all-cloud cost avoided, divergence per field, shadow
//! agreement; plugins and policies with their versions, status,
//! quarantines and last rejections; the latest decisions with every audit
//! record of their request. Charts are SVG drawn by the page's own script.

use std::collections::{BTreeMap, VecDeque};
use std::io::BufReader;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::Api;
use crate::api::error::ApiError;
use crate::audit::{Filter, Kind, Record};

const PAGE: &str = include_str!("dashboard.html");
/// Latest decisions shown, with their records.
const LATEST: usize = 20;
/// The window of the routes-over-time chart, in minutes.
const WINDOW_MINUTES: u64 = 60;

pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
        .into_response()
}

/// Everything the page draws, in one answer.
pub async fn data(State(api): State<Arc<Api>>) -> Result<axum::Json<Value>, ApiError> {
    let stats = super::admin::stats(State(api.clone())).await.0;
    let plugins = super::admin::plugins(State(api.clone())).await.0;
    let policies = super::admin::policies(State(api.clone())).await.0;
    let path = api.pipeline.audit.path().to_path_buf();
    let (series, latest) = tokio::task::spawn_blocking(move || read_log(&path))
        .await
        .map_err(|e| ApiError::internal(format!("reading the audit log: {e}")))?
        .map_err(|e| ApiError::internal(format!("cannot read the audit log: {e}")))?;
    Ok(axum::Json(json!({
        "now": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        "stats": stats,
        "plugins": plugins["data"],
        "policies": policies["data"],
        "series": series,
        "latest": latest,
    })))
}

/// One pass over the log: answers per minute and route over the last hour
/// (per policy), and the latest answers with every record of their request.
fn read_log(path: &std::path::Path) -> std::io::Result<(Value, Vec<Value>)> {
    let since = SystemTime::now() - Duration::from_secs(WINDOW_MINUTES * 60);
    let file = std::fs::File::open(path)?;
    let mut per_minute: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>> = BTreeMap::new();
    let mut latest: VecDeque<Record> = VecDeque::new();
    let mut by_request: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    // Request ids by first appearance, to forget the oldest first.
    let mut seen: VecDeque<String> = VecDeque::new();
    for item in Filter::default().scan(BufReader::new(file)) {
        let (record, line) = item?;
        let Some(request) = record.entry.request_id.clone() else {
            continue;
        };
        let records = by_request.entry(request.clone()).or_insert_with(|| {
            seen.push_back(request.clone());
            Vec::new()
        });
        if records.len() < 64 {
            records.push(serde_json::from_str(&line).unwrap_or(Value::Null));
        }
        if record.entry.kind == Some(Kind::Answer) {
            if humantime::parse_rfc3339(&record.time).is_ok_and(|t| t >= since) {
                let minute = record.time.get(..16).unwrap_or_default().to_string();
                let policy = record.entry.policy.clone().unwrap_or_default();
                *per_minute
                    .entry(policy)
                    .or_default()
                    .entry(minute)
                    .or_default()
                    .entry(record.entry.decision.clone())
                    .or_default() += 1;
            }
            latest.push_back(record);
            if latest.len() > LATEST {
                latest.pop_front();
            }
        }
        // Hold the records of the latest answers and of the requests still
        // under way, not the whole log.
        if by_request.len() > LATEST * 8 {
            let shown: std::collections::BTreeSet<String> = latest
                .iter()
                .filter_map(|r| r.entry.request_id.clone())
                .collect();
            while by_request.len() > LATEST * 4 {
                let Some(oldest) = seen.pop_front() else {
                    break;
                };
                if shown.contains(&oldest) {
                    seen.push_back(oldest);
                } else {
                    by_request.remove(&oldest);
                }
            }
        }
    }
    let latest = latest
        .iter()
        .rev()
        .map(|answer| {
            let request = answer.entry.request_id.clone().unwrap_or_default();
            json!({
                "decision_id": answer.id,
                "time": answer.time,
                "request_id": request,
                "policy": answer.entry.policy,
                "route": answer.entry.decision,
                "reasons": answer.entry.reasons,
                "latency_ms": answer.entry.latency_ms,
                "records": by_request.get(&request).cloned().unwrap_or_default(),
            })
        })
        .collect();
    Ok((json!(per_minute), latest))
}
