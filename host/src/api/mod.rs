//! The HTTP API, on axum over hyper 1: OpenAI-compatible chat completions
//! and models, workflows, the admin API, metrics and health. Every error is
//! an OpenAI-shaped error ([`error`]); every answer carries
//! `x-sluice-route` and `x-sluice-decision-id`. This layer never decides
//! anything about a request: the pipeline does, and audits it first.
//!
//! - [`settings`]: the `[server]` table; [`auth`]: bearer keys, hashed;
//!   [`limits`]: concurrency cap (503) and deadline (504).
//! - [`openai`]: the wire format; [`chat`]: `/v1/chat/completions`,
//!   `/v1/models`; [`workflows`]: `/v1/workflows/{policy}`; [`stream`]:
//!   answers as server-sent events, in each API's format; [`messages`]:
//!   `/v1/messages` (Anthropic); [`responses`]: `/v1/responses`.
//! - [`admin`]: `/admin/*`; [`stats`]: what `/admin/stats` counts;
//!   [`metrics`]: `/metrics`.

pub mod admin;
pub mod auth;
pub mod chat;
pub mod dashboard;
pub mod documents;
pub mod error;
pub mod limits;
pub mod messages;
pub mod metrics;
pub mod openai;
pub mod responses;
pub mod settings;
pub mod stats;
pub mod stream;
pub mod workflows;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::api::error::ApiError;
use crate::pipeline::{Outcome, Pipeline, PipelineError, Request};

pub use auth::Keys;
use auth::Scope;
pub use settings::ServerSettings;

/// What every handler shares.
pub struct Api {
    pub pipeline: Arc<Pipeline>,
    pub settings: ServerSettings,
    pub keys: Keys,
    pub metrics: metrics::Metrics,
    pub stats: stats::Stats,
    /// One permit per request being answered (`server.max_concurrent`).
    pub slots: Arc<Semaphore>,
    pub started: SystemTime,
    /// What the dashboard has read of the audit log so far.
    pub dashboard: std::sync::Mutex<dashboard::LogTail>,
}

impl Api {
    pub fn new(pipeline: Arc<Pipeline>, settings: ServerSettings, keys: Keys) -> Arc<Api> {
        let slots = Arc::new(Semaphore::new(settings.max_concurrent));
        Arc::new(Api {
            metrics: metrics::Metrics::new(
                pipeline.clone(),
                slots.clone(),
                settings.max_concurrent,
            ),
            pipeline,
            settings,
            keys,
            stats: stats::Stats::default(),
            slots,
            started: SystemTime::now(),
            dashboard: Default::default(),
        })
    }

    /// The policy a model name stands for: `sluice/<policy>`, an alias, or
    /// a policy's bare name.
    pub fn resolve(&self, model: &str) -> Result<String, ApiError> {
        let name = model.strip_prefix("sluice/").unwrap_or(model);
        let name = self
            .settings
            .aliases
            .get(model)
            .map_or(name, String::as_str);
        if self.pipeline.policies.get(name).is_some() {
            return Ok(name.to_string());
        }
        let known: Vec<String> = self
            .pipeline
            .policies
            .snapshot()
            .keys()
            .map(|p| format!("sluice/{p}"))
            .chain(self.settings.aliases.keys().cloned())
            .collect();
        Err(ApiError::not_found(format!(
            "the model {model:?} does not exist: sluice serves its policies as models ({}); \
             GET /v1/models lists them",
            if known.is_empty() {
                "none loaded".into()
            } else {
                known.join(", ")
            }
        ))
        .param("model")
        .code("model_not_found"))
    }

    /// Run a request through its policy; count the outcome.
    pub async fn answer(&self, request: Request) -> Result<Outcome, ApiError> {
        let policy = request.policy.clone();
        match self.pipeline.run(request).await {
            Ok(outcome) => {
                self.stats.answered(&outcome);
                self.metrics.answered(&outcome);
                Ok(outcome)
            }
            Err(error) => {
                if !matches!(error, PipelineError::UnknownPolicy { .. }) {
                    self.stats.failed(&policy);
                }
                let error = ApiError::from(error);
                self.metrics.failed(&policy, error.code.unwrap_or("error"));
                Err(error)
            }
        }
    }
}

pub const ROUTE_HEADER: HeaderName = HeaderName::from_static("x-sluice-route");
pub const DECISION_HEADER: HeaderName = HeaderName::from_static("x-sluice-decision-id");
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// `x-sluice-route`, `x-sluice-decision-id` and `x-request-id`.
pub fn answer_headers(outcome: &Outcome) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (ROUTE_HEADER, &outcome.route),
        (DECISION_HEADER, &outcome.decision_id),
        (REQUEST_ID_HEADER, &outcome.request_id),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    headers
}

