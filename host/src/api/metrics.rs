//! `GET /metrics` in the Prometheus text format (the Prometheus project's
//! own client): HTTP requests and latency per endpoint, answers per policy
//! and route, latency histograms per pipeline stage, 503s from the
//! concurrency cap; and, read at each scrape, plugin calls and failures,
//! cloud retries and circuit state, the local model's queue depth and the
//! requests in flight.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;

use crate::api::Api;
use crate::cloud::Circuit;
use crate::pipeline::{Outcome, Pipeline};

type Labels = Vec<(&'static str, String)>;
/// A per-plugin counter read at scrape time: name, help, reader.
type PluginCounter = (
    &'static str,
    &'static str,
    fn(&crate::plugins::Plugin) -> u64,
);
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

/// 0.25 ms to about 70 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 19))
}

pub struct Metrics {
    registry: Registry,
    http_requests: Family<Labels, Counter>,
    http_seconds: Histograms,
    answers: Family<Labels, Counter>,
    stage_seconds: Histograms,
    failures: Family<Labels, Counter>,
    overloaded: Counter,
}

impl Metrics {
    pub fn new(pipeline: Arc<Pipeline>, slots: Arc<Semaphore>, max_concurrent: usize) -> Metrics {
        let mut registry = Registry::with_prefix("sluice");
        let http_requests = Family::<Labels, Counter>::default();
        let http_seconds = Histograms::new_with_constructor(latency_histogram);
        let answers = Family::<Labels, Counter>::default();
        let stage_seconds = Histograms::new_with_constructor(latency_histogram);
        let failures = Family::<Labels, Counter>::default();
        let overloaded = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests by endpoint, method and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by endpoint",
            http_seconds.clone(),
        );
        registry.register(
            "answers",
            "Answers by policy, route, answering tier and whether degraded",
            answers.clone(),
        );
        registry.register(
            "stage_duration_seconds",
            "Time spent per pipeline stage (local, cloud, router, anonymise, merger, total)",
            stage_seconds.clone(),
        );
        registry.register(
            "request_failures",
            "Requests that ended in an error, by policy and error code",
            failures.clone(),
        );
        registry.register(
            "overloaded",
            "Requests refused with 503 because server.max_concurrent were in flight",
            overloaded.clone(),
        );
        registry.register_collector(Box::new(Live {
            pipeline,
            slots,
            max_concurrent,
        }));
        Metrics {
            registry,
            http_requests,
            http_seconds,
            answers,
            stage_seconds,
            failures,
            overloaded,
        }
    }

    pub fn answered(&self, outcome: &Outcome) {
        let tier = serde_json::to_value(outcome.answered_by)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.answers
            .get_or_create(&vec![
                ("policy", outcome.policy.clone()),
                ("route", outcome.route.clone()),
                ("answered_by", tier),
                ("degraded", outcome.degraded.is_some().to_string()),
            ])
            .inc();
        for (stage, ms) in &outcome.latency_ms {
            self.stage_seconds
                .get_or_create(&vec![("stage", stage.clone())])
                .observe(ms / 1e3);
        }
    }

    pub fn failed(&self, policy: &str, code: &str) {
        self.failures
            .get_or_create(&vec![
                ("policy", policy.to_string()),
                ("code", code.to_string()),
            ])
            .inc();
    }

    pub fn overloaded(&self) {
        self.overloaded.inc();
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Values owned elsewhere, read at each scrape.
#[derive(Debug)]
struct Live {
    pipeline: Arc<Pipeline>,
    slots: Arc<Semaphore>,
    max_concurrent: usize,
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let plugins = self.pipeline.plugins.snapshot();
        let counters: [PluginCounter; 2] = [
            ("plugin_calls", "Calls per loaded plugin version", |p| {
                p.health.calls()
            }),
            (
                "plugin_failures",
                "Failed calls (trap, timeout, limit, bad output) per loaded plugin version",
                |p| p.health.failures(),
            ),
        ];
        for (name, help, read) in counters {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for plugin in plugins.plugins() {
                let labels = [
                    ("plugin", plugin.name.as_str()),
                    ("version", plugin.short_sha()),
                ];
                ConstCounter::new(read(plugin)).encode(family.encode_family(&labels)?)?;
            }
        }
        let gauge = |encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64| {
            let metric = ConstGauge::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
        };
        gauge(
            &mut encoder,
            "local_queue_depth",
            "Requests waiting for the local model",
            self.pipeline.local.queue_depth() as i64,
        )?;
        let in_flight = self
            .max_concurrent
            .saturating_sub(self.slots.available_permits());
        gauge(
            &mut encoder,
            "in_flight_requests",
            "Requests being answered",
            in_flight as i64,
        )?;
        if let Some(cloud) = &self.pipeline.cloud {
            let retries = ConstCounter::new(cloud.retries());
            retries.encode(encoder.encode_descriptor(
                "cloud_retries",
                "Cloud calls retried (429, 5xx, connection failures)",
                None,
                retries.metric_type(),
            )?)?;
            let open = match cloud.circuit() {
                Circuit::Closed => 0,
                Circuit::HalfOpen => 1,
                Circuit::Open => 2,
            };
            gauge(
                &mut encoder,
                "cloud_circuit",
                "The cloud circuit breaker: 0 closed, 1 half-open, 2 open",
                open,
            )?;
        }
        Ok(())
    }
}

/// Count and time every HTTP request by its route pattern.
pub async fn track(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    api.metrics
        .http_seconds
        .get_or_create(&vec![("path", path.clone())])
        .observe(started.elapsed().as_secs_f64());
    api.metrics
        .http_requests
        .get_or_create(&vec![
            ("path", path),
            ("method", method),
            ("status", status),
        ])
        .inc();
    response
}

pub async fn render(State(api): State<Arc<Api>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        api.metrics.render(),
    )
        .into_response()
}
