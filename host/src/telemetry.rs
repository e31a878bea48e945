//! OpenTelemetry traces, exported by OTLP (HTTP, protobuf) when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set: one span per request, `chat sluice/<policy>`, and under it one
//! per stage the request went through (`local`, `router`, `anonymise`,
//! `cloud`, `merger`, `audit`, …), with their real start and end times.
//! Attributes follow the GenAI semantic conventions
//! (`gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.provider.name`,
//! `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`) beside
//! sluice's decision (`sluice.policy`, `sluice.route`, `sluice.answered_by`,
//! `sluice.decision_id`, `sluice.degraded`): names, counts and ids, never
//! text, so no personal data.

use std::time::SystemTime;

use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::pipeline::Outcome;

/// One stage of a request, as it happened.
#[derive(Clone, Debug)]
pub struct StageSpan {
    pub name: String,
    pub start: SystemTime,
    pub end: SystemTime,
}

pub struct Telemetry {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Telemetry {
    /// The exporter the environment asks for, if it asks for one.
    pub fn from_env() -> anyhow::Result<Option<Telemetry>> {
        let traces = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").ok();
        let base = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok();
        let endpoint = match (traces, base) {
            (Some(traces), _) => traces,
            (None, Some(base)) => format!("{}/v1/traces", base.trim_end_matches('/')),
            (None, None) => return Ok(None),
        };
        Telemetry::otlp(&endpoint).map(Some)
    }

    /// Export to the OTLP/HTTP traces endpoint `endpoint`
    /// (`http://collector:4318/v1/traces`).
    pub fn otlp(endpoint: &str) -> anyhow::Result<Telemetry> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .build()?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("sluice")
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("sluice");
        tracing::info!("exporting traces to {endpoint} (OTLP/HTTP)");
        Ok(Telemetry { provider, tracer })
    }

    /// The spans of one answered request.
    pub fn answered(&self, outcome: &Outcome, started: SystemTime, stages: &[StageSpan]) {
        let model = format!("sluice/{}", outcome.policy);
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.request.model", model.clone()),
            KeyValue::new("gen_ai.response.id", outcome.decision_id.clone()),
            KeyValue::new(
                "gen_ai.usage.input_tokens",
                (outcome.local.prompt_tokens + outcome.cloud.prompt_tokens) as i64,
            ),
            KeyValue::new(
                "gen_ai.usage.output_tokens",
                (outcome.local.completion_tokens + outcome.cloud.completion_tokens) as i64,
            ),
            KeyValue::new("sluice.policy", outcome.policy.clone()),
            KeyValue::new("sluice.request_id", outcome.request_id.clone()),
            KeyValue::new("sluice.route", outcome.route.clone()),
            KeyValue::new(
                "sluice.answered_by",
                format!("{:?}", outcome.answered_by).to_lowercase(),
            ),
            KeyValue::new("sluice.decision_id", outcome.decision_id.clone()),
            KeyValue::new("sluice.review", outcome.review),
            KeyValue::new("sluice.cloud.bytes", outcome.cloud.bytes as i64),
            KeyValue::new("sluice.cloud.cost_usd", outcome.cloud.cost_usd),
        ];
        if let Some(degraded) = &outcome.degraded {
            attributes.push(KeyValue::new("sluice.degraded", degraded.code()));
        }
        let end = stages
            .iter()
            .map(|s| s.end)
            .max()
            .unwrap_or_else(SystemTime::now);
        let mut root = self
            .tracer
            .span_builder(format!("chat {model}"))
            .with_kind(SpanKind::Server)
            .with_start_time(started)
            .with_attributes(attributes)
            .start(&self.tracer);
        let parent = Context::current().with_remote_span_context(root.span_context().clone());
        for stage in stages {
            let mut attributes = vec![KeyValue::new("sluice.stage", stage.name.clone())];
            // A model's stage is a GenAI chat call of its own.
            let chat = |provider: &'static str, input: u64, output: u64| {
                [
                    KeyValue::new("gen_ai.operation.name", "chat"),
                    KeyValue::new("gen_ai.provider.name", provider),
                    KeyValue::new("gen_ai.usage.input_tokens", input as i64),
                    KeyValue::new("gen_ai.usage.output_tokens", output as i64),
                ]
            };
            match stage.name.as_str() {
                "local" => attributes.extend(chat(
                    "sluice.local",
                    outcome.local.prompt_tokens,
                    outcome.local.completion_tokens,
                )),
                "cloud" => attributes.extend(chat(
                    "openai",
                    outcome.cloud.prompt_tokens,
                    outcome.cloud.completion_tokens,
                )),
                _ => {}
            }
            let mut span = self
                .tracer
                .span_builder(stage.name.clone())
                .with_kind(SpanKind::Internal)
                .with_start_time(stage.start)
                .with_attributes(attributes)
                .start_with_context(&self.tracer, &parent);
            span.end_with_timestamp(stage.end);
        }
        root.end_with_timestamp(end);
    }

    /// The span of a request that failed, with the error's kind (never its text).
    pub fn failed(&self, policy: &str, request_id: &str, code: &str, started: SystemTime) {
        let model = format!("sluice/{policy}");
        let mut root = self
            .tracer
            .span_builder(format!("chat {model}"))
            .with_kind(SpanKind::Server)
            .with_start_time(started)
            .with_attributes([
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.request.model", model),
                KeyValue::new("sluice.policy", policy.to_string()),
                KeyValue::new("sluice.request_id", request_id.to_string()),
                KeyValue::new("error.type", code.to_string()),
            ])
            .start(&self.tracer);
        root.set_status(Status::error(code.to_string()));
        root.end();
    }

    /// Send what is buffered (tests, shutdown).
    pub fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            tracing::warn!("flushing traces: {e}");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}
