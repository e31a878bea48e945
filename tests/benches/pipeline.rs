//! `cargo xtask bench pipeline [--limit N]`: CUAD dev contracts through the
//! shipped `contract-triage` policy on the real model, the real plugins and
//! the recording fake cloud (it answers a review in the risk summary
//! schema from what it was sent, so an escalation costs one real round
//! trip). Reports the share answered locally, what was sent to the cloud
//! beside an all-cloud baseline (the same system prompt with the whole
//! document), the document's own text sent (eight-word windows, within
//! the evidence passages and outside them), time per document, and the
//! host's own overhead per request (total minus model and cloud time).
//! `--tag hard` makes the router escalate every contract.

#[path = "../all/fake_cloud.rs"]
#[allow(dead_code)]
mod fake_cloud;
#[path = "common/percentile.rs"]
mod percentile;
#[path = "../all/stack.rs"]
#[allow(dead_code)]
mod stack;
#[path = "../all/support.rs"]
#[allow(dead_code)]
mod support;

use percentile::percentile;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;
use sluice::pipeline::Tier;

use support::root;

/// The first `limit` contracts of the CUAD dev split, in name order.
fn dev_contracts(limit: usize) -> Vec<PathBuf> {
    let cuad = root().join("../shared/eval/contracts/cuad");
    let dev = std::fs::read_to_string(cuad.join("master_clauses_dev.csv")).unwrap();
    let mut names: Vec<PathBuf> = std::fs::read_dir(cuad.join("contracts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy();
            dev.contains(&format!("{stem}.pdf"))
        })
        .collect();
    names.sort();
    names.truncate(limit);
    names
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let limit = args
        .iter()
        .position(|a| a == "--limit")
        .and_then(|i| args.get(i + 1))
        .map_or(50, |n| n.parse().expect("--limit N"));
    // `--tag hard` escalates every contract: what one escalation sends.
    let tags: Vec<String> = args
        .iter()
        .position(|a| a == "--tag")
        .and_then(|i| args.get(i + 1))
        .into_iter()
        .cloned()
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run(limit, tags));
}

