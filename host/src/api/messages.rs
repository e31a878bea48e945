//! `POST /v1/messages`: Anthropic's Messages API over the same policies (a
//! policy is a model name here too). `system`, `messages` with text,
//! `max_tokens` (required), `stop_sequences`, `temperature`, `top_p`,
//! `stream` with Anthropic's events (`message_start`,
//! `content_block_delta`, `message_delta`, `message_stop`); `x-api-key` is
//! accepted beside a bearer key, and every error on this path has
//! Anthropic's shape ([`anthropic_errors`]). `tool_use` and `tool_result`
//! blocks and `tools` are refused with a 400 that says so: sluice does not
//! make tool calls yet.

use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::extract::{Request as HttpRequest, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::openai::{self, Body};
use crate::api::stream::{self, Encode};
use crate::api::{Api, answer_headers};
use crate::conversation::{Finish, Params, Role, Turn};
use crate::pipeline::{Outcome, Request};

#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    pub max_tokens: u32,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub system: Option<Content>,
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    /// `user_id` is kept; `tags` (comma-separated) reach the router.
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: MessageRole,
    pub content: Content,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    User,
    Assistant,
    System,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Debug, Deserialize)]
pub struct Block {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

impl Content {
    /// The text of a message (`param` names it in errors).
    fn text(&self, param: &str) -> Result<String, ApiError> {
        let blocks = match self {
            Content::Text(text) => return Ok(text.clone()),
            Content::Blocks(blocks) => blocks,
        };
        let mut text = String::new();
        for (i, block) in blocks.iter().enumerate() {
            match (block.kind.as_str(), &block.text) {
                ("text", Some(t)) => {
                    if !text.is_empty() {
                        text.push_str("\n\n");
                    }
                    text.push_str(t);
                }
                ("text", None) => {
                    return Err(ApiError::invalid(format!(
                        "{param}[{i}]: a text block needs its text"
                    ))
                    .param(format!("{param}[{i}].text")));
                }
                ("tool_use" | "tool_result", _) => {
                    return Err(ApiError::invalid(format!(
                        "{param}[{i}]: {} blocks answer tool calls, which sluice does not make yet",
                        block.kind
                    ))
                    .param(format!("{param}[{i}]"))
                    .code("tools_unsupported"));
                }
                (kind, _) => {
                    return Err(ApiError::invalid(format!(
                        "{param}[{i}]: content of type {kind:?} is not supported; sluice reads text"
                    ))
                    .param(format!("{param}[{i}]")));
                }
            }
        }
        Ok(text)
    }
}

impl MessagesRequest {
    fn turns(&self) -> Result<Vec<Turn>, ApiError> {
        if self.messages.is_empty() {
            return Err(
                ApiError::invalid("messages is empty: send at least one user message")
                    .param("messages"),
            );
        }
        if self.tools.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(ApiError::invalid(
                "tools are not supported yet: sluice answers with text, never a tool call; send the request without tools",
            )
            .param("tools")
            .code("tools_unsupported"));
        }
        let mut turns = Vec::new();
        if let Some(system) = &self.system {
            turns.push(Turn::system(system.text("system")?));
        }
        for (i, message) in self.messages.iter().enumerate() {
            let role = match message.role {
                MessageRole::User => Role::User,
                MessageRole::Assistant => Role::Assistant,
                MessageRole::System => Role::System,
            };
            let text = message.content.text(&format!("messages[{i}].content"))?;
            turns.push(Turn::new(role, text));
        }
        Ok(turns)
    }

    fn params(&self) -> Result<Params, ApiError> {
        let invalid = |param: &str, range: &str| {
            ApiError::invalid(format!("{param} must be {range}")).param(param)
        };
        if self.max_tokens == 0 {
            return Err(invalid("max_tokens", "at least 1"));
        }
        if self.temperature.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            return Err(invalid("temperature", "between 0 and 1"));
        }
        if self.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return Err(invalid("top_p", "above 0 and at most 1"));
        }
        Ok(Params {
            max_tokens: Some(self.max_tokens),
            temperature: self.temperature,
            top_p: self.top_p,
            seed: None,
            stop: self
                .stop_sequences
                .iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect(),
        })
    }

    fn tags(&self) -> Vec<String> {
        self.metadata
            .as_ref()
            .and_then(|m| m.get("tags"))
            .and_then(Value::as_str)
            .map(openai::split_tags)
            .unwrap_or_default()
    }
}

