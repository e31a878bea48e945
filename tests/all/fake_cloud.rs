//! The recording fake cloud: a real HTTP server on 127.0.0.1 that speaks the
//! OpenAI chat-completions API (whole answers and SSE streams, tool calls
//! when it is offered tools), keeps every
//! request it receives (method, path, headers, body) and answers by echoing
//! the last user message, so a test can compare what came back with what
//! went out. A script of [`Reply`]s, one per request, makes it misbehave:
//! slow, 429/500 with `Retry-After`, a reset connection, malformed JSON,
//! chosen content (such as JSON that breaks the schema), a broken stream.
//! Like a real cloud it answers JSON when `response_format` asks for it:
//! text that is not JSON becomes the simplest instance of the schema,
//! carrying the text in its strings.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// How a streamed answer is cut into chunks.
#[derive(Clone, Copy, Debug)]
pub enum Chunks {
    /// Two chunks, split at this character.
    At(usize),
    /// Chunks of this many characters.
    Size(usize),
}

impl Chunks {
    /// `text` in the pieces this says, cut on character boundaries.
    fn cut(self, text: &str) -> Vec<&str> {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let cuts: Vec<usize> = match self {
            Chunks::At(k) => vec![chars.get(k).map_or(text.len(), |c| c.0)],
            Chunks::Size(n) => chars
                .iter()
                .step_by(n.max(1))
                .skip(1)
                .map(|c| c.0)
                .collect(),
        };
        let mut pieces = Vec::new();
        let mut at = 0;
        for cut in cuts.into_iter().chain([text.len()]) {
            pieces.push(&text[at..cut]);
            at = cut;
        }
        pieces
    }
}

/// How the fake answers one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Echo the last user message (whole, or streamed).
    Echo,
    /// Answer with this content.
    Content(String),
    /// Wait, then echo.
    Slow(Duration),
    /// This status with an OpenAI error body, and `Retry-After` if given.
    Status(u16, Option<String>),
    /// Close the connection without answering.
    Reset,
    /// 200 with a body that is not JSON.
    Malformed,
    /// Start a stream, then break the connection in the middle.
    BreakStream,
    /// This status, content type and body, whatever was asked.
    Raw(u16, &'static str, String),
    /// Answer as a stream even when the call asked for a whole answer, as
    /// some OpenAI-compatible proxies do.
    StreamAnyway,
    /// Answer with what this makes of the last user message, as a reviewer
    /// that reads what it was sent would.
    Review(Reviewer),
}

/// Makes an answer's content from the last user message.
#[derive(Clone)]
pub struct Reviewer(pub Arc<dyn Fn(&str) -> String + Send + Sync>);

impl Reviewer {
    /// A reviewer in the contract risk summary schema that reads what it
    /// was sent: the record as it came, with a risk summary entry per flag
    /// resting on the first evidence passage.
    pub fn contract() -> Reviewer {
        Reviewer(Arc::new(|sent: &str| {
            let sent: Value = serde_json::from_str(sent).unwrap();
            let mut record = sent["record"].clone();
            let clause = sent["evidence"][0]["clause"].clone();
            let summary: Vec<Value> = record["risk_flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|flag| {
                    json!({"flag": flag, "severity": "medium", "clause": clause,
                           "recommendation": "Negotiate the clause before signing."})
                })
                .collect();
            record["escalate_to_cloud"] = json!(false);
            record["risk_summary"] = json!(summary);
            record.to_string()
        }))
    }
}

impl std::fmt::Debug for Reviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reviewer")
    }
}

#[derive(Default)]
struct Recorded {
    requests: Vec<Vec<u8>>,
    chunks: Option<Chunks>,
    script: VecDeque<Reply>,
}

