//! Replay: fifty requests to a policy that records its router's inputs;
//! the same router replayed over them decides exactly as it did, a
//! stricter one changes exactly the decisions it should and catches the
//! answers labelled wrong that it should, and the recorded inputs hold none
//! of the names the requests carried.

use std::sync::Arc;

use serde_json::Value;
use sluice::audit::label::{self, Label, Verdict};
use sluice::audit::{Filter, Kind};
use sluice::plugins::CallSettings;

use crate::stack::{Workspace, model, pipeline, request};
use crate::support::built;

const NAMES: &[&str] = &[
    "Carlos Andrés Restrepo",
    "María Fernanda Ospina",
    "João Pedro Almeida",
    "Ana Lucía Gómez",
    "Pedro Pablo Salazar",
];
const ASKS: &[&str] = &[
    "necesito que revisen mi contrato de arrendamiento",
    "quiero pagar la factura de este mes",
    "quisiera una cita con un abogado el martes",
    "tengo una queja por la atención recibida",
    "solicito copia de mis datos personales",
    "pregunto por el estado de mi proceso",
    "necesito un poder notarial",
    "quiero cancelar mi cita del jueves",
    "tengo dudas sobre una cláusula de mi contrato",
    "por favor llámenme hoy",
];

const SCHEMA: &str = r#"{"type": "object", "additionalProperties": false,
  "required": ["intent", "client_name", "confidence_score"],
  "properties": {
    "intent": {"enum": ["contract_review", "billing", "appointment", "complaint", "data_request", "other"]},
    "client_name": {"type": "string", "maxLength": 40, "x-sluice-pii": "person"},
    "confidence_score": {"type": "number", "minimum": 0, "maximum": 1, "x-sluice-computed": "confidence"}}}"#;
const PROMPT: &str = "Classify each message to a law firm and name the client who writes it.\n\n\
Message: Soy Laura Méndez y quiero pagar la factura de octubre.\nRecord: {\"intent\":\"billing\",\"client_name\":\"Laura Méndez\"}\n\n\
Message: {document}\nRecord:";

