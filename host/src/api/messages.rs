//! `POST /v1/messages`: Anthropic's Messages API over the same policies (a
//! policy is a model name here too). `system`, `messages` with text,
//! `max_tokens` (required), `stop_sequences`, `temperature`, `top_p`,
//! `stream` with Anthropic's events (`message_start`,
//! `content_block_delta`, `message_delta`, `message_stop`); `x-api-key` is
//! accepted beside a bearer key, and every error on this path has
//! Anthropic's shape ([`anthropic_errors`]). Tools: `tools` (`input_schema`),
//! `tool_choice`, `tool_use` blocks from the assistant and `tool_result`
//! blocks answering them; a call comes back as a `tool_use` block (streamed
//! as `input_json_delta`s) with `stop_reason: "tool_use"`.

use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::extract::{Request as HttpRequest, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::response::sse::Event;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Api;
use crate::api::documents::base64_bytes;
use crate::api::error::ApiError;
use crate::api::openai::{self, Body};
use crate::api::stream::{self, Encode};
use crate::cloud::ToolCallDelta;
use crate::conversation::{Finish, Params, Role, ToolCall, ToolChoice, Tools, Turn};
use crate::documents::Upload;
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
    pub tools: Option<Vec<WireTool>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
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
    /// A `tool_use` block's call.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub input: Option<Value>,
    /// A `tool_result` block's call and result.
    #[serde(default)]
    pub tool_use_id: Option<String>,
    #[serde(default)]
    pub content: Option<Content>,
    /// A `document` block's file.
    #[serde(default)]
    pub source: Option<DocumentSource>,
    #[serde(default)]
    pub title: Option<String>,
}

/// Where a `document` block's file is: inline base64 with its media type,
/// inline text, or elsewhere (a URL, the Files API), which sluice does not fetch.
#[derive(Debug, Deserialize)]
pub struct DocumentSource {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub content: Option<Content>,
}

impl Block {
    /// A `document` block's file as an upload.
    fn upload(&self, at: &str) -> Result<Upload, ApiError> {
        let source = self.source.as_ref().ok_or_else(|| {
            ApiError::invalid(format!("{at}: a document block needs its source"))
                .param(format!("{at}.source"))
        })?;
        let param = format!("{at}.source");
        let name = self.title.clone();
        match (source.kind.as_str(), &source.data) {
            ("base64", Some(data)) => Ok(Upload {
                bytes: base64_bytes(data, &format!("{param}.data"))?,
                media_type: source.media_type.clone(),
                name,
            }),
            ("text", Some(text)) => Ok(Upload {
                bytes: text.clone().into_bytes(),
                media_type: Some("text/plain".into()),
                name,
            }),
            ("content", _) => {
                let content = source.content.as_ref().ok_or_else(|| {
                    ApiError::invalid(format!("{param}: a content source needs its content"))
                        .param(format!("{param}.content"))
                })?;
                Ok(Upload {
                    bytes: content.text_only(&format!("{param}.content"))?.into_bytes(),
                    media_type: Some("text/plain".into()),
                    name,
                })
            }
            ("base64" | "text", None) => Err(ApiError::invalid(format!(
                "{param}: a {} source needs its data",
                source.kind
            ))
            .param(format!("{param}.data"))),
            (kind, _) => Err(ApiError::invalid(format!(
                "{param}: sources of type {kind:?} are not read (sluice fetches nothing from the network and has no Files API); send the file as a base64 or text source"
            ))
            .param(format!("{param}.type"))
            .code("unsupported_document_source")),
        }
    }
}

/// A tool as the Messages API offers it.
#[derive(Debug, Deserialize)]
pub struct WireTool {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub input_schema: Option<Value>,
}

