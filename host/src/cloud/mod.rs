//! The cloud tier: any OpenAI-compatible chat-completions endpoint, through
//! `async-openai`.
//!
//! - [`retry`]: 429, 5xx and connection failures retried with jittered
//!   backoff, honouring `Retry-After`, never past the request's deadline.
//! - [`breaker`]: a circuit breaker that refuses at once while the cloud is
//!   down, so callers answer locally instead of waiting.
//! - [`pricing`]: token usage to dollars through a price table.
//! - [`error`]: typed failures that describe what the upstream sent (status,
//!   shape, size, digest) and never repeat it.
//! - [`sse`]: an event-stream body answered to a whole-answer call (as some
//!   OpenAI-compatible proxies do) joined into one answer.
//!
//! Without `OPENAI_API_KEY` sluice runs in local-only mode
//! ([`CloudConfig::from_env`] gives `None`): a state, not an error.
//! It sends only an [`Outbound`], which only [`crate::privacy`] can make,
//! from pseudonymised turns.

pub mod breaker;
pub mod error;
pub mod pricing;
pub mod retry;
pub mod sse;

use std::sync::Arc;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{CreateChatCompletionRequest, FinishReason};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

use crate::conversation::{Finish, Params, ToolCall, ToolChoice};
use crate::privacy::outbound::Outbound;

pub use breaker::{Breaker, BreakerSettings, Circuit};
pub use error::CloudError;
pub use pricing::{Price, Prices};
pub use retry::{RetryCount, RetryPolicy};

/// The `[cloud]` table of the configuration file. The key is never read from
/// a file: only from `OPENAI_API_KEY`.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudSettings {
    /// Overridden by `OPENAI_BASE_URL`.
    pub base_url: String,
    /// Overridden by `SLUICE_CLOUD_MODEL`.
    pub model: String,
    /// Budget of one request, retries included.
    #[serde(rename = "timeout_ms", deserialize_with = "crate::millis")]
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub breaker: BreakerSettings,
    pub prices: Prices,
}

/// The model used when neither the file nor `SLUICE_CLOUD_MODEL` names one.
pub const DEFAULT_MODEL: &str = "gpt-5.4";

impl Default for CloudSettings {
    fn default() -> Self {
        CloudSettings {
            base_url: "https://api.openai.com/v1".into(),
            model: DEFAULT_MODEL.into(),
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            breaker: BreakerSettings::default(),
            prices: Prices::new(),
        }
    }
}

/// Where the cloud is, the key, and how to treat it.
#[derive(Clone, Debug)]
pub struct CloudConfig {
    pub api_key: String,
    pub settings: CloudSettings,
}

impl CloudConfig {
    /// `settings` with the environment over it; `None` (local-only mode)
    /// without `OPENAI_API_KEY`.
    pub fn from_env(mut settings: CloudSettings) -> Option<CloudConfig> {
        let api_key = std::env::var("OPENAI_API_KEY")
            .ok()
            .filter(|k| !k.is_empty())?;
        if let Ok(url) = std::env::var("OPENAI_BASE_URL") {
            settings.base_url = url;
        }
        if let Ok(model) = std::env::var("SLUICE_CLOUD_MODEL") {
            settings.model = model;
        }
        Some(CloudConfig { api_key, settings })
    }

    /// A cloud at `base_url` with default settings (tests, tools).
    pub fn at(base_url: &str, api_key: &str) -> CloudConfig {
        CloudConfig {
            api_key: api_key.into(),
            settings: CloudSettings {
                base_url: base_url.into(),
                ..CloudSettings::default()
            },
        }
    }
}

fn finish_of(reason: Option<FinishReason>) -> Finish {
    match reason {
        Some(FinishReason::Length) => Finish::Length,
        Some(FinishReason::ToolCalls | FinishReason::FunctionCall) => Finish::ToolCalls,
        _ => Finish::Stop,
    }
}

/// The tool calls of an answer's message (or a chunk's delta), read from
/// its JSON form.
fn tool_calls_in(message: &impl serde::Serialize) -> Vec<Value> {
    serde_json::to_value(message)
        .ok()
        .and_then(|m| m.get("tool_calls").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

/// A complete answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub content: String,
    /// Calls of the offered tools, as the cloud wrote them.
    pub tool_calls: Vec<ToolCall>,
    pub finish: Finish,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// From the price table; `None` when the model has no price.
    pub cost_usd: Option<f64>,
}

/// One piece of a streamed answer: its text, and on the chunks that carry
/// them, why it ended and what it used.
#[derive(Clone, Debug, Default)]
pub struct Delta {
    pub text: String,
    /// Pieces of tool calls, each naming its call by index.
    pub tool_calls: Vec<ToolCallDelta>,
    pub finish: Option<Finish>,
    /// `(prompt, completion)` tokens, on the last chunk.
    pub usage: Option<(u32, u32)>,
}

/// A piece of a streamed tool call: its id and name come first, then its
/// arguments in pieces cut anywhere.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolCallDelta {
    pub index: u32,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
}

