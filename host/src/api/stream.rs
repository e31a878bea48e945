//! An answer sent as server-sent events, whatever the API's event format.
//!
//! [`begin`] runs the request with its text streamed: a policy whose
//! answer is free text once routed sends tokens as the model makes them,
//! any other answers whole. The response starts only once the first text,
//! or the whole answer, exists, so a request that fails early gets its
//! error status, not a broken stream. [`sse`] then turns the text and the
//! end into one API's events through its [`Encode`]: chat chunks, Responses
//! events or Messages events. A client that goes away drops the stream,
//! which stops the generation.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::error::ApiError;
use crate::api::openai;
use crate::api::{Api, REQUEST_ID_HEADER, answer_headers};
use crate::cloud::ToolCallDelta;
use crate::pipeline::{Degraded, Outcome, Piece, Request};

/// Bytes of answer per event when a whole answer is sent in pieces.
const CHUNK_BYTES: usize = 24;

/// One API's events for an answer.
pub trait Encode: Send + 'static {
    /// The whole answer as one body, when the caller did not stream.
    fn whole(&self, outcome: &Outcome) -> serde_json::Value;
    /// What opens the stream, before any text.
    fn open(&mut self) -> Vec<Event>;
    /// A piece of the answer's text, as it was made.
    fn text(&mut self, piece: &str) -> Vec<Event>;
    /// A piece of a tool call, as it was made. An API that offers no tools
    /// never gets one.
    fn tool_call(&mut self, _piece: &ToolCallDelta) -> Vec<Event> {
        Vec::new()
    }
    /// The end, after the whole answer's text and calls were sent.
    fn end(&mut self, outcome: &Outcome) -> Vec<Event>;
    /// A failure after the stream began.
    fn error(&mut self, error: &ApiError) -> Vec<Event>;
}

/// Answer `request` in `encoder`'s API: one JSON body, or with `stream`
/// its events. Each API's handler ends here.
pub async fn respond<E: Encode>(
    api: &Arc<Api>,
    request: Request,
    stream: bool,
    encoder: E,
) -> Result<Response, ApiError> {
    let id = request.id.clone();
    if !stream {
        let outcome = api.answer(request).await?;
        let body = encoder.whole(&outcome);
        return Ok((answer_headers(&outcome), axum::Json(body)).into_response());
    }
    let answering = begin(api, request).await?;
    let headers = answering.headers(&id);
    Ok((headers, sse(answering, encoder)).into_response())
}

/// A request being answered with its text streamed.
pub struct Answering {
    text: mpsc::UnboundedReceiver<Piece>,
    task: Option<JoinHandle<Result<Outcome, ApiError>>>,
    first: Option<Piece>,
    done: Option<Outcome>,
}

/// Start answering `request`; wait for its first text or its whole answer.
/// An error before either is returned, for the caller to answer with.
pub async fn begin(api: &Arc<Api>, mut request: Request) -> Result<Answering, ApiError> {
    let (sender, mut text) = mpsc::unbounded_channel();
    request.deltas = Some(sender);
    let answering = api.clone();
    let mut task = tokio::spawn(async move { answering.answer(request).await });
    let (first, done) = tokio::select! {
        biased;
        Some(piece) = text.recv() => (Some(piece), None),
        result = &mut task => (None, Some(joined(result)?)),
    };
    Ok(Answering {
        text,
        task: Some(task),
        first,
        done,
    })
}

fn joined(
    result: Result<Result<Outcome, ApiError>, tokio::task::JoinError>,
) -> Result<Outcome, ApiError> {
    result.map_err(|e| ApiError::internal(format!("the request failed: {e}")))?
}

impl Answering {
    /// `x-request-id`, and the route and decision when the answer was
    /// whole before the first byte.
    pub fn headers(&self, request_id: &str) -> HeaderMap {
        let mut headers = match &self.done {
            Some(outcome) => answer_headers(outcome),
            None => HeaderMap::new(),
        };
        if let Ok(value) = HeaderValue::from_str(request_id) {
            headers.insert(REQUEST_ID_HEADER, value);
        }
        headers
    }
}

/// The events of `answering` in `encoder`'s format.
pub fn sse<E: Encode>(
    answering: Answering,
    mut encoder: E,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut live = Live {
        queue: encoder.open().into(),
        encoder,
        answering,
        streamed: false,
        finished: false,
    };
    if let Some(first) = live.answering.first.take() {
        live.piece(first);
    }
    Sse::new(futures::stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok(event), live))
    }))
}

struct Live<E> {
    encoder: E,
    answering: Answering,
    queue: VecDeque<Event>,
    streamed: bool,
    finished: bool,
}

impl<E: Encode> Live<E> {
    fn piece(&mut self, piece: Piece) {
        self.streamed = true;
        let events = match &piece {
            Piece::Text(text) => self.encoder.text(text),
            Piece::ToolCall(call) => self.encoder.tool_call(call),
        };
        self.queue.extend(events);
    }

    /// An answer decided whole: its text in pieces, then its calls.
    fn whole(&mut self, outcome: &Outcome) {
        let text = openai::content(outcome);
        for piece in openai::pieces(&text, CHUNK_BYTES) {
            self.queue.extend(self.encoder.text(piece));
        }
        for (index, call) in outcome.tool_calls.iter().enumerate() {
            self.queue.extend(self.encoder.tool_call(&ToolCallDelta {
                index: index as u32,
                id: Some(call.id.clone()),
                name: Some(call.name.clone()),
                arguments: call.arguments.clone(),
            }));
        }
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
            if let Some(piece) = self.answering.text.recv().await {
                self.piece(piece);
                continue;
            }
            let result = match (self.answering.done.take(), self.answering.task.take()) {
                (Some(outcome), _) => Ok(outcome),
                (None, Some(task)) => joined(task.await),
                (None, None) => Err(ApiError::internal("the answer was lost")),
            };
            self.finished = true;
            let events = match result {
                Ok(outcome) => match &outcome.degraded {
                    Some(broken @ Degraded::StreamBroken { .. }) => {
                        let error = ApiError::internal(broken.to_string())
                            .status(axum::http::StatusCode::BAD_GATEWAY)
                            .code("stream_broken");
                        self.encoder.error(&error)
                    }
                    _ => {
                        if !self.streamed {
                            self.whole(&outcome);
                        }
                        self.encoder.end(&outcome)
                    }
                },
                Err(error) => self.encoder.error(&error),
            };
            self.queue.extend(events);
        }
    }
}
