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

use crate::api::error::ApiError;
use crate::conversation::{Params, Role as TurnRole, Turn};
use crate::pipeline::Outcome;

/// A JSON body, parsed; errors name the field that is wrong.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::invalid(
                    "the request body is larger than the server accepts (server.max_body_kib)",
                )
                .status(StatusCode::PAYLOAD_TOO_LARGE)
                .code("body_too_large")
            } else {
                ApiError::invalid(format!("cannot read the request body: {e}"))
            }
        })?;
        parse(&bytes).map(Body)
    }
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
    pub tools: Option<Vec<Value>>,
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

#[derive(Debug, Deserialize)]
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
    /// The conversation, turn by turn (`developer` turns are system turns).
    /// Tool turns are refused: sluice does not make tool calls yet.
    pub fn turns(&self) -> Result<Vec<Turn>, ApiError> {
        if self.messages.is_empty() {
            return Err(
                ApiError::invalid("messages is empty: send at least one user message")
                    .param("messages"),
            );
        }
        if self.tools.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(ApiError::invalid(
                "tools are not supported yet: sluice answers with text or a JSON schema, never a tool call; send the request without tools",
            )
            .param("tools")
            .code("tools_unsupported"));
        }
        let mut turns = Vec::with_capacity(self.messages.len());
        for (i, message) in self.messages.iter().enumerate() {
            let role = match message.role {
                Role::System | Role::Developer => TurnRole::System,
                Role::User => TurnRole::User,
                Role::Assistant => TurnRole::Assistant,
                Role::Tool | Role::Function => {
                    return Err(ApiError::invalid(format!(
                        "messages[{i}]: {} messages answer tool calls, which sluice does not make yet",
                        role_name(&message.role)
                    ))
                    .param(format!("messages[{i}].role"))
                    .code("tools_unsupported"));
                }
            };
            let text = match &message.content {
                None => String::new(),
                Some(Content::Text(text)) => text.clone(),
                Some(Content::Parts(parts)) => {
                    let mut text = String::new();
                    for part in parts {
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
                                    "messages[{i}]: content of type {kind:?} is not supported; sluice reads text"
                                ))
                                .param(format!("messages[{i}].content")));
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

pub fn split_tags(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn role_name(role: &Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::Developer => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
        Role::Function => "function",
    }
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
            "message": {
                "role": "assistant",
                "content": content(outcome),
                "refusal": null,
                "annotations": [],
            },
            "logprobs": null,
            "finish_reason": outcome.finish.name(),
        }],
        "usage": usage(outcome),
        "sluice": sluice_fields(outcome),
    })
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
            request.turns().unwrap(),
            vec![
                Turn::system("Be brief."),
                Turn::user("Hola"),
                Turn::assistant("Hola.")
            ]
        );
        let tool: ChatRequest =
            parse(br#"{"model": "m", "messages": [{"role": "tool", "content": "42"}]}"#).unwrap();
        assert_eq!(tool.turns().unwrap_err().code, Some("tools_unsupported"));
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
