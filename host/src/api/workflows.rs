//! `POST /v1/workflows/{policy}`: a document and its metadata in; the
//! structured result, the route taken, the decision id, usage and the
//! decision trace out. The document arrives as
//! - JSON: `{"document": "...", "metadata": {"tags": ["hard"]}}`, or a
//!   file in it: `{"file": {"file_data": "data:application/pdf;base64,...",
//!   "filename": "x.pdf"}}`;
//! - `multipart/form-data`: a `file` part (its own content type), with
//!   optional `metadata` (JSON) or `tags` (comma-separated) parts;
//! - any other body: the file itself, its type in `Content-Type` (sniffed
//!   from its bytes when that is missing or `application/octet-stream`),
//!   tags in `?tags=`; `text/plain` is read as it is.
//!
//! A file is read into text on this machine first; the answer's `document`
//! says what was read.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::documents::data_url;
use crate::api::error::ApiError;
use crate::api::openai::{self, split_tags};
use crate::api::{Api, answer_headers};
use crate::documents::Upload;
use crate::pipeline::Request as PipelineRequest;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowRequest {
    #[serde(default)]
    pub document: Option<String>,
    #[serde(default)]
    pub file: Option<FilePart>,
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
}

/// A file in a JSON body, as the OpenAI APIs' file parts write it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePart {
    pub file_data: String,
    #[serde(default)]
    pub filename: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WorkflowQuery {
    #[serde(default)]
    pub tags: Option<String>,
}

/// The document as sent: text, or a file to read first.
enum Sent {
    Text(String),
    File(Upload, &'static str),
}

pub async fn run(
    State(api): State<Arc<Api>>,
    Path(policy): Path<String>,
    Query(query): Query<WorkflowQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let headers = request.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let query_tags = || query.tags.as_deref().map(split_tags).unwrap_or_default();
    let (sent, tags) = if content_type.starts_with("multipart/form-data") {
        let form = Multipart::from_request(request, &()).await.map_err(|e| {
            ApiError::invalid(format!("cannot read the multipart form: {}", e.body_text()))
                .status(e.status())
        })?;
        let (upload, tags) = form_upload(form).await?;
        (Sent::File(upload, "file"), tags.unwrap_or_else(query_tags))
    } else {
        let body = openai::body_bytes(request, &()).await?;
        // curl's -d sends JSON as a form unless told otherwise.
        let json = ["", "application/json", "application/x-www-form-urlencoded"]
            .iter()
            .any(|t| content_type.split(';').next().unwrap_or_default().trim() == *t);
        if json {
            let request: WorkflowRequest = openai::parse(&body)?;
            let tags = metadata_tags(&request.metadata)?;
            let sent = match (request.document, request.file) {
                (Some(document), None) => Sent::Text(document),
                (None, Some(file)) => Sent::File(
                    data_url(&file.file_data, file.filename, "file.file_data")?,
                    "file",
                ),
                _ => {
                    return Err(ApiError::invalid(
                        "send either document (text) or file ({\"file_data\": \"data:<type>;base64,...\"}), exactly one",
                    )
                    .param("document")
                    .code("invalid_json"));
                }
            };
            (sent, tags)
        } else if content_type.starts_with("text/plain") {
            let document = String::from_utf8(body.to_vec())
                .map_err(|_| ApiError::invalid("the document is not UTF-8 text"))?;
            (Sent::Text(document), query_tags())
        } else {
            let upload = Upload {
                bytes: body.to_vec(),
                media_type: Some(content_type.clone()),
                name: None,
            };
            (Sent::File(upload, "body"), query_tags())
        }
    };

    let policy = api.resolve(&policy)?;
    let id = super::request_id(&headers, "wf");
    let (document, read) = match sent {
        Sent::Text(text) => (text, None),
        Sent::File(upload, param) => {
            let read = api.read_document(&id, &policy, upload, param).await?;
            (read.text().to_string(), Some(read))
        }
    };
    let outcome = api
        .answer(PipelineRequest {
            tags,
            ..PipelineRequest::document_for(&id, &policy, &document)
        })
        .await?;
    let mut body = openai::sluice_fields(&outcome);
    let extra = json!({
        "id": id,
        "object": "sluice.workflow.result",
        "result": outcome.result,
        "usage": {"local": outcome.local, "cloud": outcome.cloud},
        "latency_ms": outcome.latency_ms,
        "trace": outcome.trace,
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
        if let Some(read) = read {
            body.insert("document".into(), json!(read));
        }
    }
    Ok((answer_headers(&outcome), axum::Json(body)).into_response())
}

/// The tags in `metadata.tags`: a list of strings or a comma-separated string.
fn metadata_tags(metadata: &BTreeMap<String, Value>) -> Result<Vec<String>, ApiError> {
    match metadata.get("tags") {
        None => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(split_tags(text)),
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| {
                t.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::invalid("metadata.tags must hold strings").param("metadata.tags")
                })
            })
            .collect(),
        Some(_) => Err(ApiError::invalid(
            "metadata.tags must be a list of strings or a comma-separated string",
        )
        .param("metadata.tags")),
    }
}

/// A form's `file` part and its tags (from `metadata` or `tags`, if sent).
async fn form_upload(mut form: Multipart) -> Result<(Upload, Option<Vec<String>>), ApiError> {
    let broken = |e: axum::extract::multipart::MultipartError| {
        ApiError::invalid(format!("cannot read the multipart form: {}", e.body_text()))
            .status(e.status())
    };
    let mut upload = None;
    let mut tags = None;
    while let Some(field) = form.next_field().await.map_err(broken)? {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "file" if upload.is_none() => {
                let media_type = field.content_type().map(str::to_string);
                let file_name = field.file_name().map(str::to_string);
                let bytes = field.bytes().await.map_err(broken)?;
                upload = Some(Upload {
                    bytes: bytes.to_vec(),
                    media_type,
                    name: file_name,
                });
            }
            "metadata" => {
                let bytes = field.bytes().await.map_err(broken)?;
                let metadata: BTreeMap<String, Value> = openai::parse(&bytes).map_err(|e| {
                    ApiError::invalid(format!("metadata: {}", e.message)).param("metadata")
                })?;
                tags = Some(metadata_tags(&metadata)?);
            }
            "tags" => {
                let text = field.text().await.map_err(broken)?;
                tags = Some(split_tags(&text));
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "the form has a part {other:?}; send one file part, and metadata or tags"
                ))
                .param(other.to_string()));
            }
        }
    }
    let upload = upload.ok_or_else(|| {
        ApiError::invalid("the form has no file part: send the document as a part named file")
            .param("file")
    })?;
    Ok((upload, tags))
}