async fn run(limit: usize, tags: Vec<String>) {
    let fake = fake_cloud::FakeCloud::start().await;
    let ws = stack::Workspace::new(&[]);
    let local = stack::model();
    let setup = stack::pipeline(&ws, &local, Some(stack::cloud_config(&fake)));
    let pipeline = &setup.pipeline;
    let policy = pipeline
        .policies
        .get("contract-triage")
        .expect("policies/contract-triage.toml");

    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    let contracts = dev_contracts(limit);
    let (mut local_answers, mut escalated, mut degraded) = (0, 0, 0);
    let (mut sent_bytes, mut sent_tokens, mut baseline_bytes, mut baseline_tokens) =
        (0u64, 0u64, 0u64, 0u64);
    let (mut evidence_windows, mut other_windows) = (0usize, 0usize);
    // One review queued at a time: the next escalation answers with it.
    let mut review_queued = false;
    let mut per_document = Vec::new();
    let mut overhead = Vec::new();
    let mut anonymise = Vec::new();
    for (i, path) in contracts.iter().enumerate() {
        let document = std::fs::read_to_string(path).unwrap();
        let before = fake.requests().len();
        if !review_queued {
            fake.script([fake_cloud::Reply::Review(fake_cloud::Reviewer::contract())]);
            review_queued = true;
        }
        let started = Instant::now();
        let outcome = pipeline
            .run(stack::request(
                &format!("bench-{i}"),
                "contract-triage",
                &document,
                &tags,
            ))
            .await
            .unwrap();
        per_document.push(started.elapsed().as_secs_f64());
        review_queued &= fake.requests().len() == before;
        match (outcome.answered_by, &outcome.degraded) {
            (_, Some(_)) => degraded += 1,
            (Tier::Local, None) => local_answers += 1,
            (Tier::Cloud, None) => escalated += 1,
        }
        sent_bytes += outcome.cloud.bytes;
        // Tokens of the message text sent, counted like the baseline's.
        for body in fake.bodies()[before..].iter() {
            for message in body["messages"].as_array().into_iter().flatten() {
                let text = message["content"].as_str().unwrap_or_default();
                sent_tokens += local.tokenizer().encode(text).len() as u64;
            }
        }
        // The all-cloud baseline: the same system prompt with the whole document.
        let whole = format!("{}{}", policy.cloud_system, document);
        baseline_bytes += whole.len() as u64;
        baseline_tokens += local.tokenizer().encode(&whole).len() as u64;
        // What was sent, the evidence passages apart from the rest.
        let (mut evidence, mut rest) = (String::new(), String::new());
        for (raw, body) in fake.requests()[before..]
            .iter()
            .zip(&fake.bodies()[before..])
        {
            let mut others = String::from_utf8_lossy(raw).into_owned();
            for message in body["messages"].as_array().into_iter().flatten() {
                let content = message["content"].as_str().unwrap_or_default();
                let Ok(mut sent) = serde_json::from_str::<Value>(content) else {
                    continue;
                };
                if let Some(passages) = sent.get_mut("evidence").map(Value::take) {
                    evidence.push_str(&passages.to_string());
                    others = others.replace(&serde_json::to_string(content).unwrap(), "");
                    rest.push_str(&sent.to_string());
                }
            }
            rest.push_str(&others);
        }
        let words: Vec<&str> = document.split_whitespace().collect();
        for window in words.windows(8).map(|w| w.join(" ")) {
            if rest.contains(&window) {
                other_windows += 1;
            } else if evidence.contains(&window) {
                evidence_windows += 1;
            }
        }
        let latency = |stage: &str| outcome.latency_ms.get(stage).copied().unwrap_or(0.0);
        overhead.push(latency("total") - latency("local") - latency("cloud"));
        anonymise.push(latency("anonymise"));
        eprintln!(
            "{:>3}/{} {:<9} {:>6.1} s  overhead {:>7.3} ms  {}",
            i + 1,
            contracts.len(),
            outcome.route,
            per_document.last().unwrap(),
            overhead.last().unwrap(),
            path.file_name().unwrap().to_string_lossy()
        );
    }
    pipeline.audit.close().unwrap();
    let n = contracts.len() as f64;
    per_document.sort_by(f64::total_cmp);
    overhead.sort_by(f64::total_cmp);
    anonymise.sort_by(f64::total_cmp);
    println!(
        "contract-triage on {} CUAD dev contracts ({}):",
        contracts.len(),
        if tags.is_empty() {
            "default thresholds".to_string()
        } else {
            format!("tags {}", tags.join(","))
        }
    );
    println!(
        "  answered locally {local_answers} ({:.0}%), escalated {escalated}, degraded {degraded}",
        100.0 * f64::from(local_answers) / n
    );
    println!(
        "  cloud bytes sent {sent_bytes} vs all-cloud {baseline_bytes}: {:.1}% below; tokens {sent_tokens} vs {baseline_tokens}: {:.1}% below",
        100.0 * (1.0 - sent_bytes as f64 / baseline_bytes as f64),
        100.0 * (1.0 - sent_tokens as f64 / baseline_tokens as f64)
    );
    println!(
        "  document text sent: {evidence_windows} eight-word windows within the pseudonymised evidence passages, {other_windows} outside them"
    );
    println!(
        "  time per document: median {:.1} s, p90 {:.1} s",
        percentile(&per_document, 0.5),
        percentile(&per_document, 0.9)
    );
    println!(
        "  host overhead per request (policy, router, anonymise, audit; model and cloud time excluded): median {:.3} ms, p99 {:.3} ms",
        percentile(&overhead, 0.5),
        percentile(&overhead, 0.99)
    );
    println!(
        "    of which anonymisation (detector as a fresh component instance): median {:.3} ms, p99 {:.3} ms",
        percentile(&anonymise, 0.5),
        percentile(&anonymise, 0.99)
    );
}
