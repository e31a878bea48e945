//! The local runtime's typed errors: what callers (the API, the pipeline)
//! match on to pick a status code or a fallback.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("local model file {} is missing: run `sluice model fetch` (or `cargo xtask setup`) first", path.display())]
    ModelMissing { path: PathBuf },
    #[error("cannot load the local model from {}: {reason}", path.display())]
    Load { path: PathBuf, reason: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("the schema cannot be used for constrained decoding: {0}")]
    Schema(String),
    #[error(
        "the prompt has {prompt} tokens and asks for up to {max_tokens} more, but the local \
         model serves {context} positions: shorten the input or lower max_tokens"
    )]
    ContextOverflow {
        prompt: usize,
        max_tokens: usize,
        context: usize,
    },
    #[error("the local model is busy: {capacity} requests are already waiting; retry shortly")]
    Busy { capacity: usize },
    #[error("the request was cancelled")]
    Cancelled,
    #[error("the local inference worker has stopped")]
    WorkerStopped,
    #[error("local inference failed: {0}")]
    Inference(String),
}
