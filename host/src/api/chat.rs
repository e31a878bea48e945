//! `POST /v1/chat/completions` and `GET /v1/models`: a policy is a model
//! (`sluice/contract-triage`, or an alias from `[server.aliases]`).
//!
//! With `stream: true` the answer goes out as `chat.completion.chunk`
//! events ([`stream`](crate::api::stream)): tokens as the model makes them
//! for a free-text policy, the whole answer in pieces for the others; the
//! route and decision id in the last chunk's `sluice` fields, the usage
//! chunk when `stream_options.include_usage` is set, then `[DONE]`. An
//! error after the first byte is an `error` event, which the OpenAI
//! clients raise.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::response::sse::Event;
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::openai::{self, Body, ChatRequest};
use crate::api::stream::{self, Encode};
use crate::api::{Api, unix_now};
use crate::cloud::ToolCallDelta;
use crate::pipeline::{Outcome, Request};

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
    let uploads = chat.uploads()?;
    let texts = api.read_texts(&id, &policy, uploads).await?;
    let request = Request {
        id: id.clone(),
        policy,
        turns: chat.turns(&texts)?,
        params: chat.params()?,
        tags: chat.tags(),
        schema: chat.schema()?,
        tools: chat.tools()?,
        deltas: None,
    };
    let chunks = Chunks {
        include_usage: chat
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        id,
        model: chat.model,
        created: unix_now(),
    };
    stream::respond(&api, request, chat.stream.unwrap_or(false), chunks).await
}

/// Chat completion chunks.
struct Chunks {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
}

impl Chunks {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        openai::chunk(&self.id, &self.model, self.created, delta, finish)
    }
}

fn event(value: &Value) -> Event {
    Event::default().data(value.to_string())
}

impl Encode for Chunks {
    fn whole(&self, outcome: &Outcome) -> Value {
        openai::completion(&self.id, &self.model, self.created, outcome)
    }

    fn open(&mut self) -> Vec<Event> {
        vec![event(
            &self.chunk(json!({"role": "assistant", "content": ""}), None),
        )]
    }

    fn text(&mut self, piece: &str) -> Vec<Event> {
        vec![event(&self.chunk(json!({"content": piece}), None))]
    }

    fn tool_call(&mut self, piece: &ToolCallDelta) -> Vec<Event> {
        let mut call = json!({"index": piece.index, "function": {"arguments": piece.arguments}});
        if let Some(id) = &piece.id {
            call["id"] = json!(id);
            call["type"] = json!("function");
        }
        if let Some(name) = &piece.name {
            call["function"]["name"] = json!(name);
        }
        vec![event(&self.chunk(json!({"tool_calls": [call]}), None))]
    }

    fn end(&mut self, outcome: &Outcome) -> Vec<Event> {
        let mut events = Vec::new();
        let mut last = self.chunk(json!({}), Some(outcome.finish.name()));
        last["sluice"] = openai::sluice_fields(outcome);
        events.push(event(&last));
        if self.include_usage {
            events.push(event(&openai::usage_chunk(
                &self.id,
                &self.model,
                self.created,
                outcome,
            )));
        }
        events.push(Event::default().data("[DONE]"));
        events
    }

    fn error(&mut self, error: &ApiError) -> Vec<Event> {
        vec![event(&error.body()), Event::default().data("[DONE]")]
    }
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
