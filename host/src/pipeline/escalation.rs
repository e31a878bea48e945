//! What leaves the machine when a local record is escalated. With
//! `escalate_with = ["fields"]` (the default) only the record goes,
//! pseudonymised. With `["fields", "evidence"]` the passages the doubtful
//! fields rest on go with it, pseudonymised too, and never more than a share
//! of the document's bytes (`evidence_share`, 10% by default): never the
//! whole document.
//!
//! The passages, in this order until the share is spent (whole passages
//! only, each once, sent in document order):
//! 1. per doubtful field (the router's `doubtful`, or every field that has
//!    evidence when it names none): the passage its value was read from, or
//!    else the passage that ranks best for it;
//! 2. for the property the host computes from the kinds of clause found
//!    (the missing-clause flags), when it is doubtful: the first passage of
//!    each kind found.

use serde::Serialize;

use crate::local::evidence::Evidence;
use crate::pipeline::stages::LocalAnswer;

/// The share of a document's bytes evidence may send, by default.
pub const DEFAULT_EVIDENCE_SHARE: f64 = 0.10;

/// One passage chosen to go to the cloud, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Quoted {
    /// The field (or kind of clause) it is evidence for.
    pub field: String,
    #[serde(flatten)]
    pub passage: Evidence,
}

/// The passages of `document` (as the local stage read it: trimmed) that go
/// with an escalated record, within `share` of its bytes.
pub fn passages(
    document: &str,
    answer: &LocalAnswer,
    doubtful: &[String],
    share: f64,
) -> Vec<Quoted> {
    let budget = (document.len() as f64 * share) as usize;
    let named: Vec<&String> = if doubtful.is_empty() {
        answer
            .fields
            .iter()
            .filter(|(_, reading)| reading.evidence.is_some())
            .map(|(field, _)| field)
            .collect()
    } else {
        doubtful.iter().collect()
    };
    let mut wanted: Vec<Quoted> = Vec::new();
    for field in named {
        let read = answer.fields.get(field).and_then(|r| r.evidence.clone());
        let best = answer.ranked.get(field).and_then(|r| r.first().cloned());
        if let Some(passage) = read.or(best) {
            wanted.push(Quoted {
                field: field.clone(),
                passage,
            });
        } else if is_flags(answer, field) {
            for (kind, found) in &answer.provisions.kinds {
                if let Some(first) = found.first() {
                    wanted.push(Quoted {
                        field: kind.clone(),
                        passage: first.clone(),
                    });
                }
            }
        }
    }
    let mut chosen: Vec<Quoted> = Vec::new();
    let mut spent = 0;
    for quoted in wanted {
        let size = quoted.passage.end - quoted.passage.start;
        let seen = chosen.iter().any(|c| c.passage == quoted.passage);
        if seen || quoted.passage.end > document.len() || spent + size > budget {
            continue;
        }
        spent += size;
        chosen.push(quoted);
    }
    chosen.sort_by_key(|q| q.passage.start);
    chosen
}

/// Whether `field` is the record's property filled from the kinds of clause
/// found: the flags named after missing kinds.
fn is_flags(answer: &LocalAnswer, field: &str) -> bool {
    let Some(Some(values)) = answer.value.get(field).map(|v| v.as_array()) else {
        return false;
    };
    let flags: Vec<&str> = values.iter().filter_map(|v| v.as_str()).collect();
    flags == answer.provisions.missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::field_confidence::FieldConfidence;
    use crate::local::provisions::Found;
    use crate::local::triage::FieldReading;
    use crate::pipeline::stages::LocalUsage;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn at(start: usize, end: usize) -> Evidence {
        Evidence {
            clause: start,
            start,
            end,
        }
    }

    fn reading(evidence: Option<Evidence>) -> FieldReading {
        FieldReading {
            basis: None,
            confidence: FieldConfidence {
                mean: 0.5,
                min: 0.5,
                chosen: 1,
            },
            calibrated: None,
            evidence,
        }
    }

    #[test]
    fn doubtful_fields_send_their_passages_within_the_share() {
        let document = "x".repeat(2000);
        let answer = LocalAnswer {
            value: json!({"governing_law": "Texas", "parties": [], "risk_flags": ["missing_insurance"]}),
            confidence: Some(0.9),
            fields: BTreeMap::from([
                ("governing_law".to_string(), reading(Some(at(900, 960)))),
                ("parties".to_string(), reading(None)),
                ("document_type".to_string(), reading(Some(at(0, 40)))),
            ]),
            provisions: Found {
                kinds: BTreeMap::from([("audit_rights".to_string(), vec![at(500, 530)])]),
                missing: vec!["missing_insurance".into()],
                ..Found::default()
            },
            ranked: BTreeMap::from([("parties".to_string(), vec![at(100, 150), at(0, 40)])]),
            document_tokens: 300,
            finish: crate::conversation::Finish::Stop,
            tool_calls: Vec::new(),
            usage: LocalUsage::default(),
            ms: 1.0,
        };
        let doubtful = ["governing_law", "parties", "risk_flags"].map(String::from);
        let sent = passages(&document, &answer, &doubtful, 0.10);
        let fields: Vec<(&str, usize)> = sent
            .iter()
            .map(|q| (q.field.as_str(), q.passage.start))
            .collect();
        assert_eq!(
            fields,
            [
                ("parties", 100),
                ("audit_rights", 500),
                ("governing_law", 900)
            ]
        );
        let bytes: usize = sent.iter().map(|q| q.passage.end - q.passage.start).sum();
        assert!(bytes <= 200, "{bytes}");

        // A smaller share drops what does not fit, whole passages only.
        let sent = passages(&document, &answer, &doubtful, 0.05);
        let fields: Vec<&str> = sent.iter().map(|q| q.field.as_str()).collect();
        assert_eq!(fields, ["audit_rights", "governing_law"]);

        // No field named: every field with evidence.
        let sent = passages(&document, &answer, &[], 0.10);
        let fields: Vec<&str> = sent.iter().map(|q| q.field.as_str()).collect();
        assert_eq!(fields, ["document_type", "governing_law"]);
    }
}