/// The caller's `x-request-id` (it decides the parallel-merge sample, so a
/// retry takes the same path), else a fresh one.
pub fn request_id(headers: &HeaderMap, prefix: &str) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(
            || {
                format!(
                    "{prefix}-{:016x}{:016x}",
                    rand::random::<u64>(),
                    rand::random::<u64>()
                )
            },
            str::to_string,
        )
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Every route, with its limits.
pub fn router(api: Arc<Api>) -> Router {
    let v1 = Router::new()
        .route("/v1/chat/completions", post(chat::complete))
        .route("/v1/models", get(chat::models))
        .route("/v1/responses", post(responses::create))
        .route("/v1/workflows/{policy}", post(workflows::run))
        .layer(from_fn_with_state(api.clone(), limits::concurrency))
        .layer(from_fn_with_state((api.clone(), Scope::Api), auth::require));
    // Anthropic's API answers its errors in its own shape, auth included.
    let anthropic = Router::new()
        .route("/v1/messages", post(messages::create))
        .layer(from_fn_with_state(api.clone(), limits::concurrency))
        .layer(from_fn_with_state((api.clone(), Scope::Api), auth::require))
        .layer(axum::middleware::from_fn(messages::anthropic_errors));
    let admin = Router::new()
        .route("/admin/plugins", get(admin::plugins))
        .route("/admin/policies", get(admin::policies))
        .route("/admin/audit", get(admin::audit))
        .route("/admin/labels", post(admin::label))
        .route("/admin/stats", get(admin::stats))
        .route("/admin/dashboard", get(dashboard::data))
        .layer(from_fn_with_state(
            (api.clone(), Scope::Admin),
            auth::require,
        ));
    let open = Router::new()
        .route("/metrics", get(metrics::render))
        .route("/healthz", get(healthz))
        // The page holds no data: what it draws comes from /admin/dashboard,
        // with the admin key.
        .route("/dashboard", get(dashboard::page))
        .route("/readyz", get(readyz));
    v1.merge(anthropic)
        .merge(admin)
        .merge(open)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(api.clone(), limits::deadline))
        .layer(from_fn_with_state(api.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(api.settings.max_body_kib << 10))
        .with_state(api)
}

/// Serve until `shutdown` resolves, then finish the requests in flight and
/// close the audit log (its last records synced to disk).
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: Arc<Api>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let pipeline = api.pipeline.clone();
    // Each streamed token leaves at once, not when the previous one is
    // acknowledged (Nagle's algorithm with a delayed ACK holds small
    // writes for up to 40 ms).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY on a connection: {e}");
        }
    });
    axum::serve(listener, router(api))
        .with_graceful_shutdown(shutdown)
        .await?;
    pipeline.audit.close()
}

async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"status": "ok"}))
}

/// Ready when a policy is loaded and every plugin a policy names is loaded
/// and not quarantined. The model is loaded before the server listens.
async fn readyz(State(api): State<Arc<Api>>) -> Response {
    let policies = api.pipeline.policies.snapshot();
    let plugins = api.pipeline.plugins.snapshot();
    let mut problems = Vec::new();
    if policies.is_empty() {
        problems.push("no policy is loaded".to_string());
    }
    for policy in policies.values() {
        for used in [&policy.router, &policy.anonymiser, &policy.merger]
            .into_iter()
            .flatten()
        {
            let status = plugins.status(&used.name);
            if !matches!(status, crate::plugins::PluginStatus::Ready { .. }) {
                problems.push(format!(
                    "policy {} needs plugin {}: {}",
                    policy.name,
                    used.name,
                    serde_json::to_string(&status).unwrap_or_default()
                ));
            }
        }
    }
    let body = json!({
        "status": if problems.is_empty() { "ready" } else { "not ready" },
        "model": api.pipeline.local.info().name,
        "chat_format": api.pipeline.local.info().chat_format,
        "policies": policies.len(),
        "plugins": plugins.plugins().count(),
        "problems": problems,
    });
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no endpoint at {}: sluice serves /v1/chat/completions, /v1/models, /v1/workflows/{{policy}}, /admin/*, /metrics, /healthz, /readyz",
        uri.path()
    ))
    .code("unknown_url")
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::invalid(format!("{} does not take {method}", uri.path()))
        .status(StatusCode::METHOD_NOT_ALLOWED)
        .code("method_not_allowed")
}
