//! Filtering a log: records by policy, decision (the route), kind, request
//! id and time window, streamed line by line (a log can be large).

use std::io::BufRead;
use std::time::SystemTime;

use super::record::{Kind, Record};

/// Which records to keep; every field set must match.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub policy: Option<String>,
    /// The record's decision: for `route` and `answer` records, the route.
    pub decision: Option<String>,
    pub kind: Option<Kind>,
    pub request_id: Option<String>,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

fn stamp(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

impl Filter {
    /// Parse `since`/`until` as RFC 3339 (`2026-11-21T10:00:00Z`, or a date
    /// with a time and no zone, read as UTC).
    pub fn time(text: &str) -> Result<SystemTime, String> {
        humantime::parse_rfc3339_weak(text).map_err(|e| {
            format!("{text:?} is not a time ({e}); write it like 2026-11-21T10:00:00Z")
        })
    }

    pub fn matches(&self, record: &Record) -> bool {
        let entry = &record.entry;
        self.policy
            .as_ref()
            .is_none_or(|p| entry.policy.as_ref() == Some(p))
            && self.decision.as_ref().is_none_or(|d| &entry.decision == d)
            && self.kind.is_none_or(|k| entry.kind == Some(k))
            && self
                .request_id
                .as_ref()
                .is_none_or(|r| entry.request_id.as_ref() == Some(r))
            // Records carry the same RFC 3339 form: text order is time order.
            && self.since.is_none_or(|t| record.time >= stamp(t))
            && self.until.is_none_or(|t| record.time < stamp(t))
    }

    /// Every matching record of `log`, in order, with its line. Lines that
    /// are not records are skipped (`verify` is the tool for them).
    pub fn scan<R: BufRead>(
        &self,
        log: R,
    ) -> impl Iterator<Item = std::io::Result<(Record, String)>> + use<'_, R> {
        log.lines().filter_map(move |line| match line {
            Err(e) => Some(Err(e)),
            Ok(line) => {
                let record: Record = serde_json::from_str(&line).ok()?;
                self.matches(&record).then_some(Ok((record, line)))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditLog, Entry};

    #[test]
    fn filters_by_policy_decision_kind_request_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let log = AuditLog::open(&path).unwrap();
        let before = SystemTime::now() - std::time::Duration::from_secs(1);
        for (i, (policy, kind, decision)) in [
            ("contract-triage", Kind::Route, "local"),
            ("contract-triage", Kind::Route, "escalate"),
            ("intent-classify", Kind::Merge, "cloud"),
            ("contract-triage", Kind::Answer, "escalate"),
        ]
        .into_iter()
        .enumerate()
        {
            log.append(Entry::new(kind, decision).request(&format!("r{i}"), policy))
                .unwrap();
        }
        log.close().unwrap();
        let count = |filter: Filter| {
            let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
            filter
                .scan(file)
                .map(|r| r.unwrap().0.seq)
                .collect::<Vec<_>>()
        };
        assert_eq!(count(Filter::default()), [1, 2, 3, 4]);
        let triage = || Filter {
            policy: Some("contract-triage".into()),
            ..Filter::default()
        };
        assert_eq!(count(triage()), [1, 2, 4]);
        assert_eq!(
            count(Filter {
                decision: Some("escalate".into()),
                ..triage()
            }),
            [2, 4]
        );
        assert_eq!(
            count(Filter {
                kind: Some(Kind::Route),
                decision: Some("escalate".into()),
                ..triage()
            }),
            [2]
        );
        assert_eq!(
            count(Filter {
                request_id: Some("r2".into()),
                ..Filter::default()
            }),
            [3]
        );
        assert_eq!(
            count(Filter {
                since: Some(before),
                ..Filter::default()
            })
            .len(),
            4
        );
        assert!(
            count(Filter {
                until: Some(before),
                ..Filter::default()
            })
            .is_empty()
        );
        assert!(Filter::time("yesterday").is_err());
    }
}