/// The answer's shape: free text, or JSON valid against a schema (strict).
#[derive(Clone, Debug)]
pub enum Format<'a> {
    Text,
    JsonSchema { name: &'a str, schema: &'a Value },
}

pub struct CloudClient {
    client: Client<OpenAIConfig>,
    settings: CloudSettings,
    breaker: Breaker,
    retries: Arc<RetryCount>,
}

impl CloudClient {
    pub fn new(config: CloudConfig) -> CloudClient {
        let openai = OpenAIConfig::new()
            .with_api_base(&config.settings.base_url)
            .with_api_key(&config.api_key);
        let retries = Arc::new(RetryCount::default());
        let transport = retry::service(config.settings.retry.clone(), retries.clone());
        if !config.settings.prices.contains_key(&config.settings.model) {
            tracing::warn!(
                "no price for cloud model {}: its cost counts as 0 and budgets cannot bind; add [cloud.prices.\"{}\"] to the configuration",
                config.settings.model,
                config.settings.model
            );
        }
        CloudClient {
            client: Client::with_config(openai).with_http_service(transport),
            breaker: Breaker::new(config.settings.breaker.clone()),
            settings: config.settings,
            retries,
        }
    }

    pub fn model(&self) -> &str {
        &self.settings.model
    }

    pub fn settings(&self) -> &CloudSettings {
        &self.settings
    }

    pub fn circuit(&self) -> Circuit {
        self.breaker.circuit()
    }

    /// Retries made since start.
    pub fn retries(&self) -> u64 {
        self.retries.get()
    }

