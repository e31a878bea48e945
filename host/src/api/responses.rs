//! `POST /v1/responses`: OpenAI's Responses API, stateless, over the same
//! policies. `input` as text or message items, `instructions`,
//! `text.format` (`json_schema`, `json_object`, `text`),
//! `max_output_tokens`, `temperature`, `top_p`, `metadata.tags`, and
//! `stream` with the Responses events (`response.created`,
//! `response.output_text.delta`, `response.completed`, …). Nothing is
//! stored: `previous_response_id` is a 400, and the answer says
//! `store: false`. Function tools, `function_call` and
//! `function_call_output` items are refused with a 400 that says so:
//! sluice does not make tool calls yet.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::openai::{self, Body};
use crate::api::stream::{self, Encode};
use crate::api::{Api, answer_headers, unix_now};
use crate::conversation::{Finish, Params, Role, Turn};
use crate::pipeline::{Outcome, Request};

#[derive(Debug, Deserialize)]
pub struct ResponsesRequest {
    pub model: String,
    pub input: Input,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub text: Option<TextConfig>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Input {
    Text(String),
    Items(Vec<Item>),
}

/// An input item: a message (`type` may be left out), or a kind sluice
/// refuses.
#[derive(Debug, Deserialize)]
pub struct Item {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub content: Option<ItemContent>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ItemContent {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TextConfig {
    #[serde(default)]
    pub format: Option<TextFormat>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TextFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        #[serde(default)]
        schema: Option<Value>,
    },
}

impl ResponsesRequest {
    fn turns(&self) -> Result<Vec<Turn>, ApiError> {
        if self.previous_response_id.is_some() {
            return Err(ApiError::invalid(
                "previous_response_id is not supported: sluice stores no responses; send the whole conversation in input",
            )
            .param("previous_response_id")
            .code("stateless"));
        }
        if self.tools.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(ApiError::invalid(
                "tools are not supported yet: sluice answers with text or a JSON schema, never a function call; send the request without tools",
            )
            .param("tools")
            .code("tools_unsupported"));
        }
        let mut turns: Vec<Turn> = self.instructions.iter().map(Turn::system).collect();
        let items = match &self.input {
            Input::Text(text) => {
                turns.push(Turn::user(text.clone()));
                return Ok(turns);
            }
            Input::Items(items) => items,
        };
        if items.is_empty() {
            return Err(ApiError::invalid("input is empty").param("input"));
        }
        for (i, item) in items.iter().enumerate() {
            let param = format!("input[{i}]");
            match item.kind.as_deref() {
                None | Some("message") => {}
                Some(kind @ ("function_call" | "function_call_output")) => {
                    return Err(ApiError::invalid(format!(
                        "{param}: {kind} items belong to tool calls, which sluice does not make yet"
                    ))
                    .param(param)
                    .code("tools_unsupported"));
                }
                Some(kind) => {
                    return Err(ApiError::invalid(format!(
                        "{param}: items of type {kind:?} are not supported; send message items"
                    ))
                    .param(param));
                }
            }
            let role = match item.role.as_deref() {
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some("system" | "developer") => Role::System,
                other => {
                    return Err(ApiError::invalid(format!(
                        "{param}.role must be user, assistant, system or developer, not {other:?}"
                    ))
                    .param(format!("{param}.role")));
                }
            };
            let text = match &item.content {
                None => String::new(),
                Some(ItemContent::Text(text)) => text.clone(),
                Some(ItemContent::Parts(parts)) => {
                    let mut text = String::new();
                    for (j, part) in parts.iter().enumerate() {
                        match (part.kind.as_str(), &part.text) {
                            ("input_text" | "output_text", Some(t)) => text.push_str(t),
                            (kind, _) => {
                                return Err(ApiError::invalid(format!(
                                    "{param}.content[{j}]: parts of type {kind:?} are not supported; sluice reads input_text and output_text"
                                ))
                                .param(format!("{param}.content[{j}]")));
                            }
                        }
                    }
                    text
                }
            };
            turns.push(Turn::new(role, text));
        }
        Ok(turns)
    }

