//! The OpenAI chat-completions wire format: the request as sluice reads it,
//! the response and stream chunks it writes, and the JSON body extractor
//! that turns every parse failure into a 400 naming the field (or 413 past
//! the size cap). The conversation keeps its roles; `max_tokens`
//! (`max_completion_tokens`), `temperature`, `top_p`, `seed` and `stop`
//! reach the tier that answers. What sluice cannot honour is refused with a
//! 400 that says so (`n` above 1, `tools`, tool messages), never ignored.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api::documents::data_url;
use crate::api::error::ApiError;
use crate::conversation::{Params, Role as TurnRole, Tool, ToolCall, ToolChoice, Tools, Turn};
use crate::documents::Upload;
use crate::pipeline::Outcome;

/// A JSON body, parsed; errors name the field that is wrong.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        parse(&body_bytes(request, state).await?).map(Body)
    }
}

/// A request's whole body; past `server.max_body_kib`, 413 `body_too_large`.
pub async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::invalid(
                "the request body is larger than the server accepts (server.max_body_kib)",
            )
            .status(StatusCode::PAYLOAD_TOO_LARGE)
            .code("body_too_large")
        } else {
            ApiError::invalid(format!("cannot read the request body: {e}"))
        }
    })
}

/// Parse a JSON body; a wrong type names its path (`messages[0].role`).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let param = (path != "." && !inner.is_syntax() && !inner.is_eof()).then_some(path);
        let message = match (&param, inner.classify()) {
            (_, serde_json::error::Category::Syntax | serde_json::error::Category::Eof) => {
                format!("the body is not valid JSON: {inner}")
            }
            (Some(path), _) => format!("{path}: {inner}"),
            (None, _) => format!("the body does not have the expected fields: {inner}"),
        };
        let error = ApiError::invalid(message).code("invalid_json");
        match param {
            Some(p) => error.param(p),
            None => error,
        }
    })?;
    de.end().map_err(|e| {
        ApiError::invalid(format!("the body is not valid JSON: {e}")).code("invalid_json")
    })?;
    Ok(value)
}

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    /// Up to 16 string pairs; `tags` (comma-separated) reach the router.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default)]
    pub stop: Option<Stop>,
    #[serde(default)]
    pub tools: Option<Vec<WireTool>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
}

/// A tool as chat completions offer it.
#[derive(Debug, Deserialize)]
pub struct WireTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: WireFunction,
}

#[derive(Debug, Deserialize)]
pub struct WireFunction {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
}

/// A call as an assistant message carries it.
#[derive(Debug, Deserialize)]
pub struct WireToolCall {
    pub id: String,
    pub function: WireCalled,
}

#[derive(Debug, Deserialize)]
pub struct WireCalled {
    pub name: String,
    pub arguments: String,
}

/// `stop`: one sequence or up to four.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default)]
    pub tool_calls: Option<Vec<WireToolCall>>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    /// An assistant turn's refusal part.
    #[serde(default)]
    pub refusal: Option<String>,
    /// A user turn's file part.
    #[serde(default)]
    pub file: Option<FileRef>,
}

/// A `file` content part: the file inline as a data URL (`file_data`), or
/// an id from the Files API, which sluice does not have.
#[derive(Debug, Deserialize)]
pub struct FileRef {
    #[serde(default)]
    pub file_data: Option<String>,
    #[serde(default)]
    pub file_id: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaFormat },
}

#[derive(Debug, Deserialize)]
pub struct JsonSchemaFormat {
    pub name: String,
    #[serde(default)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

impl ChatRequest {
    /// The files in user turns, in order, with where each is
    /// (`messages[0].content[1].file`).
    pub fn uploads(&self) -> Result<Vec<(String, Upload)>, ApiError> {
        let mut uploads = Vec::new();
        for (i, message) in self.messages.iter().enumerate() {
            let Some(Content::Parts(parts)) = &message.content else {
                continue;
            };
            for (j, part) in parts.iter().enumerate() {
                if part.kind != "file" {
                    continue;
                }
                let param = format!("messages[{i}].content[{j}].file");
                if message.role != Role::User {
                    return Err(ApiError::invalid(format!(
                        "{param}: files are read from user messages only"
                    ))
                    .param(param));
                }
                let file = part.file.as_ref().ok_or_else(|| {
                    ApiError::invalid(format!("{param}: a file part needs its file field"))
                        .param(param.clone())
                })?;
                uploads.push(file_upload(file, &param)?);
            }
        }
        Ok(uploads)
    }