    /// The cost of a call of this client's model.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> Option<f64> {
        pricing::cost(
            &self.settings.prices,
            &self.settings.model,
            prompt_tokens,
            completion_tokens,
        )
    }

    fn settle<T>(&self, result: Result<T, CloudError>) -> Result<T, CloudError> {
        match &result {
            Ok(_) => self.breaker.success(),
            Err(e) if e.counts_against_cloud() => self.breaker.failure(),
            Err(_) => {}
        }
        result
    }

    fn request(
        &self,
        outbound: &Outbound,
        format: &Format,
        params: &Params,
        stream: bool,
    ) -> Result<CreateChatCompletionRequest, CloudError> {
        let messages: Vec<Value> = outbound
            .turns()
            .iter()
            .map(|t| {
                let mut message = json!({"role": t.role.name(), "content": t.text});
                if !t.tool_calls.is_empty() {
                    message["tool_calls"] = t.tool_calls.iter().map(ToolCall::to_openai).collect();
                    if t.text.is_empty() {
                        message["content"] = Value::Null;
                    }
                }
                if let Some(id) = &t.tool_call_id {
                    message["tool_call_id"] = json!(id);
                }
                message
            })
            .collect();
        let mut request =
            json!({"model": self.settings.model, "messages": messages, "stream": stream});
        if stream {
            request["stream_options"] = json!({"include_usage": true});
        }
        if let Some(max) = params.max_tokens {
            request["max_completion_tokens"] = json!(max);
        }
        if let Some(t) = params.temperature {
            request["temperature"] = json!(t);
        }
        if let Some(p) = params.top_p {
            request["top_p"] = json!(p);
        }
        if let Some(seed) = params.seed {
            request["seed"] = json!(seed as i64);
        }
        if !params.stop.is_empty() {
            request["stop"] = json!(params.stop);
        }
        let tools = outbound.tools();
        if !tools.offered.is_empty() {
            request["tools"] = tools
                .offered
                .iter()
                .map(|t| {
                    let mut function = json!({"name": t.name, "parameters": t.parameters});
                    if let Some(d) = &t.description {
                        function["description"] = json!(d);
                    }
                    json!({"type": "function", "function": function})
                })
                .collect();
            if let Some(parallel) = tools.parallel {
                request["parallel_tool_calls"] = json!(parallel);
            }
            request["tool_choice"] = match &tools.choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Function(name) => {
                    json!({"type": "function", "function": {"name": name}})
                }
            };
        }
        if let Format::JsonSchema { name, schema } = format {
            request["response_format"] = json!({"type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": true}});
        }
        serde_json::from_value(request).map_err(|e| CloudError::Request(e.to_string()))
    }

    /// One answer, whole: retried where that can help, within the timeout.
    pub async fn complete(
        &self,
        outbound: &Outbound,
        format: Format<'_>,
        params: &Params,
    ) -> Result<Reply, CloudError> {
        self.breaker
            .admit()
            .map_err(|o| CloudError::CircuitOpen(o.0))?;
        let request = self.request(outbound, &format, params, false)?;
        let timeout = self.settings.timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let chat = self.client.chat();
        let call = retry::DEADLINE.scope(deadline, chat.create(request));
        let result = match tokio::time::timeout_at(deadline, call).await {
            Err(_) => Err(CloudError::Timeout(timeout)),
            Ok(Err(OpenAIError::JSONDeserialize(_, body))) => match sse::join(&body) {
                Some(joined) => Ok(Reply {
                    cost_usd: self
                        .cost(joined.prompt_tokens.into(), joined.completion_tokens.into()),
                    content: joined.content,
                    tool_calls: Vec::new(),
                    finish: Finish::Stop,
                    prompt_tokens: joined.prompt_tokens,
                    completion_tokens: joined.completion_tokens,
                }),
                None => Err(CloudError::unreadable(&body)),
            },
            Ok(Err(e)) => Err(CloudError::from(e)),
            Ok(Ok(response)) => {
                let (prompt_tokens, completion_tokens) = response
                    .usage
                    .as_ref()
                    .map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
                response
                    .choices
                    .into_iter()
                    .find_map(|c| {
                        let calls: Vec<ToolCall> = tool_calls_in(&c.message)
                            .iter()
                            .filter_map(|call| {
                                Some(ToolCall {
                                    id: call["id"].as_str()?.to_string(),
                                    name: call["function"]["name"].as_str()?.to_string(),
                                    arguments: call["function"]["arguments"]
                                        .as_str()
                                        .unwrap_or("{}")
                                        .to_string(),
                                })
                            })
                            .collect();
                        if c.message.content.is_none() && calls.is_empty() {
                            return None;
                        }
                        Some((
                            c.message.content.unwrap_or_default(),
                            calls,
                            finish_of(c.finish_reason),
                        ))
                    })
                    .ok_or(CloudError::Empty)
                    .map(|(content, tool_calls, finish)| Reply {
                        content,
                        tool_calls,
                        finish,
                        prompt_tokens,
                        completion_tokens,
                        cost_usd: self.cost(prompt_tokens.into(), completion_tokens.into()),
                    })
            }
        };
        self.settle(result)
    }

    /// One answer as it is written, chunk by chunk. The whole stream
    /// shares the request's timeout; a stream that breaks ends in an error
    /// item.
    pub async fn stream(
        &self,
        outbound: &Outbound,
        format: Format<'_>,
        params: &Params,
    ) -> Result<impl Stream<Item = Result<Delta, CloudError>> + use<>, CloudError> {
        self.breaker
            .admit()
            .map_err(|o| CloudError::CircuitOpen(o.0))?;
        let request = self.request(outbound, &format, params, true)?;
        let timeout = self.settings.timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let chat = self.client.chat();
        let opened = retry::DEADLINE.scope(deadline, chat.create_stream(request));
        let stream = self.settle(
            tokio::time::timeout_at(deadline, opened)
                .await
                .map_err(|_| CloudError::Timeout(timeout))
                .and_then(|r| r.map_err(CloudError::from)),
        )?;
        // Each chunk must come before the deadline: a stream that stalls
        // ends in a timeout, one that breaks in its error; nothing follows.
        Ok(futures::stream::unfold(
            Some(Box::pin(stream)),
            move |state| async move {
                let mut inner = state?;
                match tokio::time::timeout_at(deadline, inner.next()).await {
                    Err(_) => Some((Err(CloudError::Timeout(timeout)), None)),
                    Ok(None) => None,
                    Ok(Some(Err(e))) => Some((Err(CloudError::from(e)), None)),
                    Ok(Some(Ok(chunk))) => {
                        let mut delta = Delta {
                            usage: chunk.usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
                            ..Delta::default()
                        };
                        for choice in chunk.choices {
                            for call in tool_calls_in(&choice.delta) {
                                delta.tool_calls.push(ToolCallDelta {
                                    index: call["index"].as_u64().unwrap_or(0) as u32,
                                    id: call["id"].as_str().map(str::to_string),
                                    name: call["function"]["name"].as_str().map(str::to_string),
                                    arguments: call["function"]["arguments"]
                                        .as_str()
                                        .unwrap_or_default()
                                        .to_string(),
                                });
                            }
                            delta.text.extend(choice.delta.content);
                            if choice.finish_reason.is_some() {
                                delta.finish = Some(finish_of(choice.finish_reason));
                            }
                        }
                        Some((Ok(delta), Some(inner)))
                    }
                }
            },
        ))
    }
}
