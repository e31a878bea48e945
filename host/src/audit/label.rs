//! Labels: a reviewer's verdict on what a request was answered, kept in the
//! log as a `label` record beside the request's own records (`POST
//! /admin/labels`) or in a file of JSON lines kept elsewhere (a labelled
//! set read back by its request ids). Replay scores a candidate router's
//! escalations against them: of the answers labelled wrong, how many it
//! would have sent to the cloud.
//!
//! A label names fields, never values: `{"request_id": "…", "verdict":
//! "wrong", "fields": ["parties"]}`. The latest label of a request is the
//! one that counts.

use std::collections::HashMap;
use std::io::BufRead;

use serde::{Deserialize, Serialize};

use super::record::{Entry, Kind, Record};

/// Fields named in one label, at most.
const MAX_FIELDS: usize = 64;
/// Bytes of one field name or request id, at most.
const MAX_NAME: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Right,
    Wrong,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::Right => "right",
            Verdict::Wrong => "wrong",
        }
    }
}

/// One verdict on one request's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub request_id: String,
    pub verdict: Verdict,
    /// The fields found wrong (a `wrong` verdict may name none: the answer
    /// as a whole); a `right` verdict names none.
    #[serde(default)]
    pub fields: Vec<String>,
}

impl Label {
    /// Checked before it is kept: ids and field names are short identifiers
    /// (a label is no place for text that could hold personal data).
    pub fn check(&self) -> Result<(), String> {
        let identifier = |s: &str| {
            !s.is_empty()
                && s.len() <= MAX_NAME
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
        };
        if !identifier(&self.request_id) {
            return Err(format!(
                "request_id must be 1 to {MAX_NAME} letters, digits or -_.:/"
            ));
        }
        if self.fields.len() > MAX_FIELDS {
            return Err(format!("a label names at most {MAX_FIELDS} fields"));
        }
        if let Some(bad) = self.fields.iter().find(|f| !identifier(f)) {
            return Err(format!(
                "field {bad:?} is not a field name (1 to {MAX_NAME} letters, digits or -_.:/)"
            ));
        }
        if self.verdict == Verdict::Right && !self.fields.is_empty() {
            return Err("a right verdict names no fields".into());
        }
        Ok(())
    }

    /// The label as a record of the request's policy.
    pub fn entry(&self, policy: &str) -> Entry {
        Entry::new(Kind::Label, self.verdict.name())
            .request(&self.request_id, policy)
            .reasons(self.fields.iter().cloned())
    }

    pub fn wrong(&self) -> bool {
        self.verdict == Verdict::Wrong
    }

    /// The label a `label` record keeps; `None` for any other record.
    pub fn from_record(record: &Record) -> Option<Label> {
        if record.entry.kind != Some(Kind::Label) {
            return None;
        }
        let verdict = match record.entry.decision.as_str() {
            "right" => Verdict::Right,
            "wrong" => Verdict::Wrong,
            _ => return None,
        };
        Some(Label {
            request_id: record.entry.request_id.clone()?,
            verdict,
            fields: record.entry.reasons.clone(),
        })
    }
}

/// The latest label of each request, by request id.
pub type Labels = HashMap<String, Label>;

/// Labels kept outside the log: one JSON label per line (blank lines
/// skipped); a line that is not a valid label is an error naming its line.
pub fn from_lines(lines: impl BufRead) -> Result<Labels, String> {
    let mut labels = Labels::new();
    for (n, line) in lines.lines().enumerate() {
        let line = line.map_err(|e| format!("line {}: {e}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let label: Label =
            serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", n + 1))?;
        label.check().map_err(|e| format!("line {}: {e}", n + 1))?;
        labels.insert(label.request_id.clone(), label);
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_checked_and_the_latest_counts() {
        let lines = "{\"request_id\":\"a\",\"verdict\":\"wrong\",\"fields\":[\"parties\"]}\n\n\
            {\"request_id\":\"b\",\"verdict\":\"right\"}\n\
            {\"request_id\":\"a\",\"verdict\":\"right\"}\n";
        let labels = from_lines(lines.as_bytes()).unwrap();
        assert_eq!(labels.len(), 2);
        assert!(!labels["a"].wrong());
        let bad = [
            "{\"request_id\":\"a\",\"verdict\":\"maybe\"}",
            "{\"request_id\":\"a b\",\"verdict\":\"wrong\"}",
            "{\"request_id\":\"a\",\"verdict\":\"wrong\",\"fields\":[\"Carlos Restrepo\"]}",
            "{\"request_id\":\"a\",\"verdict\":\"right\",\"fields\":[\"parties\"]}",
            "{\"request_id\":\"a\",\"verdict\":\"wrong\",\"note\":\"x\"}",
        ];
        for line in bad {
            let error = from_lines(format!("\n{line}\n").as_bytes()).unwrap_err();
            assert!(error.starts_with("line 2: "), "{line}: {error}");
        }
    }

    #[test]
    fn a_label_record_reads_back_as_the_label() {
        let label = Label {
            request_id: "req-1".into(),
            verdict: Verdict::Wrong,
            fields: vec!["parties".into(), "governing_law".into()],
        };
        let dir = tempfile::tempdir().unwrap();
        let log = crate::audit::AuditLog::open(&dir.path().join("audit.jsonl")).unwrap();
        let record = log.append(label.entry("triage")).unwrap();
        assert_eq!(record.entry.policy.as_deref(), Some("triage"));
        assert_eq!(Label::from_record(&record), Some(label));
        let other = log.append(Entry::new(Kind::Route, "local")).unwrap();
        assert_eq!(Label::from_record(&other), None);
    }
}