    fn params(&self) -> Result<Params, ApiError> {
        let invalid = |param: &str, range: &str| {
            ApiError::invalid(format!("{param} must be {range}"))
                .param(param)
                .code("invalid_value")
        };
        if self.max_output_tokens == Some(0) {
            return Err(invalid("max_output_tokens", "at least 1"));
        }
        if self.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
            return Err(invalid("temperature", "between 0 and 2"));
        }
        if self.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return Err(invalid("top_p", "above 0 and at most 1"));
        }
        Ok(Params {
            max_tokens: self.max_output_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            ..Params::default()
        })
    }

    fn schema(&self) -> Result<Option<(String, Value)>, ApiError> {
        match self.text.as_ref().and_then(|t| t.format.as_ref()) {
            None | Some(TextFormat::Text) => Ok(None),
            Some(TextFormat::JsonObject) => {
                Ok(Some(("json_object".into(), json!({"type": "object"}))))
            }
            Some(TextFormat::JsonSchema { name, schema }) => {
                openai::checked_schema(name, schema.as_ref(), "text.format.schema").map(Some)
            }
        }
    }
}

pub async fn create(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Body(asked): Body<ResponsesRequest>,
) -> Result<Response, ApiError> {
    let policy = api.resolve(&asked.model)?;
    let id = super::request_id(&headers, "resp");
    let request = Request {
        id: id.clone(),
        policy,
        turns: asked.turns()?,
        params: asked.params()?,
        tags: asked
            .metadata
            .as_ref()
            .and_then(|m| m.get("tags"))
            .map(|t| openai::split_tags(t))
            .unwrap_or_default(),
        schema: asked.schema()?,
        deltas: None,
    };
    let shape = Shape {
        id: id.clone(),
        model: asked.model.clone(),
        created: unix_now(),
        instructions: asked.instructions.clone(),
        metadata: asked.metadata.clone().unwrap_or_default(),
    };
    if !asked.stream.unwrap_or(false) {
        let outcome = api.answer(request).await?;
        let body = shape.finished(&openai::content(&outcome), &outcome);
        return Ok((answer_headers(&outcome), axum::Json(body)).into_response());
    }
    let answering = stream::begin(&api, request).await?;
    let headers = answering.headers(&id);
    let events = Events {
        shape,
        sequence: 0,
        text: String::new(),
    };
    Ok((headers, stream::sse(answering, events)).into_response())
}

/// What every form of one response shares.
struct Shape {
    id: String,
    model: String,
    created: u64,
    instructions: Option<String>,
    metadata: BTreeMap<String, String>,
}

impl Shape {
    fn message_id(&self) -> String {
        format!("msg_{}", self.id)
    }

    fn message(&self, text: &str, status: &str) -> Value {
        let content = if status == "in_progress" {
            json!([])
        } else {
            json!([part(text)])
        };
        json!({"id": self.message_id(), "type": "message", "role": "assistant",
            "status": status, "content": content})
    }

    /// The response object, `in_progress` with no output yet.
    fn response(&self, status: &str) -> Value {
        json!({
            "id": self.id, "object": "response", "created_at": self.created, "status": status,
            "model": self.model, "error": null, "incomplete_details": null,
            "instructions": self.instructions, "metadata": self.metadata,
            "temperature": null, "top_p": null, "max_output_tokens": null,
            "previous_response_id": null, "store": false, "parallel_tool_calls": false,
            "tool_choice": "none", "tools": [], "truncation": "disabled",
            "text": {"format": {"type": "text"}}, "output": [], "usage": null,
        })
    }