pub struct FakeCloud {
    /// Base URL, ending in `/v1`.
    pub url: String,
    state: Arc<Mutex<Recorded>>,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeCloud {
    pub async fn start() -> FakeCloud {
        let state = Arc::new(Mutex::new(Recorded::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(answer))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeCloud {
            url,
            state,
            _server: server,
        }
    }

    /// Every request received so far, as bytes (request line, headers, body).
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The next requests' replies, in order; after them, echo.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// The request bodies received so far, parsed.
    pub fn bodies(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .map(|raw| {
                let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                serde_json::from_slice(&raw[at..]).unwrap()
            })
            .collect()
    }

    /// How the next streamed answers are chunked.
    pub fn chunk(&self, chunks: Chunks) {
        self.state.lock().unwrap().chunks = Some(chunks);
    }
}

async fn answer(
    State(state): State<Arc<Mutex<Recorded>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut raw = format!("{method} {uri}\r\n").into_bytes();
    for (name, value) in &headers {
        raw.extend_from_slice(name.as_str().as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value.as_bytes());
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(&body);
    let (chunks, reply) = {
        let mut state = state.lock().unwrap();
        state.requests.push(raw);
        (
            state.chunks,
            state.script.pop_front().unwrap_or(Reply::Echo),
        )
    };
    match reply {
        Reply::Echo | Reply::Content(_) | Reply::Review(_) | Reply::StreamAnyway => {}
        Reply::Raw(status, content_type, body) => {
            return (
                axum::http::StatusCode::from_u16(status).unwrap(),
                [("content-type", content_type)],
                body,
            )
                .into_response();
        }
        Reply::Slow(wait) => tokio::time::sleep(wait).await,
        Reply::Status(status, retry_after) => {
            let mut response = (
                axum::http::StatusCode::from_u16(status).unwrap(),
                axum::Json(json!({"error": {"message": format!("scripted {status}"), "type": "server_error", "param": null, "code": null}})),
            )
                .into_response();
            if let Some(after) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", after.parse().unwrap());
            }
            return response;
        }
        // Unwinding without the panic hook ends the connection's task: the
        // socket closes with no answer, as a reset would.
        Reply::Reset => std::panic::resume_unwind(Box::new("scripted reset")),
        Reply::Malformed => {
            return (
                [("content-type", "application/json")],
                "{\"id\": \"chatcmpl-fake\", \"choices\": [",
            )
                .into_response();
        }
        Reply::BreakStream => {
            let first = json!({
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                "choices": [{"index": 0, "delta": {"content": "partial "}, "finish_reason": null}]
            });
            // The first event goes out; a moment later the connection breaks.
            let pieces = futures::stream::unfold(0, move |step| {
                let first = first.clone();
                async move {
                    match step {
                        0 => Some((Ok(format!("data: {first}\n\n")), 1)),
                        1 => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Some((Err(std::io::Error::other("scripted break")), 2))
                        }
                        _ => None,
                    }
                }
            });
            return (
                [("content-type", "text/event-stream")],
                axum::body::Body::from_stream(pieces),
            )
                .into_response();
        }
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let echo = request["messages"]
        .as_array()
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|m| m["role"] == "user" || m["role"] == "tool")
        })
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string();
    // Offered tools and last spoken to by the user, the model calls the
    // first tool with what the user said; after a tool's result, it echoes
    // the result.
    let last_role = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map(|m| m["role"].clone());
    if let (Reply::Echo, Some(tool), Some(role)) = (
        &reply,
        request["tools"][0]["function"]["name"].as_str(),
        last_role,
    ) && role == "user"
        && request["tool_choice"] != "none"
    {
        return tool_call(&request, tool, &echo, chunks);
    }
    let scripted = match &reply {
        Reply::Content(content) => Some(content.clone()),
        Reply::Review(reviewer) => Some((reviewer.0)(&echo)),
        _ => None,
    };
    let echo = match scripted {
        Some(content) => content,
        None => in_format(&request["response_format"], echo),
    };
    let model = request["model"].as_str().unwrap_or("fake").to_string();
    if request["stream"] == true || matches!(reply, Reply::StreamAnyway) {
        let pieces = chunks.unwrap_or(Chunks::Size(8)).cut(&echo);
        let mut sse = String::new();
        for piece in pieces {
            let chunk = json!({
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]
            });
            sse.push_str(&format!("data: {chunk}\n\n"));
        }
        let done = json!({
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]
        });
        sse.push_str(&format!("data: {done}\n\n"));
        if request["stream_options"]["include_usage"] == true {
            let usage = json!({
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [],
                "usage": {"prompt_tokens": body.len() / 4, "completion_tokens": echo.len() / 4, "total_tokens": (body.len() + echo.len()) / 4}
            });
            sse.push_str(&format!("data: {usage}\n\n"));
        }
        sse.push_str("data: [DONE]\n\n");
        return ([("content-type", "text/event-stream")], sse).into_response();
    }
    axum::Json(json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": echo}, "finish_reason": "stop", "logprobs": null}],
        "usage": {"prompt_tokens": body.len() / 4, "completion_tokens": echo.len() / 4, "total_tokens": (body.len() + echo.len()) / 4}
    }))
    .into_response()
}

/// The echo in the requested format: JSON text as it is, other text as the
/// simplest instance of the schema (`json_schema`) or an object holding it
/// (`json_object`).
fn in_format(format: &Value, text: String) -> String {
    let schema = match format["type"].as_str() {
        Some("json_schema") => &format["json_schema"]["schema"],
        Some("json_object") => {
            &json!({"type": "object", "properties": {"text": {}}, "required": ["text"]})
        }
        _ => return text,
    };
    if serde_json::from_str::<Value>(&text).is_ok() {
        return text;
    }
    instance(schema, &text).to_string()
}

fn instance(schema: &Value, text: &str) -> Value {
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema[key].as_array().and_then(|e| e.first()) {
            return instance(first, text);
        }
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.first().and_then(Value::as_str).unwrap_or("string"),
        other => other.as_str().unwrap_or("string"),
    };
    match kind {
        "object" => {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            required
                .into_iter()
                .map(|key| (key.to_string(), instance(&schema["properties"][key], text)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        }
        "array" => json!([]),
        "integer" | "number" => json!(0),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => json!(text),
    }
}

/// A call of `name` with `{"text": echo}`: whole, or streamed with its
/// arguments cut into chunks.
fn tool_call(request: &Value, name: &str, echo: &str, chunks: Option<Chunks>) -> Response {
    let model = request["model"].as_str().unwrap_or("fake").to_string();
    let arguments = json!({"text": echo}).to_string();
    if request["stream"] != true {
        return axum::Json(json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_fake_1", "type": "function",
                    "function": {"name": name, "arguments": arguments}}]},
                "finish_reason": "tool_calls", "logprobs": null}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
        }))
        .into_response();
    }

    let chunk = |delta: Value, finish: Value| {
        let chunk = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {chunk}\n\n")
    };
    let mut sse = chunk(
        json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_fake_1", "type": "function",
            "function": {"name": name, "arguments": ""}}]}),
        Value::Null,
    );
    for piece in chunks.unwrap_or(Chunks::Size(8)).cut(&arguments) {
        sse.push_str(&chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
            Value::Null,
        ));
    }
    sse.push_str(&chunk(json!({}), json!("tool_calls")));
    sse.push_str("data: [DONE]\n\n");
    ([("content-type", "text/event-stream")], sse).into_response()
}
