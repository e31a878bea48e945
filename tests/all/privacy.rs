//! Anonymisation end to end: real sentences from the eval sets, the real
//! `pii-detector` component, the real cloud client, and the recording fake
//! cloud. What the cloud receives must hold no detected value; what the
//! caller gets back must be the original, also over SSE with placeholders
//! split at every offset; and a detector that fails must stop everything.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use sluice::cloud::{CloudClient, CloudConfig};
use sluice::conversation::{Params, Role};
use sluice::plugins::{CallSettings, PluginError, PluginSet};
use sluice::privacy::outbound::{Draft, OutboundError, ask, ask_stream};
use sluice::privacy::restore::restore_json;
use sluice::privacy::{Anonymiser, Vault};

use crate::fake_cloud::{Chunks, FakeCloud};
use crate::support::{folder, host, root};

const SYSTEM: &str = "Repeat the user's text exactly.";

/// The system prompt, then `text` from the user.
fn asked(text: &str) -> [Draft<'_>; 2] {
    [
        Draft::text(Role::System, SYSTEM),
        Draft::text(Role::User, text),
    ]
}

/// Gold types whose values must never reach the cloud from latam_dev
/// sentences. Organisations and street addresses (recall below 1 on
/// latam_dev, see `cargo xtask eval pii`) and the English presidio_dev
/// sentences (person recall 0.65) are counted and printed, not asserted.
pub(crate) const ASSERTED: &[&str] = &[
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CO_CEDULA",
    "CO_NIT",
    "BR_CPF",
    "BR_CNPJ",
    "MX_CURP",
    "MX_RFC",
    "MX_CLABE",
    "BANK_ACCOUNT",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "DATE",
];

struct Sentence {
    text: String,
    lang: String,
    values: Vec<(String, String)>,
}

