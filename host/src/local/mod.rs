//! The local tier: a Gemma model running in-process on candle, behind one
//! inference worker with a bounded queue.
//!
//! - [`gemma3`]: the embedded default, Gemma 3 from a GGUF file (CPU).
//! - [`gemma4`]: the production target, Gemma 4 safetensors (GPU with the
//!   `cuda` feature).
//! - [`generate`]: the generation loop; [`constraint`]: JSON-schema
//!   constrained decoding with llguidance; [`sampling`]: choosing tokens.
//! - [`gemv`]: the Q8_0 matrix-vector product of a decode step (AVX2);
//!   `attention`: a decode step's attention over the KV cache;
//!   `vector`: f32 loops kept in SIMD registers (softmax, GELU).
//! - [`worker`]: the queue and the thread; [`fetch`]: getting the model.
//! - [`chat`]: a conversation framed for the model, through the
//!   checkpoint's own template ([`chat_template`]) or as a dialogue for
//!   the base model;
//!   [`tool_calls`]: calls held to the offered tools' schemas.
//! - [`triage`]: the schema-constrained stage (schema, few-shot prompt),
//!   reading long documents clause by clause: [`clauses`] cuts a document
//!   into passages, [`evidence`] ranks them per field and points values
//!   back at them, [`field_confidence`] scores each field's value;
//!   [`candidates`] offers the values the document writes ([`names`],
//!   [`dates`], [`provisions`]), and [`parties`] the parties its preamble
//!   defines, none of them from the page furniture ([`furniture`]);
//!   [`basis`] says where each value was read, which the calibration of
//!   its confidence depends on.
//!
//! Sensitive text is read here; nothing in this module sends anything
//! anywhere.

mod attention;
pub mod basis;
pub mod candidates;
pub mod chat;
pub mod chat_template;
pub mod clauses;
pub mod constraint;
pub mod dates;
mod error;
pub mod evidence;
pub mod fetch;
pub mod field_confidence;
pub mod furniture;
pub mod gemma3;
pub mod gemma4;
pub mod gemv;
pub mod generate;
mod kv_cache;
pub mod model;
pub mod names;
pub mod parties;
pub mod provisions;
pub mod sampling;
pub mod tokenizer;
pub mod tool_calls;
pub mod triage;
mod vector;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::Device;

pub use constraint::Constraints;
pub use error::LocalError;
pub use fetch::ModelFiles;
pub use generate::{Engine, FinishReason, GenerateRequest, Generation};
pub use model::{LanguageModel, ModelInfo, select_device};
pub use sampling::Sampling;
pub use tokenizer::Tokenizer;
pub use worker::{LocalRuntime, Pending};

/// Which model to load.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Gemma 3 GGUF and its `tokenizer.json`.
    Gemma3Gguf {
        files: ModelFiles,
        options: gemma3::LoadOptions,
    },
    /// A Gemma 4 checkpoint folder (`config.json`, `*.safetensors`) and
    /// its `tokenizer.json`.
    Gemma4 { dir: PathBuf, tokenizer: PathBuf },
}

impl Backend {
    /// The embedded model from the default home folder.
    pub fn embedded() -> Self {
        Backend::Gemma3Gguf {
            files: ModelFiles::default_location(),
            options: gemma3::LoadOptions::default(),
        }
    }
}

/// Load a model and its tokenizer (in parallel) into an [`Engine`];
/// returns how long it took.
pub fn load(backend: &Backend) -> Result<(Engine, Duration), LocalError> {
    let started = Instant::now();
    let device = select_device();
    let tokenizer_path = match backend {
        Backend::Gemma3Gguf { files, .. } => &files.tokenizer,
        Backend::Gemma4 { tokenizer, .. } => tokenizer,
    };
    let (model, tokenizer) = std::thread::scope(|scope| {
        let model = scope.spawn(|| {
            let started = Instant::now();
            let model = load_model(backend, &device);
            tracing::debug!("model weights loaded in {:?}", started.elapsed());
            model
        });
        let started = Instant::now();
        let tokenizer = Tokenizer::load(tokenizer_path).and_then(|tokenizer| {
            tracing::debug!("tokenizer loaded in {:?}", started.elapsed());
            let constraints = Constraints::new(&tokenizer)?;
            tracing::debug!(
                "tokenizer and constraint index ready in {:?}",
                started.elapsed()
            );
            Ok((tokenizer, constraints))
        });
        (model.join().expect("model loading panicked"), tokenizer)
    });
    let model = model?;
    let (tokenizer, constraints) = tokenizer?;
    let tokenizer = tokenizer.for_model(model.vocab_size());
    let engine = Engine::new(model, Arc::new(tokenizer), Arc::new(constraints));
    let took = started.elapsed();
    tracing::info!(
        backend = engine.info().backend,
        model = %engine.info().name,
        device = %engine.info().device,
        "local model loaded in {:.0} ms",
        took.as_secs_f64() * 1e3
    );
    Ok((engine, took))
}

fn load_model(backend: &Backend, device: &Device) -> Result<Box<dyn LanguageModel>, LocalError> {
    match backend {
        Backend::Gemma3Gguf { files, options } => {
            if !files.gguf.is_file() {
                return Err(LocalError::ModelMissing {
                    path: files.gguf.clone(),
                });
            }
            let model = gemma3::Gemma3::load(&files.gguf, options, device).map_err(|e| {
                LocalError::Load {
                    path: files.gguf.clone(),
                    reason: e.to_string(),
                }
            })?;
            Ok(Box::new(model))
        }
        Backend::Gemma4 { dir, .. } => Ok(Box::new(gemma4::Gemma4::load(dir, device)?)),
    }
}