impl Content {
    /// A message's turns: its text (and an assistant's `tool_use` calls) as
    /// one turn, each `tool_result` as a tool turn, which must answer a
    /// call made before it. `param` names the content in errors.
    /// `documents` are the texts of this request's document blocks, read, in order.
    fn turns(
        &self,
        role: Role,
        before: &[Turn],
        param: &str,
        documents: &mut std::slice::Iter<String>,
    ) -> Result<Vec<Turn>, ApiError> {
        let blocks = match self {
            Content::Text(text) => return Ok(vec![Turn::new(role, text.clone())]),
            Content::Blocks(blocks) => blocks,
        };
        let mut turn = Turn::new(role, "");
        let mut results = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            let at = format!("{param}[{i}]");
            match (block.kind.as_str(), role) {
                ("text", _) => {
                    let Some(text) = &block.text else {
                        return Err(ApiError::invalid(format!(
                            "{at}: a text block needs its text"
                        ))
                        .param(format!("{at}.text")));
                    };
                    if !turn.text.is_empty() {
                        turn.text.push_str("\n\n");
                    }
                    turn.text.push_str(text);
                }
                ("document", Role::User) => {
                    let document = documents.next().ok_or_else(|| {
                        ApiError::invalid(format!(
                            "{at}: documents are read from user messages only"
                        ))
                        .param(at.clone())
                    })?;
                    openai::push_document(&mut turn.text, document);
                }
                ("tool_use", Role::Assistant) => {
                    let (Some(id), Some(name)) = (&block.id, &block.name) else {
                        return Err(ApiError::invalid(format!(
                            "{at}: a tool_use block needs its id and name"
                        ))
                        .param(at));
                    };
                    turn.tool_calls.push(ToolCall {
                        id: id.clone(),
                        name: name.clone(),
                        arguments: block.input.clone().unwrap_or(json!({})).to_string(),
                    });
                }
                ("tool_result", Role::User) => {
                    let id = block.tool_use_id.clone().unwrap_or_default();
                    if !openai::answers_a_call(before, &id) {
                        return Err(ApiError::invalid(format!(
                            "{at}: a tool_result must answer a tool_use an earlier assistant message made (tool_use_id {id:?} names none)"
                        ))
                        .param(format!("{at}.tool_use_id"))
                        .code("unknown_tool_call"));
                    }
                    let text = match &block.content {
                        None => String::new(),
                        Some(content) => content.text_only(&format!("{at}.content"))?,
                    };
                    results.push(Turn {
                        tool_call_id: Some(id),
                        ..Turn::new(Role::Tool, text)
                    });
                }
                (kind, _) => {
                    return Err(ApiError::invalid(format!(
                        "{at}: a {} message cannot hold a {kind:?} block; sluice reads text, document (user), tool_use (assistant) and tool_result (user)",
                        role.name()
                    ))
                    .param(at));
                }
            }
        }
        let mut turns = results;
        if !turn.text.is_empty() || !turn.tool_calls.is_empty() {
            turns.push(turn);
        }
        Ok(turns)
    }

    /// Text blocks only (a system prompt, a tool's result).
    fn text_only(&self, param: &str) -> Result<String, ApiError> {
        let turns = self.turns(Role::System, &[], param, &mut [].iter())?;
        Ok(turns
            .into_iter()
            .map(|t| t.text)
            .collect::<Vec<_>>()
            .join("\n\n"))
    }
}

impl MessagesRequest {
    /// The `document` blocks of user messages, in order, with where each is.
    fn uploads(&self) -> Result<Vec<(String, Upload)>, ApiError> {
        let mut uploads = Vec::new();
        for (i, message) in self.messages.iter().enumerate() {
            let (MessageRole::User, Content::Blocks(blocks)) = (&message.role, &message.content)
            else {
                continue;
            };
            for (j, block) in blocks.iter().enumerate() {
                if block.kind == "document" {
                    let at = format!("messages[{i}].content[{j}]");
                    uploads.push((at.clone(), block.upload(&at)?));
                }
            }
        }
        Ok(uploads)
    }

    /// The conversation; `documents` are the texts of the uploads, read, in order.
    fn turns(&self, documents: &[String]) -> Result<Vec<Turn>, ApiError> {
        let mut documents = documents.iter();
        if self.messages.is_empty() {
            return Err(
                ApiError::invalid("messages is empty: send at least one user message")
                    .param("messages"),
            );
        }
        let mut turns = Vec::new();
        if let Some(system) = &self.system {
            turns.push(Turn::system(system.text_only("system")?));
        }
        for (i, message) in self.messages.iter().enumerate() {
            let role = match message.role {
                MessageRole::User => Role::User,
                MessageRole::Assistant => Role::Assistant,
                MessageRole::System => Role::System,
            };
            let more = message.content.turns(
                role,
                &turns,
                &format!("messages[{i}].content"),
                &mut documents,
            )?;
            turns.extend(more);
        }
        Ok(turns)
    }

