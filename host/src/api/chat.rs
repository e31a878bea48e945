//! `POST /v1/chat/completions` and `GET /v1/models`: a policy is a model
//! (`sluice/contract-triage`, or an alias from `[server.aliases]`).
//!
//! With `stream: true`, a policy whose answer is free text once it is routed
//! (`local`, `cloud`) streams tokens as the model makes them: the route is
//! audited before the first byte, the `answer` record when the stream ends.
//! Other policies decide the answer as a whole (route, merge, fallback, all
//! audited before it leaves), then send it as chunks. Either way the
//! response starts only once the first text, or the whole answer, exists,
//! so a request that fails early gets its error status, not a broken
//! stream; the route and the decision id come in the last chunk's `sluice`
//! fields. An error after the first byte ends the stream with an `error`
//! event, which the OpenAI clients raise.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::error::ApiError;
use crate::api::openai::{self, Body, ChatRequest};
use crate::api::{Api, REQUEST_ID_HEADER, answer_headers, unix_now};
use crate::pipeline::{Degraded, Outcome, Request};

/// Bytes of answer per SSE chunk when a whole answer is sent as chunks.
const CHUNK_BYTES: usize = 24;

pub async fn complete(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Body(chat): Body<ChatRequest>,
) -> Result<Response, ApiError> {
    if chat.n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid(
            "sluice answers with one choice: set n to 1 or leave it out",
        )
        .param("n"));
    }
    let policy = api.resolve(&chat.model)?;
    let id = super::request_id(&headers, "chatcmpl");
    let mut request = Request {
        id: id.clone(),
        policy,
        turns: chat.turns()?,
        params: chat.params()?,
        tags: chat.tags(),
        schema: chat.schema()?,
        deltas: None,
    };
    if !chat.stream.unwrap_or(false) {
        let outcome = api.answer(request).await?;
        let body = openai::completion(&id, &chat.model, unix_now(), &outcome);
        return Ok((answer_headers(&outcome), axum::Json(body)).into_response());
    }
    let (sender, mut text) = mpsc::unbounded_channel();
    request.deltas = Some(sender);
    let answering = api.clone();
    let mut task = tokio::spawn(async move { answering.answer(request).await });
    // Wait for the first text or the whole answer (or its error).
    let (first, done) = tokio::select! {
        biased;
        Some(piece) = text.recv() => (Some(piece), None),
        result = &mut task => (None, Some(joined(result)?)),
    };
    let mut headers = match &done {
        Some(outcome) => answer_headers(outcome),
        None => HeaderMap::new(),
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    let include_usage = chat
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let mut stream = Live {
        chunks: Chunks {
            id,
            model: chat.model,
            created: unix_now(),
            include_usage,
        },
        text,
        task: Some(task),
        done,
        streamed: false,
        queue: VecDeque::new(),
        finished: false,
    };
    stream.queue.push_back(
        stream
            .chunks
            .chunk(json!({"role": "assistant", "content": ""}), None),
    );
    if let Some(piece) = first {
        stream.content(piece);
    }
    let events = futures::stream::unfold(stream, |mut live| async move {
        let event = live.next().await?;
        Some((Ok::<_, Infallible>(event), live))
    });
    Ok((headers, Sse::new(events)).into_response())
}

/// A finished answering task's outcome, or the error to answer with.
fn joined(
    result: Result<Result<Outcome, ApiError>, tokio::task::JoinError>,
) -> Result<Outcome, ApiError> {
    result.map_err(|e| ApiError::internal(format!("the request failed: {e}")))?
}

/// What every chunk of one answer shares.
struct Chunks {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
}

impl Chunks {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Event {
        event(&openai::chunk(
            &self.id,
            &self.model,
            self.created,
            delta,
            finish,
        ))
    }
}

fn event(value: &Value) -> Event {
    Event::default().data(value.to_string())
}

/// An answer being streamed: text as the pipeline sends it, then the end.
struct Live {
    chunks: Chunks,
    text: mpsc::UnboundedReceiver<String>,
    task: Option<JoinHandle<Result<Outcome, ApiError>>>,
    /// The outcome, once the answering task has ended.
    done: Option<Outcome>,
    /// Whether any text came as it was made.
    streamed: bool,
    queue: VecDeque<Event>,
    finished: bool,
}

impl Live {
    fn content(&mut self, piece: String) {
        self.streamed = true;
        let chunk = self.chunks.chunk(json!({"content": piece}), None);
        self.queue.push_back(chunk);
    }

    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if self.finished {
                return None;
            }
            // Text first: the sender goes when the answering task ends.
            if let Some(piece) = self.text.recv().await {
                self.content(piece);
                continue;
            }
            let result = match (self.done.take(), self.task.take()) {
                (Some(outcome), _) => Ok(outcome),
                (None, Some(task)) => joined(task.await),
                (None, None) => Err(ApiError::internal("the answer was lost")),
            };
            self.end(result);
        }
    }

    /// The last chunks: the rest of a whole answer, the finish reason with
    /// sluice's fields, the usage if asked, `[DONE]`; or the error event.
    fn end(&mut self, result: Result<Outcome, ApiError>) {
        self.finished = true;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => {
                self.queue.push_back(event(&error.body()));
                self.queue.push_back(Event::default().data("[DONE]"));
                return;
            }
        };
        if let Some(Degraded::StreamBroken { .. }) = &outcome.degraded {
            let error =
                ApiError::internal(format!("{}", outcome.degraded.as_ref().expect("matched")))
                    .status(axum::http::StatusCode::BAD_GATEWAY)
                    .code("stream_broken");
            self.queue.push_back(event(&error.body()));
            self.queue.push_back(Event::default().data("[DONE]"));
            return;
        }
        if !self.streamed {
            let text = openai::content(&outcome);
            for piece in openai::pieces(&text, CHUNK_BYTES) {
                let chunk = self.chunks.chunk(json!({"content": piece}), None);
                self.queue.push_back(chunk);
            }
        }
        let mut last = openai::chunk(
            &self.chunks.id,
            &self.chunks.model,
            self.chunks.created,
            json!({}),
            Some(outcome.finish.name()),
        );
        last["sluice"] = openai::sluice_fields(&outcome);
        self.queue.push_back(event(&last));
        if self.chunks.include_usage {
            self.queue.push_back(event(&openai::usage_chunk(
                &self.chunks.id,
                &self.chunks.model,
                self.chunks.created,
                &outcome,
            )));
        }
        self.queue.push_back(Event::default().data("[DONE]"));
    }
}

pub async fn models(State(api): State<Arc<Api>>) -> axum::Json<Value> {
    let policies = api.pipeline.policies.snapshot();
    let mut data: Vec<Value> = policies
        .values()
        .map(|p| {
            json!({
                "id": format!("sluice/{}", p.name),
                "object": "model",
                "created": modified(&p.file),
                "owned_by": "sluice",
            })
        })
        .collect();
    for (alias, policy) in &api.settings.aliases {
        if let Some(p) = policies.get(policy) {
            data.push(json!({
                "id": alias,
                "object": "model",
                "created": modified(&p.file),
                "owned_by": "sluice",
            }));
        }
    }
    axum::Json(json!({"object": "list", "data": data}))
}

/// When a policy file last changed (Unix seconds): its version's date.
fn modified(path: &std::path::Path) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}
