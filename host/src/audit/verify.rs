//! Checking a log: every line must parse, carry the next sequence number and
//! the sha256 of the line before it. The first line that does not is named,
//! with what most likely happened to it.
//!
//! A chain without a secret proves that the log was not changed *in the
//! middle*: someone who rewrites every line from some point on, recomputing
//! the hashes, is caught only against a head hash kept elsewhere
//! (`sluice audit verify --head`).

use std::path::Path;

use anyhow::Context as _;

use super::digest;
use super::record::{GENESIS, Record};

/// What is wrong with a log, at the first line where it shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tamper {
    #[error("line {line} was edited: it is not an audit record ({reason})")]
    Unreadable { line: usize, reason: String },
    #[error("line {line} was edited: its hash no longer matches the one line {} carries", line + 1)]
    Edited { line: usize },
    #[error("records {first} to {last} were deleted: they are missing after line {after}")]
    Deleted { after: usize, first: u64, last: u64 },
    #[error("line {line} was inserted: the line after it links to the line before it")]
    Inserted { line: usize },
    #[error("line {line} is out of order: it holds record {seq}, record {expected} was due")]
    Reordered {
        line: usize,
        seq: u64,
        expected: u64,
    },
    #[error("the log ends with a half-written line {line} (a crash during a write)")]
    Torn { line: usize },
    #[error(
        "the last record's hash is {found}, not the expected head {expected}: the log was rewritten or cut"
    )]
    Head { found: String, expected: String },
}

/// The outcome: how many records verify, the head of the verified prefix,
/// and the first problem after it.
#[derive(Debug)]
pub struct Verified {
    pub records: usize,
    /// The sha256 of the last verified line (the chain's head).
    pub head: String,
    pub tamper: Option<Tamper>,
}

/// Verify the log at `path`.
pub fn verify(path: &Path) -> anyhow::Result<Verified> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading the audit log {}", path.display()))?;
    Ok(verify_bytes(&bytes))
}

/// Verify, and also require the chain to end at `head` (a hash kept
/// elsewhere).
pub fn verify_against(path: &Path, head: &str) -> anyhow::Result<Verified> {
    let mut verified = verify(path)?;
    if verified.tamper.is_none() && verified.head != head {
        verified.tamper = Some(Tamper::Head {
            found: verified.head.clone(),
            expected: head.to_string(),
        });
    }
    Ok(verified)
}

struct Line<'a> {
    bytes: &'a [u8],
    record: Option<Record>,
}

pub fn verify_bytes(bytes: &[u8]) -> Verified {
    let mut parts: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // `split` leaves the text after the last newline: empty for a whole log.
    let torn = parts.pop().filter(|rest| !rest.is_empty()).is_some();
    let lines: Vec<Line> = parts
        .iter()
        .map(|bytes| Line {
            bytes,
            record: serde_json::from_slice(bytes).ok(),
        })
        .collect();
    let mut head = GENESIS.to_string();
    let mut expected_seq = 1;
    for (i, line) in lines.iter().enumerate() {
        let number = i + 1;
        let Some(record) = &line.record else {
            let reason = serde_json::from_slice::<Record>(line.bytes)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            return broken(
                i,
                head,
                Tamper::Unreadable {
                    line: number,
                    reason,
                },
            );
        };
        if record.seq == expected_seq && record.prev == head {
            head = digest(line.bytes);
            expected_seq += 1;
            continue;
        }
        let tamper = diagnose(&lines, i, expected_seq, &head);
        return broken(i, head, tamper);
    }
    Verified {
        records: lines.len(),
        head,
        tamper: torn.then_some(Tamper::Torn {
            line: lines.len() + 1,
        }),
    }
}

fn broken(verified: usize, head: String, tamper: Tamper) -> Verified {
    Verified {
        records: verified,
        head,
        tamper: Some(tamper),
    }
}

/// Line `i` (0-based) is the first that does not follow: say why.
fn diagnose(lines: &[Line], i: usize, expected: u64, head: &str) -> Tamper {
    let number = i + 1;
    let record = lines[i].record.as_ref().expect("parsed");
    let seq_of = |j: usize| lines.get(j).and_then(|l| l.record.as_ref()).map(|r| r.seq);
    if record.seq == expected {
        // In place, but the line before is not what this one hashed.
        return Tamper::Edited { line: number - 1 };
    }
    if record.seq > expected {
        if (i + 1..lines.len()).any(|j| seq_of(j) == Some(expected)) {
            return Tamper::Reordered {
                line: number,
                seq: record.seq,
                expected,
            };
        }
        return Tamper::Deleted {
            after: number - 1,
            first: expected,
            last: record.seq - 1,
        };
    }
    // A sequence number already seen: this line and the one before it
    // compete for one place; the line after says which it links to.
    let next_prev = lines
        .get(i + 1)
        .and_then(|l| l.record.as_ref())
        .map(|r| r.prev.as_str());
    if i >= 1 && next_prev == Some(digest(lines[i - 1].bytes).as_str()) {
        return Tamper::Inserted { line: number };
    }
    if i >= 1 && next_prev == Some(digest(lines[i].bytes).as_str()) {
        return Tamper::Inserted { line: number - 1 };
    }
    if record.prev == head {
        return Tamper::Inserted { line: number };
    }
    Tamper::Reordered {
        line: number,
        seq: record.seq,
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditLog, Entry, Kind};

    fn log_of(n: usize) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let log = AuditLog::open(&path).unwrap();
        for i in 0..n {
            log.append(
                Entry::new(Kind::Route, if i % 2 == 0 { "local" } else { "escalate" })
                    .request(&format!("req-{i}"), "contract-triage"),
            )
            .unwrap();
        }
        log.close().unwrap();
        std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn check(lines: &[String]) -> Verified {
        let mut text = lines.join("\n");
        text.push('\n');
        verify_bytes(text.as_bytes())
    }

    #[test]
    fn every_kind_of_tampering_is_named() {
        let lines = log_of(6);
        let clean = check(&lines);
        assert_eq!((clean.records, clean.tamper), (6, None));

        let mut edited = lines.clone();
        edited[2] = edited[2].replace("req-2", "req-9");
        assert_eq!(check(&edited).tamper, Some(Tamper::Edited { line: 3 }));

        let mut garbled = lines.clone();
        garbled[4].truncate(10);
        assert!(matches!(
            check(&garbled).tamper,
            Some(Tamper::Unreadable { line: 5, .. })
        ));

        let mut deleted = lines.clone();
        deleted.remove(3);
        assert_eq!(
            check(&deleted).tamper,
            Some(Tamper::Deleted {
                after: 3,
                first: 4,
                last: 4
            })
        );

        let mut copied = lines.clone();
        copied.insert(2, lines[1].clone());
        assert_eq!(check(&copied).tamper, Some(Tamper::Inserted { line: 3 }));

        let mut forged = lines.clone();
        let fake = lines[2].replace("req-2", "req-forged");
        forged.insert(3, fake);
        assert_eq!(check(&forged).tamper, Some(Tamper::Inserted { line: 4 }));

        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        assert_eq!(
            check(&swapped).tamper,
            Some(Tamper::Reordered {
                line: 2,
                seq: 3,
                expected: 2
            })
        );

        let mut truncated_tail = lines.join("\n");
        truncated_tail.push('\n');
        truncated_tail.push_str(r#"{"seq":7"#);
        let torn = verify_bytes(truncated_tail.as_bytes());
        assert_eq!(
            (torn.records, torn.tamper),
            (6, Some(Tamper::Torn { line: 7 }))
        );
    }
}