    /// The tools offered and `tool_choice` (`auto`, `any`, `tool`, `none`).
    fn tools(&self) -> Result<Tools, ApiError> {
        let offered = self
            .tools
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, t)| openai::Offered {
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: t.input_schema.clone(),
                at: format!("tools[{i}].name"),
                schema_at: format!("tools[{i}].input_schema"),
            })
            .collect();
        let choice = match &self.tool_choice {
            None => ToolChoice::Auto,
            Some(choice) => match (choice["type"].as_str(), choice["name"].as_str()) {
                (Some("auto"), _) => ToolChoice::Auto,
                (Some("any"), _) => ToolChoice::Required,
                (Some("none"), _) => ToolChoice::None,
                (Some("tool"), Some(name)) => ToolChoice::Function(name.to_string()),
                _ => {
                    return Err(ApiError::invalid(
                        "tool_choice must be {\"type\": \"auto\"}, {\"type\": \"any\"}, {\"type\": \"none\"} or {\"type\": \"tool\", \"name\": ...}",
                    )
                    .param("tool_choice"));
                }
            },
        };
        let mut tools = openai::checked_tools(offered, choice)?;
        tools.parallel = self
            .tool_choice
            .as_ref()
            .and_then(|c| c["disable_parallel_tool_use"].as_bool())
            .map(|disabled| !disabled);
        Ok(tools)
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
    let uploads = asked.uploads()?;
    let texts = api.read_texts(&id, &policy, uploads).await?;
    let request = Request {
        id: id.clone(),
        policy,
        turns: asked.turns(&texts)?,
        params: asked.params()?,
        tags: asked.tags(),
        schema: None,
        tools: asked.tools()?,
        deltas: None,
    };
    let events = Events {
        id,
        model: asked.model,
        open: 0,
        calls: Vec::new(),
    };
    stream::respond(&api, request, asked.stream.unwrap_or(false), events).await
}

fn stop_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCalls => "tool_use",
    }
}

fn usage(outcome: &Outcome) -> (u64, u64) {
    (
        outcome.local.prompt_tokens + outcome.cloud.prompt_tokens,
        outcome.local.completion_tokens + outcome.cloud.completion_tokens,
    )
}

/// The answer's content blocks: its text, then a `tool_use` per call.
fn blocks(outcome: &Outcome) -> Vec<Value> {
    let text = openai::content(outcome);
    let mut blocks = Vec::new();
    if !text.is_empty() || outcome.tool_calls.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    blocks.extend(outcome.tool_calls.iter().map(
        |c| json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input(&c.arguments)}),
    ));
    blocks
}

/// A call's arguments as the object `input` is.
fn input(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| json!({}))
}

/// The whole answer as a Messages `message`.
fn message(id: &str, model: &str, outcome: &Outcome) -> Value {
    let (input, output) = usage(outcome);
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks(outcome),
        "stop_reason": stop_reason(outcome.finish),
        "stop_sequence": null,
        "usage": {"input_tokens": input, "output_tokens": output},
        "sluice": openai::sluice_fields(outcome),
    })
}

/// Messages stream events: the text block first (index 0), then a
/// `tool_use` block per call, each opened, filled and stopped in turn.
struct Events {
    id: String,
    model: String,
    /// The block being written.
    open: usize,
    /// The block of each call, by the call's index.
    calls: Vec<u32>,
}

fn event(name: &str, data: Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

impl Events {
    fn stop(&self) -> Event {
        event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": self.open}),
        )
    }
}

impl Encode for Events {
    fn whole(&self, outcome: &Outcome) -> Value {
        message(&self.id, &self.model, outcome)
    }

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
            json!({"type": "content_block_delta", "index": self.open, "delta": {"type": "text_delta", "text": piece}}),
        )]
    }

    fn tool_call(&mut self, piece: &ToolCallDelta) -> Vec<Event> {
        let mut events = Vec::new();
        if !self.calls.contains(&piece.index) {
            events.push(self.stop());
            self.calls.push(piece.index);
            self.open = self.calls.len();
            events.push(event(
                "content_block_start",
                json!({"type": "content_block_start", "index": self.open, "content_block": {
                    "type": "tool_use", "id": piece.id.clone().unwrap_or_default(),
                    "name": piece.name.clone().unwrap_or_default(), "input": {}}}),
            ));
        }
        if !piece.arguments.is_empty() {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": self.open,
                    "delta": {"type": "input_json_delta", "partial_json": piece.arguments}}),
            ));
        }
        events
    }

    fn end(&mut self, outcome: &Outcome) -> Vec<Event> {
        let mut events = Vec::new();
        let (input, output) = usage(outcome);
        events.push(self.stop());
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
            asked.turns(&[]).unwrap(),
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
    fn without_max_tokens_it_is_refused_and_tool_results_answer_calls() {
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
        assert_eq!(tool.turns(&[]).unwrap_err().code, Some("unknown_tool_call"));
        let answered: MessagesRequest = openai::parse(
            br#"{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Cali"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "Sunny"}]}]}],
                "tools": [{"name": "weather", "input_schema": {"type": "object"}}], "tool_choice": {"type": "any"}}"#,
        )
        .unwrap();
        let turns = answered.turns(&[]).unwrap();
        assert_eq!(turns[1].tool_calls[0].arguments, r#"{"city":"Cali"}"#);
        assert_eq!(turns[2].role, Role::Tool);
        assert_eq!(turns[2].text, "Sunny");
        assert_eq!(answered.tools().unwrap().choice, ToolChoice::Required);
    }
}
