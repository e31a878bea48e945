//! Every error the API answers, in the OpenAI shape
//! `{"error": {"message", "type", "param", "code"}}`, with a status that
//! says whose fault it is and a message that says what to fix.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::local::LocalError;
use crate::pipeline::PipelineError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// OpenAI's error `type`: `invalid_request_error`, `authentication_error`,
    /// `permission_error`, `server_error`.
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
    /// Seconds, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request_error",
            message,
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "authentication_error", message)
            .code("invalid_api_key")
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "permission_error", message)
            .code("insufficient_permissions")
    }

    pub fn overloaded(message: impl Into<String>) -> ApiError {
        let mut error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", message)
            .code("overloaded");
        error.retry_after = Some(1);
        error
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    pub fn status(mut self, status: StatusCode) -> ApiError {
        self.status = status;
        self
    }

    pub fn param(mut self, param: impl Into<String>) -> ApiError {
        self.param = Some(param.into());
        self
    }

    pub fn code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.code == Some("body_too_large") {
            // The rest of the body was not read: the connection cannot
            // carry another request, and the client is told so.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<PipelineError> for ApiError {
    fn from(error: PipelineError) -> ApiError {
        let message = error.to_string();
        match error {
            PipelineError::UnknownPolicy { .. } => ApiError::not_found(message)
                .param("model")
                .code("model_not_found"),
            PipelineError::TooLarge { .. } => ApiError::invalid(message)
                .status(StatusCode::PAYLOAD_TOO_LARGE)
                .code("document_too_large"),
            PipelineError::Empty => ApiError::invalid(message).code("empty_document"),
            PipelineError::Schema(_) => ApiError::unprocessable(message)
                .param("response_format")
                .code("invalid_response_format"),
            PipelineError::Rejected(_) => {
                ApiError::unprocessable(message).code("rejected_by_policy")
            }
            PipelineError::Timeout { .. } => ApiError::internal(message)
                .status(StatusCode::GATEWAY_TIMEOUT)
                .code("timeout"),
            PipelineError::Unanswerable(_) => ApiError::internal(message)
                .status(StatusCode::BAD_GATEWAY)
                .code("no_tier_answered"),
            PipelineError::Audit(_) => ApiError::internal(message).code("audit_unavailable"),
            PipelineError::Local(local) => match local {
                LocalError::Busy { .. } => ApiError::overloaded(message),
                LocalError::ContextOverflow { .. } => {
                    ApiError::invalid(message).code("context_length_exceeded")
                }
                LocalError::Schema(_) => ApiError::unprocessable(message)
                    .param("response_format")
                    .code("invalid_response_format"),
                _ => ApiError::internal(message).code("local_model_failed"),
            },
        }
    }
}
