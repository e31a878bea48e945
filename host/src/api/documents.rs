//! Files in requests: a data URL or base64 in a JSON body, a part of a
//! multipart form, or a raw body, read into text by the policy's
//! extractors ([`crate::pipeline::Pipeline::read_document`]). A document
//! that cannot be read is answered in the API's error shape, with a status
//! and a code that name the problem.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::api::Api;
use crate::api::error::ApiError;
use crate::documents::{Document, DocumentError, Upload};

impl From<DocumentError> for ApiError {
    fn from(error: DocumentError) -> ApiError {
        let status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
        let api_error = match status {
            StatusCode::SERVICE_UNAVAILABLE => ApiError::overloaded(error.to_string()),
            s if s.is_server_error() => ApiError::internal(error.to_string()),
            _ => ApiError::invalid(error.to_string()),
        };
        api_error.status(status).code(error.code())
    }
}

impl Api {
    /// Read a file for `policy`; `param` names where it was in the request.
    pub async fn read_document(
        &self,
        request_id: &str,
        policy: &str,
        upload: Upload,
        param: &str,
    ) -> Result<Document, ApiError> {
        self.pipeline
            .read_document(request_id, policy, upload)
            .await
            .map_err(|e| ApiError::from(e).param(param))
    }

    /// Read each file in order; their texts, for the turns.
    pub async fn read_texts(
        &self,
        request_id: &str,
        policy: &str,
        uploads: Vec<(String, Upload)>,
    ) -> Result<Vec<String>, ApiError> {
        let mut texts = Vec::with_capacity(uploads.len());
        for (param, upload) in uploads {
            let document = self
                .read_document(request_id, policy, upload, &param)
                .await?;
            texts.push(document.into_text());
        }
        Ok(texts)
    }
}

/// Base64 (standard alphabet, padding optional, whitespace ignored) to bytes.
pub fn base64_bytes(text: &str, param: &str) -> Result<Vec<u8>, ApiError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let trimmed = compact.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| STANDARD.decode(&compact))
        .map_err(|e| {
            ApiError::invalid(format!("{param}: the file's data is not base64: {e}"))
                .param(param)
                .code("invalid_file_data")
        })
}

/// A `data:<media type>;base64,<data>` URL (what the OpenAI APIs send as
/// `file_data`), or bare base64, as an upload.
pub fn data_url(text: &str, name: Option<String>, param: &str) -> Result<Upload, ApiError> {
    let (media_type, data) = match text.strip_prefix("data:") {
        Some(rest) => {
            let (header, data) = rest.split_once(',').ok_or_else(|| {
                ApiError::invalid(format!("{param}: a data URL needs a comma before its data"))
                    .param(param)
                    .code("invalid_file_data")
            })?;
            let Some(media_type) = header.strip_suffix(";base64") else {
                return Err(ApiError::invalid(format!(
                    "{param}: only base64 data URLs (data:<type>;base64,...) are read"
                ))
                .param(param)
                .code("invalid_file_data"));
            };
            (Some(media_type.to_string()).filter(|t| !t.is_empty()), data)
        }
        None => (None, text),
    };
    Ok(Upload {
        bytes: base64_bytes(data, param)?,
        media_type,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_and_bare_base64_become_uploads() {
        let upload = data_url("data:application/pdf;base64,JVBERi0=", None, "p").unwrap();
        assert_eq!(upload.bytes, b"%PDF-");
        assert_eq!(upload.media_type.as_deref(), Some("application/pdf"));
        let bare = data_url("JVBERi0", Some("a.pdf".into()), "p").unwrap();
        assert_eq!(
            (bare.bytes.as_slice(), bare.media_type),
            (&b"%PDF-"[..], None)
        );
        let error = data_url("data:text/plain,hola", None, "messages[0]").unwrap_err();
        assert!(
            error.message.contains("only base64 data URLs"),
            "{}",
            error.message
        );
        assert!(data_url("data:application/pdf;base64,%%%", None, "p").is_err());
    }
}
