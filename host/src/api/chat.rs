//! `POST /v1/chat/completions` and `GET /v1/models`: a policy is a model
//! (`sluice/contract-triage`, or an alias from `[server.aliases]`). The
//! whole policy runs before the first byte is sent, because its decisions
//! (route, merge, fallback) decide the answer and are audited before it
//! leaves; with `stream: true` the answer is then sent as SSE chunks, with
//! the usage chunk last when `stream_options.include_usage` is set.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream;
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::openai::{self, Body, ChatRequest};
use crate::api::{Api, answer_headers, unix_now};
use crate::pipeline::Request;

/// Bytes of answer per SSE chunk.
const CHUNK_BYTES: usize = 24;

pub async fn complete(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Body(chat): Body<ChatRequest>,
) -> Result<Response, ApiError> {
    if chat.n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid(
            "sluice answers with one choice: set n to 1 or leave it out",
        )
        .param("n"));
    }
    let policy = api.resolve(&chat.model)?;
    let id = super::request_id(&headers, "chatcmpl");
    let request = Request {
        id: id.clone(),
        policy,
        document: chat.document()?,
        tags: chat.tags(),
        schema: chat.schema()?,
    };
    let outcome = api.answer(request).await?;
    let created = unix_now();
    let headers = answer_headers(&outcome);
    if !chat.stream.unwrap_or(false) {
        let body = openai::completion(&id, &chat.model, created, &outcome);
        return Ok((headers, axum::Json(body)).into_response());
    }
    let text = openai::content(&outcome);
    let mut events: Vec<Value> = Vec::new();
    let chunk = |delta: Value, finish: Option<&str>| {
        openai::chunk(&id, &chat.model, created, delta, finish)
    };
    events.push(chunk(json!({"role": "assistant", "content": ""}), None));
    for piece in openai::pieces(&text, CHUNK_BYTES) {
        events.push(chunk(json!({"content": piece}), None));
    }
    let mut last = chunk(json!({}), Some("stop"));
    last["sluice"] = openai::sluice_fields(&outcome);
    events.push(last);
    if chat
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false)
    {
        events.push(openai::usage_chunk(&id, &chat.model, created, &outcome));
    }
    let events = events
        .into_iter()
        .map(|e| Event::default().data(e.to_string()))
        .chain(std::iter::once(Event::default().data("[DONE]")))
        .map(Ok::<_, Infallible>);
    Ok((headers, Sse::new(stream::iter(events))).into_response())
}

pub async fn models(State(api): State<Arc<Api>>) -> axum::Json<Value> {
    let policies = api.pipeline.policies.snapshot();
    let mut data: Vec<Value> = policies
        .values()
        .map(|p| {
            json!({
                "id": format!("sluice/{}", p.name),
                "object": "model",
                "created": modified(&p.file),
                "owned_by": "sluice",
            })
        })
        .collect();
    for (alias, policy) in &api.settings.aliases {
        if let Some(p) = policies.get(policy) {
            data.push(json!({
                "id": alias,
                "object": "model",
                "created": modified(&p.file),
                "owned_by": "sluice",
            }));
        }
    }
    axum::Json(json!({"object": "list", "data": data}))
}

/// When a policy file last changed (Unix seconds): its version's date.
fn modified(path: &std::path::Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}
