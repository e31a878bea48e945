//! Shadow plugins: a policy with the shipped router active and a stricter
//! one in shadow answers exactly as the same policy without a shadow; each
//! of its decisions has one `shadow` record linked to it, and what
//! `/admin/stats` says of the shadow is what a count over the audit log
//! says.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice::api::ServerSettings;

use crate::api::{Server, USER_KEY, intact, start_in};
use crate::stack::{Workspace, routed_by};

const MESSAGES: &[(&str, &[&str])] = &[
    (
        "Necesito que revisen el contrato de arrendamiento antes del viernes.",
        &[],
    ),
    ("Quiero pagar la factura de noviembre.", &["review"]),
    ("Can I book an appointment with a lawyer next Tuesday?", &[]),
    (
        "Gostaria de reclamar do atendimento que recebi ontem.",
        &["review"],
    ),
    ("Por favor envíenme una copia de mis datos personales.", &[]),
    (
        "This is urgent: the other party breached the contract.",
        &["hard"],
    ),
];

async fn workflow(server: &Server, policy: &str, id: &str, text: &str, tags: &[&str]) -> Value {
    let response = server
        .http
        .post(format!("{}/v1/workflows/{policy}", server.url))
        .header("authorization", format!("Bearer {USER_KEY}"))
        .header("x-request-id", id)
        .json(&json!({"document": text, "metadata": {"tags": tags}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn records(server: &Server) -> Vec<Value> {
    std::fs::read_to_string(server.ws.audit())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The `shadow` records, once `n` have arrived (they are written off the
/// request's path) or 20 s have passed.
async fn shadow_records(server: &Server, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let shadows: Vec<Value> = records(server)
            .into_iter()
            .filter(|r| r["kind"] == "shadow")
            .collect();
        if shadows.len() >= n || Instant::now() > deadline {
            return shadows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_router_is_asked_audited_and_counted_but_never_acted_on() {
    // The active router escalates on its tags alone; the shadow also on `review`.
    let plain = format!(
        "{}[router.config]\nmin_confidence = 0.0\n",
        routed_by("complexity-router")
    );
    let shadowed = format!(
        "{plain}[shadow.router]\nplugin = \"complexity-router\"\ndeadline_ms = 50\n[shadow.router.config]\nmin_confidence = 0.0\nescalate_tags = [\"hard\", \"litigation\", \"review\"]\n"
    );
    let ws = Workspace::with_policies(&[("plain".into(), plain), ("shadowed".into(), shadowed)]);
    let server = start_in(ws, ServerSettings::default()).await;

    for (i, (text, tags)) in MESSAGES.iter().enumerate() {
        let plain = workflow(&server, "plain", &format!("plain-{i}"), text, tags).await;
        let with_shadow = workflow(&server, "shadowed", &format!("shadowed-{i}"), text, tags).await;
        // The shadow changes nothing the caller sees.
        for key in ["route", "answered_by", "result", "degraded", "review"] {
            assert_eq!(plain[key], with_shadow[key], "{key} of message {i}");
        }
    }

    let shadows = shadow_records(&server, MESSAGES.len()).await;
    assert_eq!(shadows.len(), MESSAGES.len(), "{shadows:#?}");
    let all = records(&server);
    let mut agreements = 0;
    let mut to_cloud = 0;
    for (i, (_, tags)) in MESSAGES.iter().enumerate() {
        let id = format!("shadowed-{i}");
        let mine: Vec<&Value> = shadows
            .iter()
            .filter(|r| r["request_id"] == id.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "{id}: {mine:#?}");
        let shadow = mine[0];
        // Linked to the active route record of the same request.
        let active = all
            .iter()
            .find(|r| r["id"] == shadow["shadows"]["record"])
            .expect("the linked record is in the log");
        assert_eq!(
            (active["kind"].as_str(), active["request_id"].as_str()),
            (Some("route"), Some(id.as_str()))
        );
        assert_eq!(shadow["shadows"]["active"], active["decision"]);
        assert_eq!(shadow["inputs"], active["inputs"], "the same inputs");
        assert_eq!(shadow["plugins"][1]["name"], "complexity-router");
        // The stricter router escalates what the active one does, and
        // everything tagged for review.
        let expected = if tags.contains(&"review") {
            "escalate"
        } else {
            active["decision"].as_str().unwrap()
        };
        assert_eq!(shadow["decision"], expected, "{id}: {shadow}");
        let agrees = shadow["decision"] == active["decision"];
        assert_eq!(shadow["shadows"]["agrees"], agrees);
        agreements += u64::from(agrees);
        to_cloud += u64::from(shadow["decision"] != "local");
    }
    println!(
        "{agreements} of {} shadow decisions agreed; {to_cloud} would have gone to the cloud",
        MESSAGES.len()
    );
    // The two messages tagged for review, and only those, disagree.
    assert_eq!(agreements, MESSAGES.len() as u64 - 2);
    // The plain policy has no shadow records.
    assert!(!shadows.iter().any(|r| r["policy"] == "plain"));

    let stats = server.admin("/admin/stats").await.body;
    let shadow = &stats["shadow"]["shadowed"];
    assert_eq!(shadow["decisions"], MESSAGES.len(), "{stats}");
    assert_eq!(shadow["agreements"], agreements, "{stats}");
    assert_eq!(shadow["to_cloud"], to_cloud, "{stats}");
    assert_eq!(shadow["decided"]["escalate"], to_cloud, "{stats}");
    let policy = &stats["policies"]["shadowed"];
    let projected = match policy["answered_by_cloud"].as_u64().unwrap() {
        0 => Value::Null,
        n => json!(policy["cloud_cost_usd"].as_f64().unwrap() / n as f64 * to_cloud as f64),
    };
    assert_eq!(shadow["projected_cloud_cost_usd"], projected, "{stats}");
    assert!(stats["shadow"].get("plain").is_none(), "{stats}");
    intact(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_merger_is_asked_beside_the_merger_with_the_same_candidates() {
    // Every request goes to both tiers; the shadow keeps the local answer
    // whatever the agreement (agree_band 0), the active merger only when
    // the two agree.
    let merged = "pattern = \"parallel-merge\"\nschema = \"../schemas/intent.json\"\nsample_rate = 1.0\ntask = \"intent\"\n\
        [anonymiser]\nplugin = \"pii-detector\"\n[merger]\nplugin = \"confidence-merge\"\n\
        [shadow.merger]\nplugin = \"confidence-merge\"\n[shadow.merger.config]\nagree_band = 0.0\n";
    let server = start_in(
        Workspace::with_policies(&[("merged".into(), merged.into())]),
        ServerSettings::default(),
    )
    .await;
    let cloud_answer =
        json!({"intent": "billing", "language": "es", "urgent": true, "confidence_score": 0.9})
            .to_string();
    let n = 3;
    server
        .fake
        .script((0..n).map(|_| crate::fake_cloud::Reply::Content(cloud_answer.clone())));
    for (i, (text, tags)) in MESSAGES.iter().take(n).enumerate() {
        workflow(&server, "merged", &format!("merged-{i}"), text, tags).await;
    }
    let shadows = shadow_records(&server, n).await;
    assert_eq!(shadows.len(), n, "{shadows:#?}");
    let all = records(&server);
    for shadow in &shadows {
        let active = all
            .iter()
            .find(|r| r["id"] == shadow["shadows"]["record"])
            .unwrap();
        assert_eq!(active["kind"], "merge");
        assert_eq!(active["request_id"], shadow["request_id"]);
        assert_eq!(shadow["decision"], "local", "{shadow}");
        assert_eq!(shadow["shadows"]["agrees"], active["decision"] == "local");
    }
    let stats = server.admin("/admin/stats").await.body;
    assert_eq!(stats["shadow"]["merged"]["decided"]["local"], n, "{stats}");
    intact(&server);
}
