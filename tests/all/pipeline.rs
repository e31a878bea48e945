//! The three patterns end to end, on the real local model, the real plugins
//! (`complexity-router`, `pii-detector`, `confidence-merge`) and the
//! recording fake cloud: what the cloud received, what the caller got, what
//! the audit log says; and every scripted cloud fault ending in an answer.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice::audit::{AuditLog, Filter, Kind, Record, verify};
use sluice::calibration::labels::normalise;
use sluice::cloud::{CloudClient, CloudError};
use sluice::conversation::{Params, Role};
use sluice::local::basis::Basis;
use sluice::pipeline::{Degraded, Policies, Tier, sample};
use sluice::plugins::CallSettings;
use sluice::privacy::outbound::Draft;

use crate::fake_cloud::{FakeCloud, Reply, Reviewer};
use crate::stack::{Workspace, cloud_config, model, pipeline, request, routed_by};
use crate::support::root;

fn records(audit: &Path, request_id: &str) -> Vec<Record> {
    let filter = Filter {
        request_id: Some(request_id.into()),
        ..Filter::default()
    };
    let file = std::io::BufReader::new(std::fs::File::open(audit).unwrap());
    filter.scan(file).map(|r| r.unwrap().0).collect()
}

fn kinds(records: &[Record]) -> Vec<Kind> {
    records.iter().filter_map(|r| r.entry.kind).collect()
}

fn valid(schema: &str, value: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas").join(schema)).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{value}: {errors:?}");
}

/// Every byte the fake received, as one lossy string.
fn received(fake: &FakeCloud) -> String {
    fake.requests()
        .iter()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every 40-byte window of `document` that is plain text: none may leave.
fn assert_no_window_of(document: &str, sent: &str) {
    let words: Vec<&str> = document.split_whitespace().collect();
    for window in words.windows(8) {
        let piece = window.join(" ");
        assert!(
            !sent.contains(&piece),
            "raw document text reached the cloud: {piece:?}"
        );
    }
}

/// Sentences from the LATAM eval set with a person and an identifier.
fn latam_sentences(n: usize) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(root().join("../shared/eval/pii/latam_dev.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| {
            let types: Vec<&str> = v["spans"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["type"].as_str().unwrap())
                .collect();
            types.contains(&"PERSON") && types.len() >= 2
        })
        .take(n)
        .map(|v| {
            let values = v["spans"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["type"] != "DATE")
                .map(|s| s["value"].as_str().unwrap().to_string())
                .collect();
            (v["text"].as_str().unwrap().to_string(), values)
        })
        .collect()
}

