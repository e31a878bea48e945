//! The audit log under a real crash: a process appending records from four
//! threads is killed with SIGKILL; every request it reported as answered is
//! in the verified prefix, and reopening the log cuts a torn last line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use sluice::audit::{AuditLog, Tamper, verify};

#[test]
fn sigkill_under_load_keeps_every_answered_request_in_the_verified_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_audit-load"))
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut answered = Vec::new();
    while answered.len() < 5_000 {
        answered.push(lines.next().unwrap().unwrap());
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // What it printed before it died is still in the pipe.
    answered.extend(lines.map_while(Result::ok));

    let verified = verify(&path).unwrap();
    assert!(
        matches!(verified.tamper, None | Some(Tamper::Torn { .. })),
        "{:?}",
        verified.tamper
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let logged: std::collections::HashSet<String> = text
        .lines()
        .take(verified.records)
        .map(|l| {
            let record: serde_json::Value = serde_json::from_str(l).unwrap();
            record["request_id"].as_str().unwrap().to_string()
        })
        .collect();
    let missing: Vec<&String> = answered.iter().filter(|id| !logged.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered requests are not in the verified prefix of {} records: {:?}",
        missing.len(),
        answered.len(),
        verified.records,
        &missing[..missing.len().min(5)]
    );

    // A restart continues the chain after cutting what the crash tore.
    let log = AuditLog::open(&path).unwrap();
    log.append(sluice::audit::Entry::new(
        sluice::audit::Kind::Answer,
        "local",
    ))
    .unwrap();
    log.close().unwrap();
    let after = verify(&path).unwrap();
    assert_eq!(after.tamper, None);
    assert!(after.records > verified.records);
}
