//! `POST /v1/workflows/{policy}`: a document and its metadata in; the
//! structured result, the route taken, the decision id, usage and the
//! decision trace out. The body is JSON (`{"document": "...", "metadata":
//! {"tags": ["hard"]}}`) or the document itself as `text/plain` (tags then
//! in `?tags=`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::openai::{self, split_tags};
use crate::api::{Api, answer_headers};
use crate::pipeline::Request;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowRequest {
    pub document: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WorkflowQuery {
    #[serde(default)]
    pub tags: Option<String>,
}

pub async fn run(
    State(api): State<Arc<Api>>,
    Path(policy): Path<String>,
    Query(query): Query<WorkflowQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let plain = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/plain"));
    let (document, tags) = if plain {
        let document = String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::invalid("the document is not UTF-8 text"))?;
        (
            document,
            query.tags.as_deref().map(split_tags).unwrap_or_default(),
        )
    } else {
        let request: WorkflowRequest = openai::parse(&body)?;
        let tags = match request.metadata.get("tags") {
            None => Vec::new(),
            Some(Value::String(text)) => split_tags(text),
            Some(Value::Array(items)) => items
                .iter()
                .map(|t| {
                    t.as_str().map(str::to_string).ok_or_else(|| {
                        ApiError::invalid("metadata.tags must hold strings").param("metadata.tags")
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(ApiError::invalid(
                    "metadata.tags must be a list of strings or a comma-separated string",
                )
                .param("metadata.tags"));
            }
        };
        (request.document, tags)
    };
    let policy = api.resolve(&policy)?;
    let id = super::request_id(&headers, "wf");
    let outcome = api
        .answer(Request {
            tags,
            ..Request::document_for(&id, &policy, &document)
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
    }
    Ok((answer_headers(&outcome), axum::Json(body)).into_response())
}