    /// The conversation, turn by turn (`developer` turns are system turns):
    /// an assistant's tool calls, and tool results that answer a call made
    /// before them. `documents` are the texts of [`ChatRequest::uploads`],
    /// read, in the same order: each stands where its file part was.
    pub fn turns(&self, documents: &[String]) -> Result<Vec<Turn>, ApiError> {
        let mut documents = documents.iter();
        if self.messages.is_empty() {
            return Err(
                ApiError::invalid("messages is empty: send at least one user message")
                    .param("messages"),
            );
        }
        let mut turns: Vec<Turn> = Vec::with_capacity(self.messages.len());
        for (i, message) in self.messages.iter().enumerate() {
            let role = match message.role {
                Role::System | Role::Developer => TurnRole::System,
                Role::User => TurnRole::User,
                Role::Assistant => TurnRole::Assistant,
                Role::Tool => {
                    let called = message
                        .tool_call_id
                        .as_ref()
                        .is_some_and(|id| answers_a_call(&turns, id));
                    if !called {
                        return Err(ApiError::invalid(format!(
                            "messages[{i}]: a tool message must answer a call an earlier assistant message made (tool_call_id {:?} names none)",
                            message.tool_call_id.as_deref().unwrap_or_default()
                        ))
                        .param(format!("messages[{i}].tool_call_id"))
                        .code("unknown_tool_call"));
                    }
                    TurnRole::Tool
                }
                Role::Function => {
                    return Err(ApiError::invalid(format!(
                        "messages[{i}]: function messages are deprecated; send tool messages"
                    ))
                    .param(format!("messages[{i}].role")));
                }
            };
            let text = match &message.content {
                None => String::new(),
                Some(Content::Text(text)) => text.clone(),
                Some(Content::Parts(parts)) => {
                    let mut text = String::new();
                    for part in parts {
                        if part.kind == "file" {
                            let document = documents.next().ok_or_else(|| {
                                ApiError::internal("a file part was not read before the turns")
                            })?;
                            push_document(&mut text, document);
                            continue;
                        }
                        match (part.kind.as_str(), &part.text, &part.refusal) {
                            ("text", Some(t), _) | ("refusal", _, Some(t)) => text.push_str(t),
                            ("text" | "refusal", _, _) => {
                                return Err(ApiError::invalid(format!(
                                    "messages[{i}]: a {} part needs its {} field",
                                    part.kind, part.kind
                                ))
                                .param(format!("messages[{i}].content")));
                            }
                            (kind, _, _) => {
                                return Err(ApiError::invalid(format!(
                                    "messages[{i}]: content of type {kind:?} is not supported; sluice reads text and file parts"
                                ))
                                .param(format!("messages[{i}].content")));
                            }
                        }
                    }
                    text
                }
            };
            let mut turn = Turn::new(role, text);
            turn.tool_call_id = message
                .tool_call_id
                .clone()
                .filter(|_| role == TurnRole::Tool);
            turn.tool_calls = message
                .tool_calls
                .iter()
                .flatten()
                .map(|c| ToolCall {
                    id: c.id.clone(),
                    name: c.function.name.clone(),
                    arguments: c.function.arguments.clone(),
                })
                .collect();
            turns.push(turn);
        }
        Ok(turns)
    }

