//! Load limits in front of the handlers: a concurrency cap that answers 503
//! with `Retry-After` at once rather than queueing without bound, and a
//! deadline per request (504). The body cap is axum's `DefaultBodyLimit`
//! (413, see [`crate::api::openai::Body`]).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::api::Api;
use crate::api::error::ApiError;

pub async fn concurrency(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let Ok(_permit) = api.slots.clone().try_acquire_owned() else {
        api.metrics.overloaded();
        let error = ApiError::overloaded(format!(
            "sluice is answering {} requests, its limit (server.max_concurrent); retry after the time in Retry-After",
            api.settings.max_concurrent
        ));
        return crate::api::auth::refuse(request, error, api.settings.max_body_kib << 10).await;
    };
    next.run(request).await
}

pub async fn deadline(
    State(api): State<Arc<Api>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let limit = api.settings.request_timeout;
    tokio::time::timeout(limit, next.run(request))
        .await
        .map_err(|_| {
            ApiError::internal(format!(
                "no answer within {} s (server.request_timeout_ms)",
                limit.as_secs()
            ))
            .status(axum::http::StatusCode::GATEWAY_TIMEOUT)
            .code("timeout")
        })
}
