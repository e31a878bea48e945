//! The cloud tier: any OpenAI-compatible chat-completions endpoint, through
//! `async-openai`. Configured from the environment (`OPENAI_BASE_URL`,
//! `OPENAI_API_KEY`, `SLUICE_CLOUD_MODEL`); without a key sluice runs in
//! local-only mode ([`CloudConfig::from_env`] gives `None`), which is a state,
//! not an error.
//!
//! Everything handed to this module must already be pseudonymised: it sends
//! what it is given.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, CreateChatCompletionRequest, CreateChatCompletionRequestArgs,
    ResponseFormat, ResponseFormatJsonSchema,
};
use futures::{Stream, StreamExt};
use serde_json::Value;

/// Where the cloud is and how long to wait for it.
#[derive(Clone, Debug)]
pub struct CloudConfig {
    /// Base URL of the API, up to and including `/v1`.
    pub base_url: String,
    pub api_key: String,
    pub model: String,
    /// Budget of one request, first byte to last.
    pub timeout: Duration,
}

/// The model used when `SLUICE_CLOUD_MODEL` is unset.
pub const DEFAULT_MODEL: &str = "gpt-5.4";

impl CloudConfig {
    /// From the environment; `None` (local-only mode) without `OPENAI_API_KEY`.
    pub fn from_env() -> Option<CloudConfig> {
        let api_key = std::env::var("OPENAI_API_KEY")
            .ok()
            .filter(|k| !k.is_empty())?;
        Some(CloudConfig {
            base_url: std::env::var("OPENAI_BASE_URL")
                .unwrap_or_else(|_| "https://api.openai.com/v1".to_string()),
            api_key,
            model: std::env::var("SLUICE_CLOUD_MODEL")
                .unwrap_or_else(|_| DEFAULT_MODEL.to_string()),
            timeout: Duration::from_secs(60),
        })
    }
}

/// A failed cloud call.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("the cloud did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cloud request failed: {0}")]
    Api(#[from] async_openai::error::OpenAIError),
    #[error("the cloud answered without any content")]
    Empty,
}

/// What one message says, and who says it.
#[derive(Clone, Debug)]
pub enum Message {
    System(String),
    User(String),
}

/// A complete answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub content: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// The answer's shape: free text, or JSON valid against a schema (strict).
#[derive(Clone, Debug)]
pub enum Format<'a> {
    Text,
    JsonSchema { name: &'a str, schema: &'a Value },
}

pub struct CloudClient {
    client: Client<OpenAIConfig>,
    config: CloudConfig,
}

impl CloudClient {
    pub fn new(config: CloudConfig) -> CloudClient {
        let openai = OpenAIConfig::new()
            .with_api_base(&config.base_url)
            .with_api_key(&config.api_key);
        CloudClient {
            client: Client::with_config(openai),
            config,
        }
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    fn request(
        &self,
        messages: &[Message],
        format: &Format,
        stream: bool,
    ) -> Result<CreateChatCompletionRequest, CloudError> {
        let messages: Vec<ChatCompletionRequestMessage> = messages
            .iter()
            .map(|m| match m {
                Message::System(s) => ChatCompletionRequestSystemMessage::from(s.as_str()).into(),
                Message::User(s) => ChatCompletionRequestUserMessage::from(s.as_str()).into(),
            })
            .collect();
        let mut args = CreateChatCompletionRequestArgs::default();
        args.model(&self.config.model)
            .messages(messages)
            .stream(stream);
        if let Format::JsonSchema { name, schema } = format {
            args.response_format(ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    description: None,
                    name: name.to_string(),
                    schema: (*schema).clone(),
                    strict: Some(true),
                },
            });
        }
        Ok(args.build()?)
    }

    /// One answer, whole.
    pub async fn complete(
        &self,
        messages: &[Message],
        format: Format<'_>,
    ) -> Result<Reply, CloudError> {
        let request = self.request(messages, &format, false)?;
        let chat = self.client.chat();
        let response = tokio::time::timeout(self.config.timeout, chat.create(request))
            .await
            .map_err(|_| CloudError::Timeout(self.config.timeout))??;
        let content = response
            .choices
            .into_iter()
            .find_map(|c| c.message.content)
            .ok_or(CloudError::Empty)?;
        let (prompt_tokens, completion_tokens) = response
            .usage
            .map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
        Ok(Reply {
            content,
            prompt_tokens,
            completion_tokens,
        })
    }

    /// One answer as it is written: the text of each chunk. The whole stream
    /// shares the request's timeout.
    pub async fn stream(
        &self,
        messages: &[Message],
        format: Format<'_>,
    ) -> Result<impl Stream<Item = Result<String, CloudError>> + use<>, CloudError> {
        let request = self.request(messages, &format, true)?;
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        let timeout = self.config.timeout;
        let chat = self.client.chat();
        let stream = tokio::time::timeout_at(deadline, chat.create_stream(request))
            .await
            .map_err(|_| CloudError::Timeout(timeout))??;
        Ok(stream.map(move |chunk| -> Result<String, CloudError> {
            if tokio::time::Instant::now() > deadline {
                return Err(CloudError::Timeout(timeout));
            }
            let chunk = chunk?;
            Ok(chunk
                .choices
                .into_iter()
                .filter_map(|c| c.delta.content)
                .collect())
        }))
    }
}