    /// The tools offered and the choice among them, checked: a function
    /// needs a name and an object schema that compiles; `tool_choice` may
    /// name only an offered function.
    pub fn tools(&self) -> Result<Tools, ApiError> {
        let mut offered = Vec::new();
        for (i, tool) in self.tools.iter().flatten().enumerate() {
            let param = format!("tools[{i}]");
            if tool.kind != "function" {
                return Err(ApiError::invalid(format!(
                    "{param}.type must be \"function\", not {:?}",
                    tool.kind
                ))
                .param(format!("{param}.type")));
            }
            offered.push(Offered {
                name: tool.function.name.clone(),
                description: tool.function.description.clone(),
                parameters: tool.function.parameters.clone(),
                at: format!("{param}.function.name"),
                schema_at: format!("{param}.function.parameters"),
            });
        }
        let choice = match &self.tool_choice {
            None => ToolChoice::Auto,
            Some(Value::String(s)) if s == "auto" => ToolChoice::Auto,
            Some(Value::String(s)) if s == "none" => ToolChoice::None,
            Some(Value::String(s)) if s == "required" => ToolChoice::Required,
            Some(choice) => match choice["function"]["name"].as_str() {
                Some(name) if choice["type"] == "function" => {
                    ToolChoice::Function(name.to_string())
                }
                _ => {
                    return Err(ApiError::invalid(
                        "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                    )
                    .param("tool_choice"));
                }
            },
        };
        let mut tools = checked_tools(offered, choice)?;
        tools.parallel = self.parallel_tool_calls;
        Ok(tools)
    }

    /// The generation parameters, checked against OpenAI's ranges.
    pub fn params(&self) -> Result<Params, ApiError> {
        let out_of_range = |param: &str, range: &str| {
            ApiError::invalid(format!("{param} must be {range}"))
                .param(param)
                .code("invalid_value")
        };
        let max_tokens = self.max_completion_tokens.or(self.max_tokens);
        if max_tokens == Some(0) {
            let param = if self.max_completion_tokens.is_some() {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            return Err(out_of_range(param, "at least 1"));
        }
        if self.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
            return Err(out_of_range("temperature", "between 0 and 2"));
        }
        if self.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return Err(out_of_range("top_p", "above 0 and at most 1"));
        }
        let stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(all)) if all.len() <= 4 => all.clone(),
            Some(Stop::Many(_)) => return Err(out_of_range("stop", "at most 4 sequences")),
        };
        Ok(Params {
            max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed.map(|s| s as u64),
            stop: stop.into_iter().filter(|s| !s.is_empty()).collect(),
        })
    }

    /// The caller's schema for the answer, if it asked for one.
    pub fn schema(&self) -> Result<Option<(String, Value)>, ApiError> {
        match &self.response_format {
            None | Some(ResponseFormat::Text) => Ok(None),
            Some(ResponseFormat::JsonObject) => {
                Ok(Some(("json_object".into(), json!({"type": "object"}))))
            }
            Some(ResponseFormat::JsonSchema { json_schema }) => checked_schema(
                &json_schema.name,
                json_schema.schema.as_ref(),
                "response_format.json_schema.schema",
            )
            .map(Some),
        }
    }

    /// Router tags from `metadata.tags` (comma-separated).
    pub fn tags(&self) -> Vec<String> {
        self.metadata
            .as_ref()
            .and_then(|m| m.get("tags"))
            .map(|t| split_tags(t))
            .unwrap_or_default()
    }
}

/// A function as an API offered it, with where each part was given.
pub struct Offered {
    pub name: String,
    pub description: Option<String>,
    /// `None`: a function without arguments.
    pub parameters: Option<Value>,
    /// Where the name and the schema were given (`tools[0].function.name`).
    pub at: String,
    pub schema_at: String,
}

/// The tools offered and the choice among them, checked: a function needs
/// a name and an object schema that compiles; the choice may name only an
/// offered function, and may require a call only when one is offered.
pub fn checked_tools(offered: Vec<Offered>, choice: ToolChoice) -> Result<Tools, ApiError> {
    let mut tools = Vec::with_capacity(offered.len());
    for function in offered {
        let name = function.name;
        let well_named = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !well_named {
            return Err(ApiError::invalid(format!(
                "{} must be 1 to 64 letters, digits, _ or -, not {name:?}",
                function.at
            ))
            .param(function.at));
        }
        let parameters = function
            .parameters
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        if let Err(problem) = check_parameters(&parameters) {
            return Err(ApiError::invalid(format!(
                "{} is not a usable JSON schema: {problem}",
                function.schema_at
            ))
            .param(function.schema_at)
            .code("invalid_tool_schema"));
        }
        tools.push(Tool {
            name,
            description: function.description,
            parameters,
        });
    }
    match &choice {
        ToolChoice::Function(name) if !tools.iter().any(|t| &t.name == name) => {
            return Err(ApiError::invalid(format!(
                "tool_choice names the function {name:?}, which tools does not offer"
            ))
            .param("tool_choice")
            .code("unknown_tool"));
        }
        ToolChoice::Required if tools.is_empty() => {
            return Err(
                ApiError::invalid("tool_choice requires a call, but no tools are offered")
                    .param("tool_choice"),
            );
        }
        _ => {}
    }
    Ok(Tools {
        offered: tools,
        choice,
        parallel: None,
    })
}

