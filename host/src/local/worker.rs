//! One inference thread with a bounded queue in front of it.
//!
//! The model runs one request at a time (on a CPU a second concurrent
//! request would only halve the speed of both). A request that finds the
//! queue full is refused at once with [`LocalError::Busy`], which the API
//! turns into 503 + Retry-After; a request whose caller goes away (its
//! [`Pending`] dropped) stops at the next token.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};

use tokio::sync::{mpsc as chunks, oneshot};

use super::LocalError;
use super::generate::{Engine, GenerateRequest, Generation};
use super::model::ModelInfo;
use super::tokenizer::Tokenizer;

struct Job {
    request: GenerateRequest,
    text: Option<chunks::UnboundedSender<String>>,
    reply: oneshot::Sender<Result<Generation, LocalError>>,
    cancel: Arc<AtomicBool>,
}

/// The handle the rest of the host holds; cheap to clone.
#[derive(Clone)]
pub struct LocalRuntime {
    queue: SyncSender<Job>,
    capacity: usize,
    waiting: Arc<AtomicUsize>,
    info: ModelInfo,
    tokenizer: Arc<Tokenizer>,
    context_length: usize,
}

impl LocalRuntime {
    /// Start the worker thread; at most `capacity` requests wait behind the
    /// one running.
    pub fn start(engine: Engine, capacity: usize) -> Self {
        let (queue, jobs) = mpsc::sync_channel::<Job>(capacity);
        let waiting = Arc::new(AtomicUsize::new(0));
        let runtime = LocalRuntime {
            queue,
            capacity,
            waiting: waiting.clone(),
            info: engine.info().clone(),
            tokenizer: engine.tokenizer().clone(),
            context_length: engine.context_length(),
        };
        std::thread::Builder::new()
            .name("sluice-local".into())
            .spawn(move || serve(engine, jobs, waiting))
            .expect("spawning the inference thread");
        runtime
    }

    /// Queue a request; fails at once when the queue is full.
    pub fn submit(&self, request: GenerateRequest) -> Result<Pending, LocalError> {
        self.enqueue(request, None)
    }

    /// Queue a request whose text arrives piece by piece on
    /// [`Pending::text`] as it is generated.
    pub fn submit_streaming(&self, request: GenerateRequest) -> Result<Pending, LocalError> {
        let (sender, receiver) = chunks::unbounded_channel();
        let mut pending = self.enqueue(request, Some(sender))?;
        pending.text = Some(receiver);
        Ok(pending)
    }

    fn enqueue(
        &self,
        request: GenerateRequest,
        text: Option<chunks::UnboundedSender<String>>,
    ) -> Result<Pending, LocalError> {
        let (reply, answer) = oneshot::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let job = Job {
            request,
            text,
            reply,
            cancel: cancel.clone(),
        };
        self.waiting.fetch_add(1, Ordering::Relaxed);
        match self.queue.try_send(job) {
            Ok(()) => Ok(Pending {
                answer: Some(answer),
                cancel,
                text: None,
            }),
            Err(e) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                Err(match e {
                    TrySendError::Full(_) => LocalError::Busy {
                        capacity: self.capacity,
                    },
                    TrySendError::Disconnected(_) => LocalError::WorkerStopped,
                })
            }
        }
    }

    /// Requests waiting behind the running one.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn tokenizer(&self) -> &Arc<Tokenizer> {
        &self.tokenizer
    }

    pub fn context_length(&self) -> usize {
        self.context_length
    }
}

/// A queued or running request. Dropping it cancels the request.
pub struct Pending {
    answer: Option<oneshot::Receiver<Result<Generation, LocalError>>>,
    cancel: Arc<AtomicBool>,
    /// The generated text, piece by piece, for a streaming request.
    pub text: Option<chunks::UnboundedReceiver<String>>,
}

impl Pending {
    /// Wait for the result without blocking a runtime thread.
    pub async fn finish(mut self) -> Result<Generation, LocalError> {
        let answer = self.answer.take().expect("a pending request has an answer");
        answer.await.unwrap_or(Err(LocalError::WorkerStopped))
    }

    /// Wait for the result from a plain thread.
    pub fn wait(mut self) -> Result<Generation, LocalError> {
        let answer = self.answer.take().expect("a pending request has an answer");
        answer
            .blocking_recv()
            .unwrap_or(Err(LocalError::WorkerStopped))
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Whether waiting, streaming or abandoned: nobody reads the answer.
        if self.answer.is_some() || self.text.is_some() {
            self.cancel();
        }
    }
}

fn serve(mut engine: Engine, jobs: mpsc::Receiver<Job>, waiting: Arc<AtomicUsize>) {
    for job in jobs {
        waiting.fetch_sub(1, Ordering::Relaxed);
        let result = if job.cancel.load(Ordering::Relaxed) {
            Err(LocalError::Cancelled)
        } else {
            let mut send = |piece: &str| {
                if let Some(text) = &job.text {
                    // A closed receiver means the caller left: stop.
                    if text.send(piece.to_string()).is_err() {
                        job.cancel.store(true, Ordering::Relaxed);
                    }
                }
            };
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                engine.generate(&job.request, &job.cancel, &mut send)
            }))
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                tracing::error!("local inference panicked: {what}");
                engine.reset();
                Err(LocalError::Inference(format!("the model failed: {what}")))
            })
        };
        let _ = job.reply.send(result);
    }
}
