//! What a failed cloud call says, and what it never says: the upstream's
//! words. An upstream (or anything on the path) must not be able to put text
//! into the client's answer, the audit log or the log, so no variant holds
//! a byte it sent: a body is described by its shape, its size and a digest.

use std::time::Duration;

use async_openai::error::OpenAIError;
use sha2::{Digest, Sha256};

/// A failed cloud call.
#[derive(Clone, Debug, thiserror::Error)]
pub enum CloudError {
    #[error("the cloud did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the cloud answered HTTP {status}{}", body.as_ref().map(|b| format!(" ({b})")).unwrap_or_default())]
    Status { status: u16, body: Option<Body> },
    #[error("the cloud's answer is not a chat completion: {shape} ({body})")]
    Unreadable { shape: Shape, body: Body },
    #[error("the cloud could not be reached ({0})")]
    Unreachable(Transport),
    #[error("the cloud's event stream broke ({0})")]
    Stream(&'static str),
    #[error("the request to the cloud could not be built: {0}")]
    Request(String),
    #[error("the cloud answered without any content")]
    Empty,
    #[error("the cloud circuit is open after repeated failures (next try in {0:?})")]
    CircuitOpen(Duration),
}

/// What is known of a body without repeating it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    pub bytes: usize,
    /// The first 16 hex digits of its sha256.
    pub sha256: String,
}

impl Body {
    pub fn of(bytes: &[u8]) -> Body {
        Body {
            bytes: bytes.len(),
            sha256: hex::encode(&Sha256::digest(bytes)[..8]),
        }
    }
}

impl std::fmt::Display for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes, sha256 {}", self.bytes, self.sha256)
    }
}

/// What an unreadable body looked like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Empty,
    /// Server-sent events whose events are not chat chunks.
    EventStream,
    Markup,
    /// JSON, but not a chat completion.
    OtherJson,
    Text,
}

impl Shape {
    pub fn of(body: &str) -> Shape {
        let start = body.trim_start();
        if start.is_empty() {
            Shape::Empty
        } else if start.starts_with("data:") || start.starts_with("event:") {
            Shape::EventStream
        } else if start.starts_with('<') {
            Shape::Markup
        } else if serde_json::from_str::<serde_json::Value>(start).is_ok() {
            Shape::OtherJson
        } else {
            Shape::Text
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shape::Empty => "an empty body",
            Shape::EventStream => "an event stream that is not a chat completion's",
            Shape::Markup => "an HTML or XML document",
            Shape::OtherJson => "JSON of another shape",
            Shape::Text => "text that is not JSON",
        })
    }
}

/// Why the connection failed, in the transport's terms (never a body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Connect,
    Timeout,
    Body,
    Other,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Connect => "connection refused or reset",
            Transport::Timeout => "the connection timed out",
            Transport::Body => "the body could not be read",
            Transport::Other => "a transport error",
        })
    }
}

impl CloudError {
    /// A body that is not a chat completion, described.
    pub fn unreadable(body: &str) -> CloudError {
        CloudError::Unreadable {
            shape: Shape::of(body),
            body: Body::of(body.as_bytes()),
        }
    }

    /// Whether the failure says the cloud is unwell (and counts toward
    /// opening the circuit), rather than that this request was refused.
    pub fn counts_against_cloud(&self) -> bool {
        match self {
            CloudError::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            CloudError::CircuitOpen(_) | CloudError::Request(_) => false,
            _ => true,
        }
    }

    /// A short name for the failure's class, for metrics and the audit log.
    pub fn class(&self) -> &'static str {
        match self {
            CloudError::Timeout(_) => "timeout",
            CloudError::Status { .. } => "status",
            CloudError::Unreadable { .. } => "unreadable",
            CloudError::Unreachable(_) => "unreachable",
            CloudError::Stream(_) => "stream",
            CloudError::Request(_) => "request",
            CloudError::Empty => "empty",
            CloudError::CircuitOpen(_) => "circuit-open",
        }
    }
}

impl From<OpenAIError> for CloudError {
    fn from(error: OpenAIError) -> CloudError {
        match error {
            OpenAIError::ApiError(e) => CloudError::Status {
                status: e.status_code.as_u16(),
                // A 5xx body is kept as the message; a 4xx one is parsed.
                body: Some(Body::of(e.api_error.message.as_bytes())),
            },
            OpenAIError::JSONDeserialize(_, body) => CloudError::unreadable(&body),
            OpenAIError::Reqwest(e) => CloudError::Unreachable(if e.is_connect() {
                Transport::Connect
            } else if e.is_timeout() {
                Transport::Timeout
            } else if e.is_body() || e.is_decode() {
                Transport::Body
            } else {
                Transport::Other
            }),
            OpenAIError::StreamError(e) => CloudError::Stream(match *e {
                async_openai::error::StreamError::UnknownEvent(_) => "an event of an unknown kind",
                async_openai::error::StreamError::EventStream(_) => "malformed or cut off",
            }),
            OpenAIError::InvalidArgument(message) => CloudError::Request(message),
            // Middleware errors are the retry layer's: connection failures.
            OpenAIError::Boxed(_) => CloudError::Unreachable(Transport::Other),
            OpenAIError::FileSaveError(_) | OpenAIError::FileReadError(_) => {
                CloudError::Unreachable(Transport::Other)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_described_never_repeated() {
        let body = "data: {\"secret\": \"Carlos Restrepo\"}\n\n";
        let error = CloudError::unreadable(body);
        let text = error.to_string();
        assert!(!text.contains("Carlos"), "{text}");
        assert!(text.contains(&format!("{} bytes", body.len())), "{text}");
        assert_eq!(Shape::of("<html>"), Shape::Markup);
        assert_eq!(Shape::of("  "), Shape::Empty);
        assert_eq!(Shape::of("{\"a\": 1}"), Shape::OtherJson);
        assert_eq!(Shape::of("hello"), Shape::Text);
    }
}