/// Whether `id` names a call an earlier turn made: a tool result must
/// answer one.
pub fn answers_a_call(turns: &[Turn], id: &str) -> bool {
    turns.iter().flat_map(|t| &t.tool_calls).any(|c| c.id == id)
}

/// A function's parameter schema: an object schema that compiles.
fn check_parameters(schema: &Value) -> Result<(), String> {
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err("its type must be \"object\"".into());
    }
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A caller's JSON schema for the answer, present and an object; `param`
/// names where it was given.
pub fn checked_schema(
    name: &str,
    schema: Option<&Value>,
    param: &str,
) -> Result<(String, Value), ApiError> {
    let Some(schema) = schema else {
        return Err(ApiError::unprocessable(format!(
            "{param} is missing: give the JSON schema the answer must follow"
        ))
        .param(param));
    };
    if !schema.is_object() {
        return Err(
            ApiError::unprocessable(format!("{param} must be a JSON schema object")).param(param),
        );
    }
    Ok((name.to_string(), schema.clone()))
}

/// A file part as an upload: inline data only.
pub fn file_upload(file: &FileRef, param: &str) -> Result<(String, Upload), ApiError> {
    match (&file.file_data, &file.file_id) {
        (Some(data), _) => Ok((
            param.to_string(),
            data_url(data, file.filename.clone(), &format!("{param}.file_data"))?,
        )),
        (None, Some(_)) => Err(ApiError::invalid(format!(
            "{param}: file_id names a file uploaded to the Files API, which sluice does not have; send the file inline as file_data (a base64 data URL)"
        ))
        .param(format!("{param}.file_id"))
        .code("unsupported_file_id")),
        (None, None) => Err(ApiError::invalid(format!(
            "{param}: a file part needs file_data (a base64 data URL)"
        ))
        .param(format!("{param}.file_data"))),
    }
}

/// A document's text into a turn's text, a blank line from what is beside it.
pub fn push_document(text: &mut String, document: &str) {
    if !text.is_empty() && !text.ends_with("\n\n") {
        text.push_str("\n\n");
    }
    text.push_str(document);
}

pub fn split_tags(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The answer as message content: text as it is, a record as compact JSON.
pub fn content(outcome: &Outcome) -> String {
    match &outcome.result {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Tokens both tiers read and wrote for this request.
pub fn usage(outcome: &Outcome) -> Value {
    let prompt = outcome.local.prompt_tokens + outcome.cloud.prompt_tokens;
    let completion = outcome.local.completion_tokens + outcome.cloud.completion_tokens;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    })
}

/// How sluice answered, beside the OpenAI fields.
pub fn sluice_fields(outcome: &Outcome) -> Value {
    json!({
        "policy": outcome.policy,
        "route": outcome.route,
        "answered_by": outcome.answered_by,
        "decision_id": outcome.decision_id,
        "degraded": outcome.degraded,
        "review": outcome.review,
        "confidence": outcome.confidence,
        "fields": outcome.fields,
    })
}

pub fn completion(id: &str, model: &str, created: u64, outcome: &Outcome) -> Value {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message(outcome),
            "logprobs": null,
            "finish_reason": outcome.finish.name(),
        }],
        "usage": usage(outcome),
        "sluice": sluice_fields(outcome),
    })
}

/// The answer as an assistant message: its text, and its tool calls (the
/// content is `null` when the answer is only calls).
fn message(outcome: &Outcome) -> Value {
    let text = content(outcome);
    let mut message = json!({
        "role": "assistant",
        "content": text,
        "refusal": null,
        "annotations": [],
    });
    if !outcome.tool_calls.is_empty() {
        message["tool_calls"] = outcome.tool_calls.iter().map(ToolCall::to_openai).collect();
        if text.is_empty() {
            message["content"] = Value::Null;
        }
    }
    message
}

/// One `chat.completion.chunk`.
pub fn chunk(id: &str, model: &str, created: u64, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish,
        }],
    })
}

/// The last chunk when `stream_options.include_usage`: no choices, the usage.
pub fn usage_chunk(id: &str, model: &str, created: u64, outcome: &Outcome) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage(outcome),
    })
}