/// The router's own settings with its tags replaced.
fn with_tags(settings: &CallSettings, tags: &str) -> CallSettings {
    let mut config = (*settings.config).clone();
    config.insert("escalate_tags".into(), tags.into());
    CallSettings {
        config: Arc::new(config),
        ..settings.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_recorded_route_contexts_reproduces_and_predicts_decisions() {
    let policy = "pattern = \"triage-escalate\"\nschema = \"../schemas/contact.json\"\ntask = \"intent\"\n\
        [router]\nplugin = \"complexity-router\"\n[router.config]\nmin_confidence = 0.0\n\
        [anonymiser]\nplugin = \"pii-detector\"\n[audit]\nrecord_inputs = true\n";
    let ws = Workspace::new(&[]);
    std::fs::write(ws.dir.path().join("schemas/contact.json"), SCHEMA).unwrap();
    std::fs::write(ws.dir.path().join("schemas/contact.prompt.txt"), PROMPT).unwrap();
    std::fs::write(ws.policies().join("recorded.toml"), policy).unwrap();
    let local = model();
    let stack = pipeline(&ws, &local, None);

    let mut sent = Vec::new();
    for i in 0..50 {
        let name = NAMES[i % NAMES.len()];
        let text = format!("Buenos días, soy {name} y {}.", ASKS[i % ASKS.len()]);
        let tags: &[&str] = match i % 5 {
            0 => &["review"],
            1 => &["hard"],
            _ => &[],
        };
        stack
            .pipeline
            .run(request(&format!("replay-{i}"), "recorded", &text, tags))
            .await
            .unwrap();
        sent.push((format!("replay-{i}"), name, tags));
    }

    // Labels: every tenth request from the first is wrong, in the log; every
    // tenth from the second is right, in the log; every tenth from the
    // fourth is right in the log and wrong in a file, which counts.
    let label = |i: usize, verdict| Label {
        request_id: format!("replay-{i}"),
        verdict,
        fields: if verdict == Verdict::Wrong {
            vec!["client_name".into()]
        } else {
            vec![]
        },
    };
    for i in 0..50 {
        let verdict = match i % 10 {
            0 => Verdict::Wrong,
            1 | 3 => Verdict::Right,
            _ => continue,
        };
        stack
            .pipeline
            .audit
            .append(label(i, verdict).entry("recorded"))
            .unwrap();
    }
    let file: String = (0..50)
        .filter(|i| i % 10 == 3)
        .map(|i| serde_json::to_string(&label(i, Verdict::Wrong)).unwrap() + "\n")
        .collect();
    let labels = label::from_lines(file.as_bytes()).unwrap();

    let log = || std::io::BufReader::new(std::fs::File::open(ws.audit()).unwrap());
    let routes: Vec<Value> = std::fs::read_to_string(ws.audit())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"] == "route" && r["policy"] == "recorded")
        .collect();
    assert_eq!(routes.len(), 50);
    // Recorded, and pseudonymised: no name the requests carried, in any
    // part or spelling the detector would leave.
    let mut placeholders = 0;
    for record in &routes {
        let recorded = record["recorded"].to_string();
        for name in NAMES {
            for part in name.split(' ') {
                assert!(!recorded.contains(part), "{part} is in {recorded}");
            }
        }
        placeholders += usize::from(recorded.contains("[PERSON_"));
        assert_eq!(record["recorded"]["task"], "intent");
    }
    println!("{placeholders} of 50 recorded triages name the client by placeholder");
    assert!(placeholders >= 25, "{placeholders}");

    let filter = Filter {
        policy: Some("recorded".into()),
        kind: Some(Kind::Route),
        ..Filter::default()
    };
    let settings = stack
        .pipeline
        .policies
        .get("recorded")
        .unwrap()
        .router
        .clone()
        .unwrap()
        .settings;
    let engine = stack.host.engine().clone();
    let candidate =
        sluice::plugins::loader::load_file(&engine, &built("complexity-router")).unwrap();

    // The same router decides every recorded decision again.
    let same = sluice::replay::routes(log(), &filter, &labels, &candidate, &settings, 5)
        .await
        .unwrap();
    assert_eq!(
        (same.decisions, same.replayed, same.changed),
        (50, 50, 0),
        "{same:?}"
    );
    assert_eq!(same.local_share_recorded, same.local_share_replayed);

    // A stricter one also escalates what is tagged for review: exactly
    // those requests change, from local to escalate.
    let stricter = with_tags(&settings, "hard,litigation,review");
    let report = sluice::replay::routes(log(), &filter, &labels, &candidate, &stricter, 50)
        .await
        .unwrap();
    let expected: Vec<&str> = routes
        .iter()
        .filter(|r| {
            let id = r["request_id"].as_str().unwrap();
            let tagged = sent
                .iter()
                .any(|(s, _, tags)| s == id && tags.contains(&"review"));
            tagged && r["decision"] == "local"
        })
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    let mut changed: Vec<&str> = report
        .examples
        .iter()
        .map(|c| c.request_id.as_str())
        .collect();
    changed.sort();
    let mut expected = expected;
    expected.sort();
    println!("{report:#?}");
    assert_eq!(changed, expected);
    assert_eq!(report.changed as usize, expected.len());
    assert!(
        report
            .examples
            .iter()
            .all(|c| c.recorded == "local" && c.replayed == "escalate")
    );
    assert!(report.local_share_replayed < report.local_share_recorded);
    assert_eq!(
        report.cloud_projected.requests,
        50 - (report.local_share_replayed * 50.0).round() as u64
    );

    // Against the labels: ten wrong (five in the log, five from the file),
    // ten right. What went to the cloud, and what would, is counted from
    // the recorded decisions and the tags.
    let decision = |i: usize| {
        routes
            .iter()
            .find(|r| r["request_id"] == format!("replay-{i}"))
            .unwrap()["decision"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let to_cloud = |d: &str| d != "local" && d != "reject";
    let replayed = |i: usize| to_cloud(&decision(i)) || i.is_multiple_of(5);
    let (wrong, right): (Vec<usize>, Vec<usize>) = (0..50)
        .filter(|i| matches!(i % 10, 0 | 1 | 3))
        .partition(|i| i % 10 != 1);
    let count =
        |set: &[usize], f: &dyn Fn(usize) -> bool| set.iter().filter(|&&i| f(i)).count() as u64;
    for (score, stricter) in [(&same.labels, false), (&report.labels, true)] {
        println!("{score:?}");
        assert_eq!((score.labelled, score.wrong), (15, 10));
        let would = |i: usize| {
            if stricter {
                replayed(i)
            } else {
                to_cloud(&decision(i))
            }
        };
        assert_eq!(
            score.wrong_to_cloud_recorded,
            count(&wrong, &|i| to_cloud(&decision(i)))
        );
        assert_eq!(score.wrong_to_cloud_replayed, count(&wrong, &would));
        assert_eq!(score.right_to_cloud_replayed, count(&right, &would));
        assert_eq!(
            score.error_recall_replayed,
            Some(count(&wrong, &would) as f64 / 10.0)
        );
    }
    // The stricter router catches the five wrong answers tagged for review.
    assert_eq!(
        report.labels.wrong_to_cloud_replayed,
        same.labels.wrong_to_cloud_replayed
            + count(&wrong, &|i| i.is_multiple_of(5) && !to_cloud(&decision(i)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_recorded_answer_pairs_reproduces_and_predicts_merges() {
    // Every request goes to both tiers; the cloud answers with a client
    // name the local model will not have written, so the records diverge.
    let policy = "pattern = \"parallel-merge\"\nschema = \"../schemas/contact.json\"\nsample_rate = 1.0\ntask = \"intent\"\n\
        [anonymiser]\nplugin = \"pii-detector\"\n[merger]\nplugin = \"confidence-merge\"\n[audit]\nrecord_inputs = true\n";
    let ws = Workspace::new(&[]);
    std::fs::write(ws.dir.path().join("schemas/contact.json"), SCHEMA).unwrap();
    std::fs::write(ws.dir.path().join("schemas/contact.prompt.txt"), PROMPT).unwrap();
    std::fs::write(ws.policies().join("merged.toml"), policy).unwrap();
    let fake = crate::fake_cloud::FakeCloud::start().await;
    let local = model();
    let stack = pipeline(&ws, &local, Some(crate::stack::cloud_config(&fake)));
    let n = 6;
    fake.script((0..n).map(|i| {
        let intent = if i % 2 == 0 {
            "billing"
        } else {
            "contract_review"
        };
        crate::fake_cloud::Reply::Content(format!(
            r#"{{"intent":"{intent}","client_name":"Sofía Herrera","confidence_score":0.9}}"#
        ))
    }));
    for i in 0..n {
        let name = NAMES[i % NAMES.len()];
        let text = format!("Buenos días, soy {name} y {}.", ASKS[i % ASKS.len()]);
        stack
            .pipeline
            .run(request(&format!("merge-{i}"), "merged", &text, &[]))
            .await
            .unwrap();
    }
    let merges: Vec<Value> = std::fs::read_to_string(ws.audit())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"] == "merge")
        .collect();
    assert_eq!(merges.len(), n);
    for record in &merges {
        let recorded = record["recorded"].to_string();
        assert!(
            record["recorded"]["local"]["json"].is_object(),
            "{recorded}"
        );
        for name in NAMES.iter().chain(&["Sofía Herrera"]) {
            for part in name.split(' ') {
                assert!(!recorded.contains(part), "{part} is in {recorded}");
            }
        }
    }

    let policy = stack.pipeline.policies.get("merged").unwrap();
    let merger = policy.merger.clone().unwrap();
    let schema = policy.schema.as_ref().unwrap().value.to_string();
    let filter = Filter {
        policy: Some("merged".into()),
        kind: Some(Kind::Merge),
        ..Filter::default()
    };
    let log = || std::io::BufReader::new(std::fs::File::open(ws.audit()).unwrap());
    let candidate =
        sluice::plugins::loader::load_file(stack.host.engine(), &built("confidence-merge"))
            .unwrap();
    let same = sluice::replay::merges(log(), &filter, &candidate, &merger.settings, &schema, n)
        .await
        .unwrap();
    assert_eq!((same.replayed, same.changed), (n as u64, 0), "{same:?}");

    // A merger that always keeps the local answer changes exactly the
    // merges that did not.
    let mut config = (*merger.settings.config).clone();
    config.insert("agree_band".into(), "0.0".into());
    let keep_local = CallSettings {
        config: Arc::new(config),
        ..merger.settings.clone()
    };
    let report = sluice::replay::merges(log(), &filter, &candidate, &keep_local, &schema, n)
        .await
        .unwrap();
    let expected = merges.iter().filter(|r| r["decision"] != "local").count();
    println!("{report:#?}");
    assert_eq!(report.changed as usize, expected);
    assert!(
        report
            .examples
            .iter()
            .all(|c| c.replayed == "local" && c.recorded != "local")
    );
    assert_eq!(report.local_share_replayed, 1.0);
}
