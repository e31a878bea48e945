//! `POST /v1/responses`: OpenAI's Responses API, stateless, over the same
//! policies. `input` as text or message items, `instructions`,
//! `text.format` (`json_schema`, `json_object`, `text`),
//! `max_output_tokens`, `temperature`, `top_p`, `metadata.tags`, and
//! `stream` with the Responses events (`response.created`,
//! `response.output_text.delta`, `response.completed`, …). Nothing is
//! stored: `previous_response_id` is a 400, and the answer says
//! `store: false`. Function tools and `tool_choice`; `function_call` items
//! (the model's earlier calls) and `function_call_output` items answering
//! them; a call comes back as a `function_call` output item (streamed as
//! `response.function_call_arguments.delta`s).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::response::sse::Event;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::openai::{self, Body};
use crate::api::stream::{self, Encode};
use crate::api::{Api, unix_now};
use crate::cloud::ToolCallDelta;
use crate::conversation::{Finish, Params, Role, ToolCall, ToolChoice, Tools, Turn};
use crate::documents::Upload;
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
    pub tools: Option<Vec<WireTool>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
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
    /// A `function_call` item's call, or the call a `function_call_output`
    /// answers.
    #[serde(default)]
    pub call_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
    #[serde(default)]
    pub output: Option<ItemContent>,
}