fn contract(name: &str) -> String {
    std::fs::read_to_string(
        root()
            .join("../shared/eval/contracts/cuad/contracts")
            .join(name),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_escalate_sends_the_pseudonymised_record_and_only_the_evidence_passages() {
    let ws = Workspace::new(&[]);
    let fake = FakeCloud::start().await;
    let local = model();
    let setup = pipeline(&ws, &local, Some(cloud_config(&fake)));
    let labels = sluice::calibration::labels::read(
        &root().join("../shared/eval/contracts/cuad/master_clauses_dev.csv"),
    )
    .unwrap();
    let names = [
        "ACCURAYINC_09_01_2010-EX-10.31-DISTRIBUTOR AGREEMENT.txt",
        "ACCELERATEDTECHNOLOGIESHOLDINGCORP_04_24_2003-EX-10.13-JOINT VENTURE AGREEMENT.txt",
    ];
    for (i, name) in names.iter().enumerate() {
        let document = contract(name);
        let before = fake.requests().len();
        fake.script([Reply::Review(Reviewer::contract())]);
        let outcome = setup
            .pipeline
            .run(request(
                &format!("triage-{i}"),
                "contract-triage",
                &document,
                &["hard"],
            ))
            .await
            .unwrap();
        // Escalated on the tag, reviewed by the cloud, re-identified.
        assert_eq!(outcome.route, "escalate", "{:?}", outcome.trace);
        assert_eq!(outcome.answered_by, Tier::Cloud, "{:?}", outcome.degraded);
        valid("contract_risk_summary.json", &outcome.result);
        let bodies = fake.bodies();
        assert_eq!(bodies.len(), before + 1, "one cloud call");
        let body = &bodies[before];
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(
            body["response_format"]["json_schema"]["name"],
            "contract_risk_summary"
        );
        let sent: Value =
            serde_json::from_str(body["messages"][1]["content"].as_str().unwrap()).unwrap();
        // The record, with every party pseudonymised, and its evidence.
        for party in sent["record"]["parties"].as_array().unwrap() {
            let name = party["name"].as_str().unwrap();
            assert!(
                name.starts_with("[ORGANISATION_") || name.starts_with("[PERSON_"),
                "{name}"
            );
        }
        let evidence = sent["evidence"].as_array().unwrap();
        assert!(!evidence.is_empty(), "{sent}");
        let sent_clauses: Vec<u64> = evidence
            .iter()
            .map(|e| e["clause"].as_u64().unwrap())
            .collect();
        // Restored: the cloud's placeholders are the local model's names again.
        for party in outcome.result["parties"].as_array().unwrap() {
            let name = party["name"].as_str().unwrap();
            assert!(!name.starts_with('['), "{name} was not restored");
        }
        let raw = received(&fake);
        // No eight-word window of any clause that was not sent as evidence
        // (unless the sent clauses say the same words too).
        let trimmed = document.trim();
        let passages = sluice::local::clauses::split(trimmed);
        let (sent_passages, others): (Vec<_>, Vec<_>) = passages
            .iter()
            .partition(|p| sent_clauses.contains(&(p.clause as u64)));
        let sent_text: Vec<&str> = sent_passages.iter().map(|p| p.text(trimmed)).collect();
        let sent_text = sent_text
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(!others.is_empty());
        for passage in others {
            let words: Vec<&str> = passage.text(trimmed).split_whitespace().collect();
            for window in words.windows(8) {
                let piece = window.join(" ");
                assert!(
                    !raw.contains(&piece) || sent_text.contains(&piece),
                    "text of clause {} reached the cloud: {piece:?}",
                    passage.clause
                );
            }
        }
        // No party's real name, as the model read it or as the labels give it.
        for party in outcome.result["parties"].as_array().unwrap() {
            let name = party["name"].as_str().unwrap();
            assert!(!raw.contains(name), "party {name:?} reached the cloud");
        }
        let stem = name.trim_end_matches(".txt");
        let sent_words = format!(" {} ", normalise(&raw));
        for party in &labels[stem].parties {
            assert!(
                !sent_words.contains(&format!(" {party} ")),
                "labelled party {party:?} reached the cloud"
            );
        }
        assert_eq!(outcome.cloud.calls, 1);
        assert!(outcome.cloud.cost_usd > 0.0);
        let trail = records(&ws.audit(), &format!("triage-{i}"));
        let trail_kinds = kinds(&trail);
        assert_eq!(
            trail_kinds[..3],
            [Kind::Route, Kind::Anonymise, Kind::Anonymise]
        );
        assert_eq!(trail_kinds.last(), Some(&Kind::Answer));
        // The evidence record says how much of the document went: at most a tenth.
        let evidence = trail
            .iter()
            .find(|r| r.entry.decision == "evidence")
            .expect("an evidence record");
        let share: f64 = evidence.entry.reasons[0]
            .split(" bytes (")
            .nth(1)
            .and_then(|r| r.split('%').next())
            .and_then(|p| p.parse().ok())
            .unwrap();
        assert!(share > 0.0 && share <= 10.0, "{:?}", evidence.entry.reasons);
        let answer = trail.last().unwrap();
        assert_eq!(answer.id, outcome.decision_id);
        assert_eq!(answer.entry.tiers, ["local", "cloud"]);
        assert!(
            answer
                .entry
                .pseudonyms
                .get("organisation")
                .copied()
                .unwrap_or(0)
                >= 1
        );
        let log = std::fs::read_to_string(ws.audit()).unwrap();
        for party in outcome.result["parties"].as_array().unwrap() {
            let name = party["name"].as_str().unwrap();
            assert!(!log.contains(name), "party {name:?} is in the audit log");
        }
    }
    let verified = verify(&ws.audit()).unwrap();
    assert_eq!(verified.tamper, None);
    let reloads = Filter {
        kind: Some(Kind::Reload),
        ..Filter::default()
    };
    let loaded: Vec<String> = reloads
        .scan(std::io::BufReader::new(
            std::fs::File::open(ws.audit()).unwrap(),
        ))
        .flat_map(|r| r.unwrap().0.entry.plugins)
        .map(|p| p.name)
        .collect();
    for name in [
        "pii-detector",
        "complexity-router",
        "policy:contract-triage",
    ] {
        assert!(
            loaded.iter().any(|n| n == name),
            "no reload record for {name}: {loaded:?}"
        );
    }
}

/// A triage-escalate policy on the short intent schema that always
/// escalates on the tag `hard`: quick local runs for the fault matrix.
const ALWAYS_ESCALATE: &str = r#"
pattern = "triage-escalate"
schema = "../schemas/intent.json"
lang = "es"
[router]
plugin = "complexity-router"
[router.config]
min_confidence = 0.0
max_input_tokens = 100000
escalate_tags = ["hard"]
[anonymiser]
plugin = "pii-detector"
[budget]
cloud_usd_per_day = 0.01
[limits]
timeout_ms = 60000
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cloud_fault_ends_in_an_answer_within_the_timeout() {
    let ws = Workspace::new(&[("escalate", ALWAYS_ESCALATE)]);
    let fake = FakeCloud::start().await;
    let local = model();
    let setup = pipeline(&ws, &local, Some(cloud_config(&fake)));
    let (sentence, _) = latam_sentences(1).remove(0);
    let invalid = r#"{"intent":"shopping","language":"es","urgent":false,"confidence_score":0.9}"#;
    let valid_answer =
        r#"{"intent":"other","language":"es","urgent":false,"confidence_score":0.9}"#;
    // (script, answered by the cloud?, cloud calls seen, what the trace must say)
    let cases: Vec<(&str, Vec<Reply>, Tier, usize)> = vec![
        (
            "429 then ok",
            vec![Reply::Status(429, Some("0".into()))],
            Tier::Cloud,
            2,
        ),
        ("500 x3", vec![Reply::Status(500, None); 3], Tier::Local, 3),
        ("reset then ok", vec![Reply::Reset], Tier::Cloud, 2),
        (
            "slow past the timeout",
            vec![Reply::Slow(Duration::from_secs(10))],
            Tier::Local,
            1,
        ),
        ("malformed", vec![Reply::Malformed], Tier::Local, 1),
        (
            "invalid then repaired",
            vec![
                Reply::Content(invalid.into()),
                Reply::Content(valid_answer.into()),
            ],
            Tier::Cloud,
            2,
        ),
        (
            "invalid twice",
            vec![
                Reply::Content(invalid.into()),
                Reply::Content(invalid.into()),
            ],
            Tier::Local,
            2,
        ),
        (
            "long Retry-After",
            vec![Reply::Status(429, Some("3600".into()))],
            Tier::Local,
            1,
        ),
    ];
    let timeout = Duration::from_secs(3);
    for (i, (what, script, by, calls)) in cases.into_iter().enumerate() {
        let before = fake.requests().len();
        fake.script(script);
        let started = Instant::now();
        let outcome = setup
            .pipeline
            .run(request(
                &format!("fault-{i}"),
                "escalate",
                &sentence,
                &["hard"],
            ))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let cloud_time = outcome.trace.iter().map(|s| s.ms).sum::<f64>();
        assert!(started.elapsed() < Duration::from_secs(60), "{what}");
        assert_eq!(outcome.answered_by, by, "{what}: {:?}", outcome.degraded);
        assert_eq!(fake.requests().len() - before, calls, "{what}");
        valid("intent.json", &outcome.result);
        let trail = records(&ws.audit(), &format!("fault-{i}"));
        if by == Tier::Local {
            let reason = outcome
                .degraded
                .as_ref()
                .unwrap_or_else(|| panic!("{what}: not marked degraded"));
            assert!(
                kinds(&trail).contains(&Kind::Fallback),
                "{what}: {:?}",
                kinds(&trail)
            );
            eprintln!("{what}: degraded: {reason}");
        } else {
            assert!(outcome.degraded.is_none(), "{what}: {:?}", outcome.degraded);
        }
        let cloud_ms = trail
            .last()
            .unwrap()
            .entry
            .latency_ms
            .get("cloud")
            .copied()
            .unwrap_or(0.0);
        assert!(
            cloud_ms < (timeout + Duration::from_millis(500)).as_secs_f64() * 1e3,
            "{what}: {cloud_ms} ms in the cloud stage ({cloud_time})"
        );
    }

    // A broken stream ends in an error item, not a hang.
    fake.script([Reply::BreakStream]);
    let client = CloudClient::new(cloud_config(&fake));
    let plugins = setup.pipeline.plugins.snapshot();
    let anonymiser = sluice::privacy::Anonymiser {
        plugins: &plugins,
        plugin: "pii-detector",
        settings: &CallSettings::default(),
        lang: "es",
    };
    let outbound = anonymiser
        .outbound(
            &mut sluice::privacy::Vault::new(),
            &[Draft::text(Role::User, "hola")],
        )
        .await
        .unwrap();
    let mut stream = Box::pin(
        client
            .stream(&outbound, sluice::cloud::Format::Text, &Params::default())
            .await
            .unwrap(),
    );
    use futures::StreamExt;
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item.map_err(|e| e.to_string()));
    }
    assert!(matches!(items.last(), Some(Err(_))), "{items:?}");

    // Over its budget, the policy stays local and says so; nothing is sent.
    setup.pipeline.budgets.charge("escalate", 1.0);
    let before = fake.requests().len();
    let outcome = setup
        .pipeline
        .run(request("over-budget", "escalate", &sentence, &["hard"]))
        .await
        .unwrap();
    assert_eq!(fake.requests().len(), before);
    assert_eq!(outcome.answered_by, Tier::Local);
    assert!(
        matches!(outcome.degraded, Some(Degraded::OverBudget(_))),
        "{:?}",
        outcome.degraded
    );
    assert!(kinds(&records(&ws.audit(), "over-budget")).contains(&Kind::Budget));

    // Local-only mode: escalation answers locally, marked, without a crash.
    let local_only = pipeline(&ws, &local, None);
    let outcome = local_only
        .pipeline
        .run(request("local-only", "escalate", &sentence, &["hard"]))
        .await
        .unwrap();
    assert!(
        matches!(outcome.degraded, Some(Degraded::NoCloud)),
        "{:?}",
        outcome.degraded
    );

    // After repeated failures the circuit opens and the cloud is not called.
    let mut fragile = cloud_config(&fake);
    fragile.settings.breaker.failures = 2;
    fragile.settings.retry.max_retries = 0;
    let breaking = pipeline(&ws, &local, Some(fragile));
    fake.script(vec![Reply::Status(503, None); 2]);
    for n in 0..3 {
        let before = fake.requests().len();
        let outcome = breaking
            .pipeline
            .run(request(
                &format!("breaker-{n}"),
                "escalate",
                &sentence,
                &["hard"],
            ))
            .await
            .unwrap();
        assert_eq!(outcome.answered_by, Tier::Local);
        let sent = fake.requests().len() - before;
        if n < 2 {
            assert_eq!(sent, 1, "call {n}");
        } else {
            assert_eq!(sent, 0, "the open circuit sends nothing");
            assert!(
                matches!(
                    outcome.degraded,
                    Some(Degraded::Cloud(CloudError::CircuitOpen(_)))
                ),
                "{:?}",
                outcome.degraded
            );
        }
    }
    assert_eq!(verify(&ws.audit()).unwrap().tamper, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_merge_samples_merges_and_counts_divergence() {
    let ws = Workspace::new(&[]);
    let fake = FakeCloud::start().await;
    let local = model();
    let setup = pipeline(&ws, &local, Some(cloud_config(&fake)));
    let sentences = latam_sentences(2);
    // Request ids whose deterministic sample falls under and over the 20% rate.
    let under = (0..)
        .map(|n| format!("intent-{n}"))
        .find(|id| sample(id) < 0.2)
        .unwrap();
    let over = (0..)
        .map(|n| format!("intent-{n}"))
        .find(|id| sample(id) >= 0.2)
        .unwrap();

    let outcome = setup
        .pipeline
        .run(request(&over, "intent-classify", &sentences[0].0, &[]))
        .await
        .unwrap();
    assert_eq!(
        (outcome.route.as_str(), outcome.answered_by),
        ("local", Tier::Local)
    );
    assert!(
        fake.requests().is_empty(),
        "outside the sample nothing is sent"
    );

    fake.script([Reply::Content(
        r#"{"intent":"complaint","language":"es","urgent":true,"confidence_score":0.95}"#.into(),
    )]);
    let (sentence, secrets) = &sentences[1];
    let outcome = setup
        .pipeline
        .run(request(&under, "intent-classify", sentence, &[]))
        .await
        .unwrap();
    assert_eq!(outcome.route, "parallel", "{:?}", outcome.trace);
    valid("intent.json", &outcome.result);
    assert_eq!(fake.requests().len(), 1);
    let raw = received(&fake);
    for secret in secrets {
        assert!(
            !raw.contains(secret.as_str()),
            "{secret:?} reached the cloud"
        );
    }
    let divergence = setup.pipeline.divergence.snapshot();
    let counted = &divergence["intent-classify"];
    assert_eq!(counted.compared, 1);
    let trail = records(&ws.audit(), &under);
    assert_eq!(
        kinds(&trail),
        [Kind::Route, Kind::Anonymise, Kind::Merge, Kind::Answer]
    );
    let merge = &trail[2];
    assert!(
        merge
            .entry
            .plugins
            .iter()
            .any(|p| p.name == "confidence-merge" && p.sha256.is_some())
    );
    // The scripted cloud answer differs from any local reading on at least
    // one of intent, urgent: the merger names the fields it saw diverge.
    let diverged: u64 = counted.fields.values().sum();
    assert!(diverged >= 1, "{counted:?}; local said {}", outcome.result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft_refine_sends_the_pseudonymised_draft_not_the_message() {
    let ws = Workspace::new(&[]);
    let fake = FakeCloud::start().await;
    let local = model();
    let setup = pipeline(&ws, &local, Some(cloud_config(&fake)));
    let (sentence, secrets) = latam_sentences(3).remove(2);
    let outcome = setup
        .pipeline
        .run(request("draft-1", "report-draft", &sentence, &[]))
        .await
        .unwrap();
    assert_eq!(outcome.route, "draft-refine");
    assert_eq!(outcome.answered_by, Tier::Cloud, "{:?}", outcome.degraded);
    valid("report.json", &outcome.result);
    let body = &fake.bodies()[0];
    let draft: Value =
        serde_json::from_str(body["messages"][1]["content"].as_str().unwrap()).unwrap();
    for person in draft["people"].as_array().unwrap() {
        assert!(person.as_str().unwrap().starts_with("[PERSON_"), "{draft}");
    }
    let raw = received(&fake);
    for secret in &secrets {
        assert!(
            !raw.contains(secret.as_str()),
            "{secret:?} reached the cloud"
        );
    }
    assert_no_window_of(&sentence, &raw);
    // The echoing cloud returns the draft: re-identified, it is the local draft.
    let people = outcome.result["people"].as_array().unwrap();
    for person in people {
        assert!(
            !person.as_str().unwrap().starts_with('['),
            "{}",
            outcome.result
        );
    }
    assert_eq!(
        kinds(&records(&ws.audit(), "draft-1")),
        [Kind::Route, Kind::Anonymise, Kind::Answer]
    );
}

#[test]
fn a_bad_policy_edit_keeps_the_old_version_serving() {
    let ws = Workspace::new(&[]);
    let audit = AuditLog::open(&ws.audit()).unwrap();
    let policies = Policies::load(&ws.policies(), CallSettings::default(), Some(audit));
    let _watch = sluice::pipeline::policies::watch(policies.clone()).unwrap();
    let before = policies.get("intent-classify").unwrap();
    let file = ws.policies().join("intent-classify.toml");
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, good.replace("sample_rate = 0.2", "sample_rate = 2")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while policies.rejections().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let rejection = policies.rejections()["intent-classify"].to_string();
    assert!(
        rejection.contains(
            "intent-classify.toml: sample_rate: 2 is not a share; fix: use a number from 0 to 1"
        ),
        "{rejection}"
    );
    assert_eq!(
        policies.get("intent-classify").unwrap().sha256,
        before.sha256
    );

    std::fs::write(
        &file,
        good.replace("sample_rate = 0.2", "sample_rate = 0.3"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while policies.get("intent-classify").unwrap().sample_rate != 0.3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(policies.get("intent-classify").unwrap().sample_rate, 0.3);
    assert!(policies.rejections().is_empty());
    std::fs::remove_file(&file).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while policies.get("intent-classify").is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        policies.get("intent-classify").is_none(),
        "a deleted file retires its policy"
    );
    let log = std::fs::read_to_string(ws.audit()).unwrap();
    assert!(
        log.contains(r#""kind":"rejection""#) && log.contains(r#""decision":"retired""#),
        "{log}"
    );
}

/// A calibration file beside a policy is loaded with it, hot-reloads, and
/// a bad one is refused with the old version still serving.
#[test]
fn a_calibration_file_hot_reloads_and_a_bad_one_keeps_the_old() {
    let ws = Workspace::new(&[]);
    let policies = Policies::load(&ws.policies(), CallSettings::default(), None);
    let _watch = sluice::pipeline::policies::watch(policies.clone()).unwrap();
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(done(), "timed out waiting for {what}");
    };
    assert!(
        policies
            .get("contract-triage")
            .unwrap()
            .calibration
            .is_none()
    );
    let file = ws.policies().join("contract-triage.calibration.json");
    let good = r#"{"format": "sluice-calibration/2", "fitted_on": {"documents": 8, "labels": "l.csv"},
                   "fields": {"governing_law": {"intercept": -1.0, "slope": 1.0, "basis": {"later": 2.0}}}}"#;
    std::fs::write(&file, good).unwrap();
    wait("the calibration", &|| {
        policies
            .get("contract-triage")
            .unwrap()
            .calibration
            .is_some()
    });
    let calibrated = policies.get("contract-triage").unwrap();
    let map = calibrated.calibration.as_ref().unwrap();
    // At a raw 0.5 (log-odds 0): σ(-1) for the field, σ(1) read after the opening.
    let at = map.apply("governing_law", None, 0.5).unwrap();
    assert!((at - 0.2689).abs() < 1e-4, "{at}");
    let later = map.apply("governing_law", Some(Basis::Later), 0.5).unwrap();
    assert!((later - 0.7311).abs() < 1e-4, "{later}");

    std::fs::write(&file, good.replace("\"slope\": 1.0", "\"slope\": -1.0")).unwrap();
    wait("the refusal", &|| !policies.rejections().is_empty());
    let refusal = policies.rejections()["contract-triage"].to_string();
    assert!(
        refusal.contains("calibration") && refusal.contains("negative slope"),
        "{refusal}"
    );
    assert_eq!(
        policies.get("contract-triage").unwrap().sha256,
        calibrated.sha256,
        "the old version keeps serving"
    );

    std::fs::remove_file(&file).unwrap();
    wait("the calibration to go", &|| {
        policies
            .get("contract-triage")
            .unwrap()
            .calibration
            .is_none()
    });
    assert!(policies.rejections().is_empty());
}

/// `sluice run`, the binary, on policies whose routers block in WASI (a
/// sleep, a far-future poll, an empty stdin read in a loop, an 8 MiB config
/// key in a loop): each document is answered from the local route, the
/// router stage ends within its deadline (25 ms) + 50 ms, and the audit log
/// holds one route record naming the failure and one answer record.
#[test]
fn sluice_run_answers_local_when_the_router_blocks() {
    let hostile = ["sleeper", "far-poll", "stdin-read", "config-bomb"];
    let policies: Vec<(String, String)> = hostile
        .iter()
        .map(|h| (format!("blocked-{h}"), routed_by(h)))
        .collect();
    let ws = Workspace::with_policies(&policies);
    let document = ws.dir.path().join("message.txt");
    std::fs::write(
        &document,
        "Necesito una cita el lunes para revisar mi contrato.",
    )
    .unwrap();
    let binary = root().join("target/debug/sluice");
    assert!(
        binary.exists(),
        "{} is missing: `cargo xtask test` builds it",
        binary.display()
    );
    for h in hostile {
        ws.add_plugin(&format!("testing/{h}"), h);
        let id = format!("run-{h}");
        let output = std::process::Command::new(&binary)
            .args(["run", "--policy", &format!("blocked-{h}"), "--id", &id])
            .arg("--policies")
            .arg(ws.policies())
            .arg("--audit")
            .arg(ws.audit())
            .arg("--config")
            .arg(root().join("sluice.toml"))
            .arg(&document)
            .env_remove("OPENAI_API_KEY")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{h}: {stderr}");
        assert!(stderr.contains("route local"), "{h}: {stderr}");
        let result: Value = serde_json::from_slice(&output.stdout).unwrap();
        valid("intent.json", &result);

        let trail = records(&ws.audit(), &id);
        let of = |kind: Kind| -> Vec<&Record> {
            trail
                .iter()
                .filter(|r| r.entry.kind == Some(kind))
                .collect()
        };
        let routes = of(Kind::Route);
        assert_eq!(routes.len(), 1, "{h}: {trail:?}");
        let reason = &routes[0].entry.reasons[0];
        assert!(
            reason.starts_with(&format!(
                "fallback: plugin {h} ran past its deadline of 25ms"
            )),
            "{h}: {reason}"
        );
        let answers = of(Kind::Answer);
        assert_eq!(answers.len(), 1, "{h}: {trail:?}");
        let router_ms = answers[0].entry.latency_ms["router"];
        assert!(router_ms <= 75.0, "{h}: router stage took {router_ms} ms");
    }
}