    /// The finished response: the answer's text as one message, status
    /// `incomplete` when `max_output_tokens` cut it, usage and sluice's
    /// fields.
    fn finished(&self, text: &str, outcome: &Outcome) -> Value {
        let cut = outcome.finish == Finish::Length;
        let mut response = self.response(if cut { "incomplete" } else { "completed" });
        if cut {
            response["incomplete_details"] = json!({"reason": "max_output_tokens"});
        }
        response["completed_at"] = json!(unix_now());
        response["output"] = json!([self.message(text, "completed")]);
        let input = outcome.local.prompt_tokens + outcome.cloud.prompt_tokens;
        let output = outcome.local.completion_tokens + outcome.cloud.completion_tokens;
        response["usage"] = json!({
            "input_tokens": input,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input + output,
        });
        response["sluice"] = openai::sluice_fields(outcome);
        response
    }
}

fn part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// Responses stream events, numbered.
struct Events {
    shape: Shape,
    sequence: u64,
    /// The text sent so far.
    text: String,
}

impl Events {
    fn event(&mut self, kind: &str, mut data: Value) -> Event {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        Event::default().event(kind).data(data.to_string())
    }

    fn at(&self) -> Value {
        json!({"item_id": self.shape.message_id(), "output_index": 0, "content_index": 0})
    }
}

impl Encode for Events {
    fn open(&mut self) -> Vec<Event> {
        let response = self.shape.response("in_progress");
        let item = self.shape.message("", "in_progress");
        let mut added = self.at();
        added["part"] = part("");
        vec![
            self.event("response.created", json!({"response": response})),
            self.event("response.in_progress", json!({"response": response})),
            self.event(
                "response.output_item.added",
                json!({"output_index": 0, "item": item}),
            ),
            self.event("response.content_part.added", added),
        ]
    }

    fn text(&mut self, piece: &str) -> Vec<Event> {
        self.text.push_str(piece);
        let mut delta = self.at();
        delta["delta"] = json!(piece);
        delta["logprobs"] = json!([]);
        vec![self.event("response.output_text.delta", delta)]
    }

    fn end(&mut self, outcome: &Outcome, streamed: bool) -> Vec<Event> {
        let mut events = Vec::new();
        if !streamed {
            let text = openai::content(outcome);
            for piece in openai::pieces(&text, crate::api::chat::CHUNK_BYTES) {
                events.extend(self.text(piece));
            }
        }
        let text = self.text.clone();
        let mut done = self.at();
        done["text"] = json!(text);
        done["logprobs"] = json!([]);
        events.push(self.event("response.output_text.done", done));
        let mut part_done = self.at();
        part_done["part"] = part(&text);
        events.push(self.event("response.content_part.done", part_done));
        let item = self.shape.message(&text, "completed");
        events.push(self.event(
            "response.output_item.done",
            json!({"output_index": 0, "item": item}),
        ));
        let response = self.shape.finished(&text, outcome);
        let kind = if outcome.finish == Finish::Length {
            "response.incomplete"
        } else {
            "response.completed"
        };
        events.push(self.event(kind, json!({"response": response})));
        events
    }

    fn error(&mut self, error: &ApiError) -> Vec<Event> {
        let code = error.code.unwrap_or("server_error");
        vec![self.event(
            "error",
            json!({"code": code, "message": error.message, "param": error.param,
                "error": {"type": error.kind, "code": code, "message": error.message, "param": error.param}}),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_items_become_turns_and_state_or_tools_are_refused() {
        let asked: ResponsesRequest = openai::parse(
            br#"{"model": "m", "instructions": "Be brief.", "input": [
                {"role": "user", "content": "Hola"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hola."}]},
                {"role": "developer", "content": [{"type": "input_text", "text": "Spanish only."}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            asked.turns().unwrap(),
            vec![
                Turn::system("Be brief."),
                Turn::user("Hola"),
                Turn::assistant("Hola."),
                Turn::system("Spanish only.")
            ]
        );
        let stateful: ResponsesRequest =
            openai::parse(br#"{"model": "m", "input": "x", "previous_response_id": "resp_1"}"#)
                .unwrap();
        assert_eq!(
            stateful.turns().unwrap_err().param.as_deref(),
            Some("previous_response_id")
        );
        let output: ResponsesRequest = openai::parse(
            br#"{"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": "42"}]}"#,
        )
        .unwrap();
        assert_eq!(output.turns().unwrap_err().code, Some("tools_unsupported"));
    }
}
