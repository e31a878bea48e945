//! Why a document was not read. Every cause is the caller's document (a
//! 4xx) except an extractor that is missing or out of service; each message
//! names the problem and what to send instead.

use std::time::Duration;

use crate::plugins::PluginError;

/// The extractor's own verdict, as the contract's `extract-error` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    Encrypted,
    Malformed,
    NoText,
    TooLarge,
    Unsupported,
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("the {size}-byte file is over this policy's {limit}-byte limit for documents")]
    FileTooLarge { size: usize, limit: usize },
    #[error(
        "the file's type cannot be told from its bytes (not PDF, DOCX, HTML, e-mail or UTF-8 text); declare its media type"
    )]
    Unrecognised,
    #[error("the plain-text document is not UTF-8")]
    NotUtf8,
    #[error("no extractor reads {media_type} documents (loaded extractors read: {readable})")]
    NoExtractor {
        media_type: String,
        readable: String,
    },
    #[error("{message}")]
    Refused {
        refusal: Refusal,
        media_type: String,
        message: String,
    },
    #[error(
        "the {media_type} document needs more than the {limit_mib} MiB its extractor may use: it expands too far (a decompression bomb?)"
    )]
    Expands {
        media_type: String,
        limit_mib: usize,
    },
    #[error("the {media_type} document took longer than the {deadline:?} allowed to read it")]
    TooSlow {
        media_type: String,
        deadline: Duration,
    },
    #[error(
        "the {media_type} document broke its extractor ({detail}): it is malformed or built to attack a parser"
    )]
    Broke { media_type: String, detail: String },
    #[error("the {media_type} extractor {plugin} cannot serve: {error}")]
    Unavailable {
        media_type: String,
        plugin: String,
        error: PluginError,
    },
    #[error("the document could not be audited: {0}")]
    Unaudited(String),
}

impl DocumentError {
    /// A short name of the cause, for the error's `code` and the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            DocumentError::FileTooLarge { .. } => "document_too_large",
            DocumentError::Unrecognised => "unrecognised_document",
            DocumentError::NotUtf8 => "not_utf8",
            DocumentError::NoExtractor { .. } => "no_extractor",
            DocumentError::Refused { refusal, .. } => match refusal {
                Refusal::Encrypted => "encrypted_document",
                Refusal::Malformed => "malformed_document",
                Refusal::NoText => "no_text_layer",
                Refusal::TooLarge => "document_too_large",
                Refusal::Unsupported => "unsupported_document",
            },
            DocumentError::Expands { .. } => "document_expands_too_far",
            DocumentError::TooSlow { .. } => "document_too_slow",
            DocumentError::Broke { .. } => "malformed_document",
            DocumentError::Unavailable { .. } => "extractor_unavailable",
            DocumentError::Unaudited(_) => "audit_failed",
        }
    }

    /// The HTTP status: 413 for what is too big, 415 for what no
    /// extractor reads, 422 for a document that cannot be read, 503 for an
    /// extractor out of service, 500 for an audit log that cannot write.
    pub fn status(&self) -> u16 {
        match self {
            DocumentError::FileTooLarge { .. } | DocumentError::Expands { .. } => 413,
            DocumentError::Refused {
                refusal: Refusal::TooLarge,
                ..
            } => 413,
            DocumentError::Unrecognised | DocumentError::NoExtractor { .. } => 415,
            DocumentError::Refused {
                refusal: Refusal::Unsupported,
                ..
            } => 415,
            DocumentError::NotUtf8
            | DocumentError::Refused { .. }
            | DocumentError::TooSlow { .. }
            | DocumentError::Broke { .. } => 422,
            DocumentError::Unavailable { .. } => 503,
            DocumentError::Unaudited(_) => 500,
        }
    }

    /// An extractor call that the sandbox ended, as the document's fault
    /// where it is one; `deadline` is the document's whole deadline.
    pub fn from_call(
        media_type: &str,
        plugin: &str,
        error: PluginError,
        deadline: Duration,
    ) -> DocumentError {
        let media_type = media_type.to_string();
        match error {
            PluginError::MemoryLimit { limit, .. } => DocumentError::Expands {
                media_type,
                limit_mib: limit >> 20,
            },
            PluginError::Timeout(_) => DocumentError::TooSlow {
                media_type,
                deadline,
            },
            PluginError::Trap { trap, .. } => DocumentError::Broke {
                media_type,
                detail: match trap {
                    wasmtime::Trap::StackOverflow => "nested too deep".to_string(),
                    other => other.to_string(),
                },
            },
            PluginError::InvalidOutput(detail) => DocumentError::Refused {
                refusal: Refusal::TooLarge,
                media_type,
                message: format!("the document's text is too large: {detail}"),
            },
            PluginError::InputTooLarge { size, limit } => {
                DocumentError::FileTooLarge { size, limit }
            }
            error => DocumentError::Unavailable {
                media_type,
                plugin: plugin.to_string(),
                error,
            },
        }
    }
}
