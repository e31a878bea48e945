//! What a local backend is to the rest of the runtime: a causal language
//! model with a KV cache, fed tokens, answering next-token logits.

use std::sync::Arc;

use candle_core::Device;

use super::chat_template::ChatTemplate;
use super::tokenizer::TokenId;

/// A causal language model that keeps its own KV cache.
///
/// `forward` runs `tokens` at positions `cached()..cached() + tokens.len()`,
/// appends them to the cache and returns the logits of the last one.
pub trait LanguageModel: Send {
    fn forward(&mut self, tokens: &[TokenId]) -> candle_core::Result<Vec<f32>>;

    /// How many positions the cache holds.
    fn cached(&self) -> usize;

    /// Drop cached positions past `len` so a shared prompt prefix can be
    /// reused; returns how many positions are still cached, which is less
    /// than `len` when the backend cannot cut there (then it re-runs more).
    fn rewind(&mut self, len: usize) -> usize;

    /// Number of logits per step.
    fn vocab_size(&self) -> usize;

    /// The longest sequence (prompt and generation) this instance serves.
    fn context_length(&self) -> usize;

    fn info(&self) -> &ModelInfo;
}

/// What is loaded, for logs, `/readyz` and the audit.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub backend: &'static str,
    pub name: String,
    pub device: String,
    pub parameters: u64,
    /// How conversations are framed: `"checkpoint template"` (an
    /// instruction-tuned checkpoint's own chat template) or `"dialogue"`
    /// (the base model's, see [`super::chat`]).
    pub chat_format: &'static str,
    /// The checkpoint's chat template, when it has one that compiles.
    #[serde(skip)]
    pub chat_template: Option<Arc<ChatTemplate>>,
}

impl ModelInfo {
    /// The template's source as the checkpoint carries it, compiled; one
    /// that does not compile is logged and the dialogue frame serves.
    pub fn with_chat_template(mut self, source: Option<&str>) -> ModelInfo {
        self.chat_template = source.and_then(|source| match ChatTemplate::new(source) {
            Ok(template) => Some(Arc::new(template)),
            Err(problem) => {
                tracing::warn!(model = %self.name, "{problem}; conversations use the dialogue frame");
                None
            }
        });
        self.chat_format = if self.chat_template.is_some() {
            "checkpoint template"
        } else {
            "dialogue"
        };
        self
    }
}

/// CUDA when built with the `cuda` feature and a GPU answers, else the CPU;
/// the log line says which and why.
pub fn select_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        match Device::new_cuda(0) {
            Ok(device) => {
                tracing::info!("local model on CUDA device 0");
                return device;
            }
            Err(e) => tracing::warn!("built with CUDA but no GPU is usable ({e}); using the CPU"),
        }
    }
    #[cfg(not(feature = "cuda"))]
    tracing::info!(
        "local model on the CPU ({} threads): built without the `cuda` feature",
        candle_core::utils::get_num_threads()
    );
    Device::Cpu
}