/// Text cut into pieces of about `size` bytes, on character boundaries.
pub fn pieces(text: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(size);
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_types_name_their_field() {
        let error = parse::<ChatRequest>(br#"{"model": "m", "messages": [{"role": "robot"}]}"#)
            .err()
            .unwrap();
        assert_eq!(error.status, 400);
        assert_eq!(
            error.param.as_deref(),
            Some("messages[0].role"),
            "{error:?}"
        );
        let error = parse::<ChatRequest>(br#"{"model": 3, "messages": []}"#)
            .err()
            .unwrap();
        assert_eq!(error.param.as_deref(), Some("model"), "{error:?}");
        let error = parse::<ChatRequest>(br#"{"model": "m", "messages": [}"#)
            .err()
            .unwrap();
        assert!(
            error.message.starts_with("the body is not valid JSON"),
            "{error:?}"
        );
        assert_eq!(error.param, None);
    }

    #[test]
    fn a_conversation_keeps_its_roles() {
        let request: ChatRequest = parse(
            br#"{"model": "m", "messages": [{"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hola"}]},
                {"role": "assistant", "content": "Hola."}]}"#,
        )
        .unwrap();
        assert_eq!(
            request.turns(&[]).unwrap(),
            vec![
                Turn::system("Be brief."),
                Turn::user("Hola"),
                Turn::assistant("Hola.")
            ]
        );
        let tool: ChatRequest = parse(
            br#"{"model": "m", "messages": [{"role": "tool", "tool_call_id": "c9", "content": "42"}]}"#,
        )
        .unwrap();
        assert_eq!(tool.turns(&[]).unwrap_err().code, Some("unknown_tool_call"));
        let answered: ChatRequest = parse(
            br#"{"model": "m", "messages": [{"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                  "function": {"name": "weather", "arguments": "{\"city\": \"Cali\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "Sunny"}]}"#,
        )
        .unwrap();
        let turns = answered.turns(&[]).unwrap();
        assert_eq!(turns[1].tool_calls[0].name, "weather");
        assert_eq!(turns[2].tool_call_id.as_deref(), Some("c1"));
    }

    #[test]
    fn tools_and_the_choice_are_checked() {
        let tools = r#""tools": [{"type": "function", "function": {"name": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]"#;
        let choose = |name: &str| {
            format!(
                r#"{{"model": "m", "messages": [], {tools}, "tool_choice": {{"type": "function", "function": {{"name": "{name}"}}}}}}"#
            )
        };
        let ok: ChatRequest = parse(choose("weather").as_bytes()).unwrap();
        assert_eq!(
            ok.tools().unwrap().choice,
            ToolChoice::Function("weather".into())
        );
        let unknown: ChatRequest = parse(choose("time").as_bytes()).unwrap();
        assert_eq!(unknown.tools().unwrap_err().code, Some("unknown_tool"));
        let bad: ChatRequest = parse(
            br#"{"model": "m", "messages": [], "tools": [{"type": "function", "function":
                {"name": "w", "parameters": {"type": "object", "properties": {"x": {"type": 7}}}}}]}"#,
        )
        .unwrap();
        assert_eq!(bad.tools().unwrap_err().code, Some("invalid_tool_schema"));
    }

    #[test]
    fn parameters_are_read_and_checked() {
        let request: ChatRequest = parse(
            br#"{"model": "m", "messages": [], "max_tokens": 9, "max_completion_tokens": 16,
                "temperature": 0.5, "seed": 7, "stop": "END"}"#,
        )
        .unwrap();
        let params = request.params().unwrap();
        assert_eq!(params.max_tokens, Some(16));
        assert_eq!(params.stop, vec!["END".to_string()]);
        assert_eq!(params.seed, Some(7));
        for body in [
            &br#"{"model": "m", "messages": [], "temperature": 3}"#[..],
            br#"{"model": "m", "messages": [], "top_p": 0}"#,
            br#"{"model": "m", "messages": [], "max_tokens": 0}"#,
            br#"{"model": "m", "messages": [], "stop": ["a", "b", "c", "d", "e"]}"#,
        ] {
            let error = parse::<ChatRequest>(body).unwrap().params().unwrap_err();
            assert_eq!(error.code, Some("invalid_value"), "{error:?}");
        }
    }

    #[test]
    fn pieces_respect_characters() {
        let text = "año señor ñandú";
        let joined: String = pieces(text, 3).concat();
        assert_eq!(joined, text);
        assert!(pieces(text, 3).iter().all(|p| p.len() <= 4));
    }
}
