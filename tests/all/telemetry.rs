//! OpenTelemetry traces: a receiver on 127.0.0.1 decodes what sluice
//! exports by OTLP/HTTP with the protocol's own types, and finds for one
//! request of each pattern a `chat sluice/<policy>` span with the GenAI
//! attributes and sluice's decision, and under it one span per stage, in
//! the same trace; no attribute holds the request's personal data.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use sluice::telemetry::Telemetry;

use crate::fake_cloud::{FakeCloud, Reply};
use crate::stack::{Workspace, cloud_config, model, request, routed_by, traced_pipeline};

const CLAUSE: &str = "Entre Carlos Andrés Restrepo Gómez, C.C. 79.845.123, y Inversiones Andinas S.A.S. se celebra este contrato.";

/// Spans received, decoded.
async fn receiver() -> (String, Arc<Mutex<Vec<Span>>>) {
    let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
    let kept = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let kept = kept.clone();
            async move {
                let request =
                    ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        kept.lock().unwrap().extend(scope.spans);
                    }
                }
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| {
        Some(match a.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(i) => i.to_string(),
            AnyValue::DoubleValue(d) => d.to_string(),
            AnyValue::BoolValue(b) => b.to_string(),
            other => format!("{other:?}"),
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pattern_exports_a_request_span_with_its_stages() {
    let (url, spans) = receiver().await;
    let telemetry = Arc::new(Telemetry::otlp(&url).unwrap());
    let merged = "pattern = \"parallel-merge\"\nschema = \"../schemas/intent.json\"\nsample_rate = 1.0\ntask = \"intent\"\n\
        [anonymiser]\nplugin = \"pii-detector\"\n[merger]\nplugin = \"confidence-merge\"\n";
    let ws = Workspace::new(&[
        ("routed", &routed_by("complexity-router")),
        ("merged", merged),
    ]);
    let fake = FakeCloud::start().await;
    let local = model();
    let stack = traced_pipeline(
        &ws,
        &local,
        Some(cloud_config(&fake)),
        Some(telemetry.clone()),
    );
    fake.script([
        Reply::Content(
            r#"{"intent":"contract_review","language":"es","urgent":true,"confidence_score":0.9}"#
                .into(),
        ),
        Reply::Content(
            r#"{"intent":"contract_review","language":"es","urgent":true,"confidence_score":0.9}"#
                .into(),
        ),
    ]);
    // (policy, tags, the stages its span must have)
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("local", &[], &["local", "audit"]),
        ("cloud", &[], &["anonymise", "cloud", "audit"]),
        (
            "routed",
            &["hard"],
            &["local", "router", "anonymise", "cloud", "audit"],
        ),
        ("merged", &[], &["local", "cloud", "merger", "audit"]),
        (
            "report-draft",
            &[],
            &["local", "anonymise", "cloud", "audit"],
        ),
    ];
    let mut outcomes = Vec::new();
    for (policy, tags, _) in cases {
        let outcome = stack
            .pipeline
            .run(request(&format!("traced-{policy}"), policy, CLAUSE, tags))
            .await
            .unwrap();
        outcomes.push(outcome);
    }
    telemetry.flush();
    let deadline = Instant::now() + Duration::from_secs(10);
    while spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .count()
        < cases.len()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let spans = spans.lock().unwrap().clone();

    for ((policy, _, stages), outcome) in cases.iter().zip(&outcomes) {
        let root = spans
            .iter()
            .find(|s| attribute(s, "sluice.request_id").as_deref() == Some(&outcome.request_id))
            .unwrap_or_else(|| panic!("no span for {policy}"));
        assert_eq!(root.name, format!("chat sluice/{policy}"));
        assert!(root.parent_span_id.is_empty());
        assert_eq!(
            attribute(root, "gen_ai.operation.name").as_deref(),
            Some("chat")
        );
        assert_eq!(
            attribute(root, "gen_ai.request.model"),
            Some(format!("sluice/{policy}"))
        );
        assert_eq!(attribute(root, "sluice.route"), Some(outcome.route.clone()));
        assert_eq!(
            attribute(root, "sluice.decision_id"),
            Some(outcome.decision_id.clone())
        );
        let tokens = outcome.local.prompt_tokens + outcome.cloud.prompt_tokens;
        assert_eq!(
            attribute(root, "gen_ai.usage.input_tokens"),
            Some(tokens.to_string())
        );
        let children: Vec<&Span> = spans
            .iter()
            .filter(|s| s.parent_span_id == root.span_id)
            .collect();
        for child in &children {
            assert_eq!(child.trace_id, root.trace_id);
            assert!(child.start_time_unix_nano >= root.start_time_unix_nano);
            assert!(child.end_time_unix_nano <= root.end_time_unix_nano + 1_000_000);
        }
        let names: Vec<&str> = children.iter().map(|s| s.name.as_str()).collect();
        for stage in *stages {
            assert!(
                names.contains(stage),
                "{policy}: no {stage} span in {names:?}"
            );
        }
        if let Some(cloud) = children.iter().find(|s| s.name == "cloud") {
            assert_eq!(
                attribute(cloud, "gen_ai.provider.name").as_deref(),
                Some("openai")
            );
        }
        println!("{policy}: {names:?}");
    }
    // Names, counts and ids only: nothing the requests said.
    let exported = format!("{spans:?}");
    for raw in ["Carlos", "Restrepo", "79.845.123", "Inversiones"] {
        assert!(!exported.contains(raw), "{raw} is in the exported spans");
    }
}