/// A function tool as the Responses API offers it.
#[derive(Debug, Deserialize)]
pub struct WireTool {
    #[serde(rename = "type")]
    pub kind: String,
    /// Only function tools have one; a missing name is refused by kind
    /// first, then as an empty name.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
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
    /// An `input_file` part: the file inline as a base64 data URL.
    #[serde(default)]
    pub file_data: Option<String>,
    #[serde(default)]
    pub file_id: Option<String>,
    #[serde(default)]
    pub file_url: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
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
    /// The `input_file` parts of user messages, in order, with where each is.
    fn uploads(&self) -> Result<Vec<(String, Upload)>, ApiError> {
        let Input::Items(items) = &self.input else {
            return Ok(Vec::new());
        };
        let mut uploads = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(ItemContent::Parts(parts)) = &item.content else {
                continue;
            };
            for (j, part) in parts.iter().enumerate() {
                if part.kind != "input_file" {
                    continue;
                }
                let param = format!("input[{i}].content[{j}]");
                if item.role.as_deref() != Some("user") {
                    return Err(ApiError::invalid(format!(
                        "{param}: files are read from user messages only"
                    ))
                    .param(param));
                }
                if part.file_url.is_some() && part.file_data.is_none() {
                    return Err(ApiError::invalid(format!(
                        "{param}: sluice fetches nothing from the network; send the file inline as file_data (a base64 data URL)"
                    ))
                    .param(format!("{param}.file_url"))
                    .code("unsupported_file_url"));
                }
                let file = openai::FileRef {
                    file_data: part.file_data.clone(),
                    file_id: part.file_id.clone(),
                    filename: part.filename.clone(),
                };
                uploads.push(openai::file_upload(&file, &param)?);
            }
        }
        Ok(uploads)
    }

    /// The conversation; `documents` are the texts of the uploads, read, in order.
    fn turns(&self, documents: &[String]) -> Result<Vec<Turn>, ApiError> {
        let mut documents = documents.iter();
        if self.previous_response_id.is_some() {
            return Err(ApiError::invalid(
                "previous_response_id is not supported: sluice stores no responses; send the whole conversation in input",
            )
            .param("previous_response_id")
            .code("stateless"));
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
                Some("function_call") => {
                    let (Some(call_id), Some(name)) = (&item.call_id, &item.name) else {
                        return Err(ApiError::invalid(format!(
                            "{param}: a function_call item needs its call_id and name"
                        ))
                        .param(param));
                    };
                    let call = ToolCall {
                        id: call_id.clone(),
                        name: name.clone(),
                        arguments: item.arguments.clone().unwrap_or_else(|| "{}".into()),
                    };
                    // Calls in a row are one assistant turn.
                    match turns.last_mut() {
                        Some(turn)
                            if turn.role == Role::Assistant && !turn.tool_calls.is_empty() =>
                        {
                            turn.tool_calls.push(call)
                        }
                        _ => turns.push(Turn {
                            tool_calls: vec![call],
                            ..Turn::new(Role::Assistant, "")
                        }),
                    }
                    continue;
                }
                Some("function_call_output") => {
                    let id = item.call_id.clone().unwrap_or_default();
                    if !openai::answers_a_call(&turns, &id) {
                        return Err(ApiError::invalid(format!(
                            "{param}: a function_call_output must answer a function_call before it (call_id {id:?} names none)"
                        ))
                        .param(format!("{param}.call_id"))
                        .code("unknown_tool_call"));
                    }
                    let output = parts_text(
                        item.output.as_ref(),
                        &format!("{param}.output"),
                        &mut documents,
                    )?;
                    turns.push(Turn {
                        tool_call_id: Some(id),
                        ..Turn::new(Role::Tool, output)
                    });
                    continue;
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
            let text = parts_text(
                item.content.as_ref(),
                &format!("{param}.content"),
                &mut documents,
            )?;
            turns.push(Turn::new(role, text));
        }
        Ok(turns)
    }

    /// The function tools offered and `tool_choice`.
    fn tools(&self) -> Result<Tools, ApiError> {
        let mut offered = Vec::new();
        for (i, tool) in self.tools.iter().flatten().enumerate() {
            if tool.kind != "function" {
                return Err(ApiError::invalid(format!(
                    "tools[{i}].type {:?} is not supported: sluice offers function tools",
                    tool.kind
                ))
                .param(format!("tools[{i}].type")));
            }
            offered.push(openai::Offered {
                name: tool.name.clone(),
                description: tool.description.clone(),
                parameters: tool.parameters.clone(),
                at: format!("tools[{i}].name"),
                schema_at: format!("tools[{i}].parameters"),
            });
        }
        let choice = match &self.tool_choice {
            None => ToolChoice::Auto,
            Some(Value::String(s)) if s == "auto" => ToolChoice::Auto,
            Some(Value::String(s)) if s == "none" => ToolChoice::None,
            Some(Value::String(s)) if s == "required" => ToolChoice::Required,
            Some(choice) => match choice["name"].as_str() {
                Some(name) if choice["type"] == "function" => {
                    ToolChoice::Function(name.to_string())
                }
                _ => {
                    return Err(ApiError::invalid(
                        "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"name\": ...}",
                    )
                    .param("tool_choice"));
                }
            },
        };
        let mut tools = openai::checked_tools(offered, choice)?;
        tools.parallel = self.parallel_tool_calls;
        Ok(tools)
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

/// The text of an item's content or output: a string, or `input_text` and
/// `output_text` parts, and `input_file` parts as their documents' text.
fn parts_text(
    content: Option<&ItemContent>,
    param: &str,
    documents: &mut std::slice::Iter<String>,
) -> Result<String, ApiError> {
    let parts = match content {
        None => return Ok(String::new()),
        Some(ItemContent::Text(text)) => return Ok(text.clone()),
        Some(ItemContent::Parts(parts)) => parts,
    };
    let mut text = String::new();
    for (j, part) in parts.iter().enumerate() {
        match (part.kind.as_str(), &part.text) {
            ("input_text" | "output_text", Some(t)) => text.push_str(t),
            ("input_file", _) => {
                let document = documents.next().ok_or_else(|| {
                    ApiError::invalid(format!(
                        "{param}[{j}]: files are read from user messages only"
                    ))
                    .param(format!("{param}[{j}]"))
                })?;
                openai::push_document(&mut text, document);
            }
            (kind, _) => {
                return Err(ApiError::invalid(format!(
                    "{param}[{j}]: parts of type {kind:?} are not supported; sluice reads input_text, output_text and input_file"
                ))
                .param(format!("{param}[{j}]")));
            }
        }
    }
    Ok(text)
}

pub async fn create(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Body(asked): Body<ResponsesRequest>,
) -> Result<Response, ApiError> {
    let policy = api.resolve(&asked.model)?;
    let id = super::request_id(&headers, "resp");
    let uploads = asked.uploads()?;
    let texts = api.read_texts(&id, &policy, uploads).await?;
    let request = Request {
        id: id.clone(),
        policy,
        turns: asked.turns(&texts)?,
        params: asked.params()?,
        tags: asked
            .metadata
            .as_ref()
            .and_then(|m| m.get("tags"))
            .map(|t| openai::split_tags(t))
            .unwrap_or_default(),
        schema: asked.schema()?,
        tools: asked.tools()?,
        deltas: None,
    };
    let shape = Shape {
        id: id.clone(),
        model: asked.model.clone(),
        created: unix_now(),
        instructions: asked.instructions.clone(),
        metadata: asked.metadata.clone().unwrap_or_default(),
    };
    let events = Events {
        shape,
        sequence: 0,
        text: String::new(),
        calls: Vec::new(),
    };
    stream::respond(&api, request, asked.stream.unwrap_or(false), events).await
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
        let mut output = vec![self.message(text, "completed")];
        output.extend(
            outcome
                .tool_calls
                .iter()
                .map(|c| function_call(c, "completed")),
        );
        response["output"] = json!(output);
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

/// A call as a `function_call` output item.
fn function_call(call: &ToolCall, status: &str) -> Value {
    json!({"id": format!("fc_{}", call.id), "type": "function_call", "call_id": call.id,
        "name": call.name, "arguments": call.arguments, "status": status})
}

fn part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// Responses stream events, numbered: the message item first (output 0),
/// then a `function_call` item per call.
struct Events {
    shape: Shape,
    sequence: u64,
    /// The text sent so far.
    text: String,
    /// Each call so far, by its index: the call, as sent.
    calls: Vec<(u32, ToolCall)>,
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
    fn whole(&self, outcome: &Outcome) -> Value {
        self.shape.finished(&openai::content(outcome), outcome)
    }

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

    fn tool_call(&mut self, piece: &ToolCallDelta) -> Vec<Event> {
        let mut events = Vec::new();
        let position = match self.calls.iter().position(|(i, _)| *i == piece.index) {
            Some(position) => position,
            None => {
                let call = ToolCall {
                    id: piece.id.clone().unwrap_or_default(),
                    name: piece.name.clone().unwrap_or_default(),
                    arguments: String::new(),
                };
                self.calls.push((piece.index, call));
                let position = self.calls.len() - 1;
                let item = function_call(&self.calls[position].1, "in_progress");
                events.push(self.event(
                    "response.output_item.added",
                    json!({"output_index": position + 1, "item": item}),
                ));
                position
            }
        };
        if !piece.arguments.is_empty() {
            self.calls[position].1.arguments.push_str(&piece.arguments);
            let item_id = format!("fc_{}", self.calls[position].1.id);
            events.push(self.event(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": position + 1, "delta": piece.arguments}),
            ));
        }
        events
    }

    fn end(&mut self, outcome: &Outcome) -> Vec<Event> {
        let mut events = Vec::new();
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
        for (position, (_, call)) in self.calls.clone().into_iter().enumerate() {
            events.push(self.event(
                "response.function_call_arguments.done",
                json!({"item_id": format!("fc_{}", call.id), "output_index": position + 1,
                    "name": call.name, "arguments": call.arguments}),
            ));
            events.push(self.event(
                "response.output_item.done",
                json!({"output_index": position + 1, "item": function_call(&call, "completed")}),
            ));
        }
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
    fn input_items_become_turns_and_state_is_refused() {
        let asked: ResponsesRequest = openai::parse(
            br#"{"model": "m", "instructions": "Be brief.", "input": [
                {"role": "user", "content": "Hola"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hola."}]},
                {"role": "developer", "content": [{"type": "input_text", "text": "Spanish only."}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            asked.turns(&[]).unwrap(),
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
            stateful.turns(&[]).unwrap_err().param.as_deref(),
            Some("previous_response_id")
        );
        let output: ResponsesRequest = openai::parse(
            br#"{"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": "42"}]}"#,
        )
        .unwrap();
        assert_eq!(
            output.turns(&[]).unwrap_err().code,
            Some("unknown_tool_call")
        );
        let answered: ResponsesRequest = openai::parse(
            br#"{"model": "m", "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
                "tool_choice": {"type": "function", "name": "weather"}, "input": [
                {"role": "user", "content": "Weather?"},
                {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "Sunny"}]}"#,
        )
        .unwrap();
        let turns = answered.turns(&[]).unwrap();
        assert_eq!(turns[1].tool_calls[0].id, "c1");
        assert_eq!(turns[2].tool_call_id.as_deref(), Some("c1"));
        assert_eq!(
            answered.tools().unwrap().choice,
            ToolChoice::Function("weather".into())
        );
    }
}