fn sentences(file: &str, take: usize) -> Vec<Sentence> {
    let path = root().join("../shared/eval/pii").join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .take(take)
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Sentence {
                text: v["text"].as_str().unwrap().to_string(),
                lang: v["lang"].as_str().unwrap_or("en").to_string(),
                values: v["spans"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| {
                        (
                            s["type"].as_str().unwrap().to_string(),
                            s["value"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

fn cloud(fake: &FakeCloud) -> CloudClient {
    let mut config = CloudConfig::at(&fake.url, "sk-test");
    config.settings.model = "fake".into();
    config.settings.timeout = Duration::from_secs(10);
    CloudClient::new(config)
}

fn detector_set(
    plugins: &[(&str, &str)],
) -> (
    sluice::plugins::PluginHost,
    tempfile::TempDir,
    std::sync::Arc<PluginSet>,
) {
    let host = host();
    let dir = folder(plugins);
    host.registry().load_dir(dir.path());
    let set = host.registry().snapshot();
    (host, dir, set)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn settings() -> CallSettings {
    CallSettings {
        deadline: Duration::from_millis(200),
        ..CallSettings::default()
    }
}

#[tokio::test]
async fn eval_sentences_go_out_pseudonymised_and_come_back_exactly() {
    let (_host, _dir, set) = detector_set(&[("pii-detector", "pii-detector")]);
    let fake = FakeCloud::start().await;
    let cloud = cloud(&fake);
    let settings = settings();
    let mut leaked_unasserted: BTreeMap<String, usize> = BTreeMap::new();
    const LATAM: usize = 120;
    let all: Vec<Sentence> = sentences("latam_dev.jsonl", LATAM)
        .into_iter()
        .chain(sentences("presidio_dev.jsonl", 60))
        .collect();
    for (i, s) in all.iter().enumerate() {
        let anonymiser = Anonymiser {
            plugins: &set,
            plugin: "pii-detector",
            settings: &settings,
            lang: &s.lang,
        };
        let mut vault = Vault::new();
        let answer = ask(
            &anonymiser,
            &mut vault,
            &cloud,
            &asked(&s.text),
            &Params::default(),
        )
        .await
        .unwrap();
        assert_eq!(answer.text, s.text, "round trip of {:?}", s.text);
        assert_eq!(answer.restore.unknown, 0);
        let sent = &fake.requests()[i];
        for value in vault.values() {
            assert!(!contains(sent, value), "{value:?} reached the cloud");
        }
        let latam = i < LATAM;
        for (kind, value) in &s.values {
            if contains(sent, value) {
                assert!(
                    !(latam && ASSERTED.contains(&kind.as_str())),
                    "{kind} {value:?} reached the cloud in {:?}",
                    s.text
                );
                *leaked_unasserted.entry(kind.clone()).or_default() += 1;
            }
        }
    }
    assert_eq!(fake.requests().len(), all.len());
    eprintln!("values sent unchanged, by type (not asserted): {leaked_unasserted:?}");
}

#[tokio::test]
async fn streams_are_restored_with_placeholders_split_anywhere() {
    let (_host, _dir, set) = detector_set(&[("pii-detector", "pii-detector")]);
    let fake = FakeCloud::start().await;
    let cloud = cloud(&fake);
    let settings = settings();
    let stream_once = |text: String, lang: String, chunks: Chunks| {
        let (set, cloud, fake, settings) = (&set, &cloud, &fake, &settings);
        async move {
            fake.chunk(chunks);
            let anonymiser = Anonymiser {
                plugins: set,
                plugin: "pii-detector",
                settings,
                lang: &lang,
            };
            let mut vault = Vault::new();
            let mut stream = Box::pin(
                ask_stream(
                    &anonymiser,
                    &mut vault,
                    cloud,
                    &asked(&text),
                    &Params::default(),
                )
                .await
                .unwrap(),
            );
            let mut out = String::new();
            while let Some(piece) = stream.next().await {
                out.push_str(&piece.unwrap());
            }
            out
        }
    };
    // Two sentences split into two chunks at every character.
    for s in sentences("latam_dev.jsonl", 2) {
        for k in 0..=s.text.chars().count() {
            let out = stream_once(s.text.clone(), s.lang.clone(), Chunks::At(k)).await;
            assert_eq!(out, s.text, "split at character {k}");
        }
    }
    // More sentences in chunks of 1 to 12 characters.
    for s in sentences("latam_dev.jsonl", 30).into_iter().skip(2) {
        for size in 1..=12 {
            let out = stream_once(s.text.clone(), s.lang.clone(), Chunks::Size(size)).await;
            assert_eq!(out, s.text, "chunks of {size}");
        }
    }
}

#[tokio::test]
async fn schema_marked_fields_are_pseudonymised_whatever_the_detector_says() {
    let (_host, _dir, set) = detector_set(&[("pii-detector", "pii-detector")]);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/contract_triage.json")).unwrap(),
    )
    .unwrap();
    let record = json!({
        "document_type": "CONTRATO DE ARRENDAMIENTO",
        "parties": [{"name": "Xq Zzyzx", "role": "arrendador"}, {"name": "Inversiones Qwrt", "role": "arrendatario"}],
        "governing_law": "Colombia",
        "agreement_date": "2024-03-01",
        "effective_date": null,
        "expiration_date": null,
        "risk_flags": ["no_liability_cap"],
        "escalate_to_cloud": true,
        "confidence_score": 0.4
    });
    let settings = settings();
    let anonymiser = Anonymiser {
        plugins: &set,
        plugin: "pii-detector",
        settings: &settings,
        lang: "es",
    };
    let mut vault = Vault::new();
    let out = (anonymiser.json(&mut vault, &record, &schema).await).unwrap();
    assert_eq!(
        out["parties"][0]["name"], "[ORGANISATION_1]",
        "a name no list knows is still pseudonymised, as the kind the schema marks"
    );
    assert!(out["parties"][1]["name"].as_str().unwrap().starts_with('['));
    assert_eq!(out["parties"][0]["role"], "arrendador");
    let text = out.to_string();
    assert!(!text.contains("Zzyzx") && !text.contains("Qwrt"));
    let (back, counts) = restore_json(&vault, &out);
    assert_eq!(back, record);
    assert_eq!(counts.unknown, 0);
}

#[tokio::test]
async fn a_detector_that_traps_loops_or_is_missing_sends_nothing() {
    let fake = FakeCloud::start().await;
    let cloud = cloud(&fake);
    let settings = settings();
    let text = "El arrendatario Luiza Silveira, con C.C. 5711075, paga el canon.";
    for (built, expect) in [
        ("testing/anonymiser-trap", "trap"),
        ("testing/anonymiser-loop", "deadline"),
    ] {
        let (_host, _dir, set) = detector_set(&[(built, "detector")]);
        let anonymiser = Anonymiser {
            plugins: &set,
            plugin: "detector",
            settings: &settings,
            lang: "es",
        };
        for _ in 0..6 {
            let mut vault = Vault::new();
            match ask(
                &anonymiser,
                &mut vault,
                &cloud,
                &asked(text),
                &Params::default(),
            )
            .await
            {
                Err(OutboundError::Refused(reason)) => {
                    let error = &reason.0.error;
                    assert!(
                        error.is_plugin_fault() || matches!(error, PluginError::Quarantined),
                        "{expect}: {reason}"
                    );
                }
                other => panic!("{expect}: expected a refusal, got {other:?}"),
            }
        }
        // After repeated failures it is quarantined, and still nothing is sent.
        let status = set.get("detector").map(|p| p.health.is_quarantined());
        assert_eq!(
            status,
            Some(true),
            "{expect}: quarantined after repeated failures"
        );
    }
    // Missing: the policy names a detector that is not loaded (or was deleted).
    let (_host, _dir, set) = detector_set(&[]);
    let anonymiser = Anonymiser {
        plugins: &set,
        plugin: "pii-detector",
        settings: &settings,
        lang: "es",
    };
    let mut vault = Vault::new();
    match ask(
        &anonymiser,
        &mut vault,
        &cloud,
        &asked(text),
        &Params::default(),
    )
    .await
    {
        Err(OutboundError::Refused(reason)) => {
            assert!(matches!(reason.0.error, PluginError::Missing))
        }
        other => panic!("missing detector: expected a refusal, got {other:?}"),
    }
    let mut vault = Vault::new();
    assert!(
        ask_stream(
            &anonymiser,
            &mut vault,
            &cloud,
            &asked(text),
            &Params::default()
        )
        .await
        .is_err()
    );
    assert_eq!(fake.requests().len(), 0, "no request may reach the cloud");
}