pub async fn create(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Body(asked): Body<MessagesRequest>,
) -> Result<Response, ApiError> {
    let policy = api.resolve(&asked.model)?;
    let id = super::request_id(&headers, "msg");
    let request = Request {
        id: id.clone(),
        policy,
        turns: asked.turns()?,
        params: asked.params()?,
        tags: asked.tags(),
        schema: None,
        deltas: None,
    };
    if !asked.stream.unwrap_or(false) {
        let outcome = api.answer(request).await?;
        let body = message(&id, &asked.model, &outcome);
        return Ok((answer_headers(&outcome), axum::Json(body)).into_response());
    }
    let answering = stream::begin(&api, request).await?;
    let headers = answering.headers(&id);
    let events = Events {
        id,
        model: asked.model,
    };
    Ok((headers, stream::sse(answering, events)).into_response())
}

fn stop_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
    }
}

fn usage(outcome: &Outcome) -> (u64, u64) {
    (
        outcome.local.prompt_tokens + outcome.cloud.prompt_tokens,
        outcome.local.completion_tokens + outcome.cloud.completion_tokens,
    )
}

/// The whole answer as a Messages `message`.
fn message(id: &str, model: &str, outcome: &Outcome) -> Value {
    let (input, output) = usage(outcome);
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": openai::content(outcome)}],
        "stop_reason": stop_reason(outcome.finish),
        "stop_sequence": null,
        "usage": {"input_tokens": input, "output_tokens": output},
        "sluice": openai::sluice_fields(outcome),
    })
}

/// Messages stream events.
struct Events {
    id: String,
    model: String,
}

fn event(name: &str, data: Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

impl Encode for Events {
    fn open(&mut self) -> Vec<Event> {
        vec![
            event(
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0}}}),
            ),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
        ]
    }

    fn text(&mut self, piece: &str) -> Vec<Event> {
        vec![event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        )]
    }

    fn end(&mut self, outcome: &Outcome, streamed: bool) -> Vec<Event> {
        let mut events = Vec::new();
        if !streamed {
            let text = openai::content(outcome);
            for piece in openai::pieces(&text, crate::api::chat::CHUNK_BYTES) {
                events.extend(self.text(piece));
            }
        }
        let (input, output) = usage(outcome);
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        events.push(event(
            "message_delta",
            json!({"type": "message_delta",
                "delta": {"stop_reason": stop_reason(outcome.finish), "stop_sequence": null},
                "usage": {"input_tokens": input, "output_tokens": output},
                "sluice": openai::sluice_fields(outcome)}),
        ));
        events.push(event("message_stop", json!({"type": "message_stop"})));
        events
    }

    fn error(&mut self, error: &ApiError) -> Vec<Event> {
        vec![event("error", anthropic_body(error.status, &error.message))]
    }
}

/// Anthropic's error type for a status.
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 => "overloaded_error",
        504 => "timeout_error",
        _ => "api_error",
    }
}

fn anthropic_body(status: StatusCode, message: &str) -> Value {
    json!({"type": "error", "error": {"type": error_type(status), "message": message}})
}

/// Every error answered on this path, in Anthropic's shape: the OpenAI
/// error body the rest of the API writes (auth, limits, parsing, the
/// pipeline) is rewritten with the same status, message and headers.
pub async fn anthropic_errors(request: HttpRequest, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|b| b["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    let body = anthropic_body(status, &message).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, HttpBody::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_and_its_parameters_are_read() {
        let asked: MessagesRequest = openai::parse(
            br#"{"model": "sluice/local", "max_tokens": 32, "system": [{"type": "text", "text": "Be brief."}],
                "stop_sequences": ["END"],
                "messages": [{"role": "user", "content": "Hola"},
                             {"role": "assistant", "content": [{"type": "text", "text": "Hola."}]},
                             {"role": "user", "content": "Adios"}]}"#,
        )
        .unwrap();
        assert_eq!(
            asked.turns().unwrap(),
            vec![
                Turn::system("Be brief."),
                Turn::user("Hola"),
                Turn::assistant("Hola."),
                Turn::user("Adios")
            ]
        );
        let params = asked.params().unwrap();
        assert_eq!(params.max_tokens, Some(32));
        assert_eq!(params.stop, vec!["END".to_string()]);
    }

    #[test]
    fn without_max_tokens_or_with_tools_it_is_refused() {
        let missing = openai::parse::<MessagesRequest>(
            br#"{"model": "m", "messages": [{"role": "user", "content": "x"}]}"#,
        )
        .err()
        .unwrap();
        assert!(missing.message.contains("max_tokens"), "{missing:?}");
        let tool: MessagesRequest = openai::parse(
            br#"{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content":
                [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}]}]}"#,
        )
        .unwrap();
        assert_eq!(tool.turns().unwrap_err().code, Some("tools_unsupported"));
    }
}
