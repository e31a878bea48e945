//! The dashboard: `/dashboard` is one page, embedded in the binary (no
//! CDN, works offline), that asks for the admin key (kept in the page's
//! session, sent only as a bearer header) and draws what
//! `/admin/dashboard` says every few seconds, without a reload: per policy
//! the requests and routes over the last hour, the cloud share, the cost
//! spent against the all-cloud cost avoided, divergence per field, shadow
//! agreement; plugins and policies with their versions, status,
//! quarantines and last rejections; the latest decisions with every audit
//! record of their request. Charts are SVG drawn by the page's own script.
//! The log is read incrementally ([`LogTail`]): each refresh reads only
//! what was appended since the last.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::Api;
use crate::api::error::ApiError;
use crate::audit::{Kind, Record};

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
    let reader = api.clone();
    let (series, latest) = tokio::task::spawn_blocking(move || {
        let mut tail = reader
            .dashboard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tail.read(reader.pipeline.audit.path())?;
        Ok::<_, std::io::Error>(tail.view())
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading the audit log: {e}")))?
    .map_err(|e| ApiError::internal(format!("cannot read the audit log: {e}")))?;
    Ok(axum::Json(json!({
        "now": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        "stats": stats,
        "plugins": plugins["data"],
        "policies": policies["data"],
        "policies_rejected": policies["rejected"],
        "series": series,
        "latest": latest,
    })))
}

/// What the page needs from the log, kept between refreshes: answers per
/// minute and route over the last hour (per policy), and the latest
/// answers with every record of their request. Each refresh reads only
/// the lines appended since the one before, so a refresh costs what was
/// written meanwhile, not the size of the log.
#[derive(Debug, Default)]
pub struct LogTail {
    /// Bytes of the log already read (whole lines only).
    offset: u64,
    per_minute: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>,
    latest: VecDeque<Record>,
    by_request: BTreeMap<String, Vec<Value>>,
    /// Request ids by first appearance, to forget the oldest first.
    seen: VecDeque<String>,
}

impl LogTail {
    /// Read the lines appended since the last call (all of them the first
    /// time; again from the start if the file is shorter than what was read).
    fn read(&mut self, path: &std::path::Path) -> std::io::Result<()> {
        let mut file = std::fs::File::open(path)?;
        if file.metadata()?.len() < self.offset {
            *self = LogTail::default();
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        loop {
            line.clear();
            let read = reader.read_line(&mut line)?;
            // Nothing more, or a line still being written: the next refresh reads it.
            if read == 0 || !line.ends_with('\n') {
                break;
            }
            self.offset += read as u64;
            let line = line.trim_end();
            if let Ok(record) = serde_json::from_str::<Record>(line) {
                self.add(record, line);
            }
        }
        let since = SystemTime::now() - Duration::from_secs(WINDOW_MINUTES * 60);
        let oldest = humantime::format_rfc3339_seconds(since).to_string();
        let oldest = oldest.get(..16).unwrap_or_default();
        for minutes in self.per_minute.values_mut() {
            minutes.retain(|minute, _| minute.as_str() >= oldest);
        }
        self.per_minute.retain(|_, minutes| !minutes.is_empty());
        Ok(())
    }

    fn add(&mut self, record: Record, line: &str) {
        let Some(request) = record.entry.request_id.clone() else {
            return;
        };
        let records = self.by_request.entry(request.clone()).or_insert_with(|| {
            self.seen.push_back(request.clone());
            Vec::new()
        });
        if records.len() < 64 {
            records.push(serde_json::from_str(line).unwrap_or(Value::Null));
        }
        if record.entry.kind == Some(Kind::Answer) {
            let minute = record.time.get(..16).unwrap_or_default().to_string();
            let policy = record.entry.policy.clone().unwrap_or_default();
            *self
                .per_minute
                .entry(policy)
                .or_default()
                .entry(minute)
                .or_default()
                .entry(record.entry.decision.clone())
                .or_default() += 1;
            self.latest.push_back(record);
            if self.latest.len() > LATEST {
                self.latest.pop_front();
            }
        }
        // Hold the records of the latest answers and of the requests still
        // under way, not the whole log.
        if self.by_request.len() > LATEST * 8 {
            let shown: std::collections::BTreeSet<String> = self
                .latest
                .iter()
                .filter_map(|r| r.entry.request_id.clone())
                .collect();
            while self.by_request.len() > LATEST * 4 {
                let Some(oldest) = self.seen.pop_front() else {
                    break;
                };
                if shown.contains(&oldest) {
                    self.seen.push_back(oldest);
                } else {
                    self.by_request.remove(&oldest);
                }
            }
        }
    }

    /// The series and the latest decisions, newest first.
    fn view(&self) -> (Value, Vec<Value>) {
        let latest = self
            .latest
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
                    "records": self.by_request.get(&request).cloned().unwrap_or_default(),
                })
            })
            .collect();
        (json!(self.per_minute), latest)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::audit::{AuditLog, Entry};

    #[test]
    fn each_refresh_reads_only_what_was_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        let answer = |i: usize, route: &str| {
            Entry::new(Kind::Answer, route).request(&format!("req-{i}"), "triage")
        };
        log.append(Entry::new(Kind::Route, "local").request("req-0", "triage"))
            .unwrap();
        log.append(answer(0, "local")).unwrap();
        let mut tail = LogTail::default();
        tail.read(&path).unwrap();
        let first = tail.offset;
        assert_eq!(first, std::fs::metadata(&path).unwrap().len());
        for i in 1..=LATEST + 5 {
            log.append(answer(i, if i % 2 == 0 { "local" } else { "escalate" }))
                .unwrap();
        }
        // A line still being written is left for the next refresh.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"seq\":")
            .unwrap();
        tail.read(&path).unwrap();
        assert!(tail.offset > first);
        assert_eq!(tail.offset + 7, std::fs::metadata(&path).unwrap().len());
        let (series, latest) = tail.view();
        let counts: u64 = series["triage"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|routes| routes.as_object().unwrap().values())
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(counts, LATEST as u64 + 6);
        assert_eq!(latest.len(), LATEST);
        assert_eq!(latest[0]["request_id"], format!("req-{}", LATEST + 5));
        // A shorter file (a new log) is read again from its start.
        drop(log);
        std::fs::write(&path, "").unwrap();
        let log = AuditLog::open(&path).unwrap();
        log.append(answer(99, "local")).unwrap();
        tail.read(&path).unwrap();
        assert_eq!(tail.view().1.len(), 1);
    }
}
