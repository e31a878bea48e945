//! The production backend: Gemma 4 text models from safetensors and
//! `config.json` (a Hugging Face checkpoint folder), through
//! `candle_transformers::models::gemma4`, in bf16 on a GPU, f32 on a CPU.

use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::gemma4::config::Gemma4TextConfig;
use candle_transformers::models::gemma4::text::TextModel;

use super::LocalError;
use super::model::{LanguageModel, ModelInfo};
use super::tokenizer::TokenId;

pub struct Gemma4 {
    model: TextModel,
    cached: usize,
    vocab: usize,
    context_length: usize,
    device: Device,
    info: ModelInfo,
}

impl Gemma4 {
    /// Load `config.json` and every `*.safetensors` file in `dir`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, LocalError> {
        let fail = |reason: String| LocalError::Load {
            path: dir.to_path_buf(),
            reason,
        };
        let config_path = dir.join("config.json");
        let config = std::fs::read_to_string(&config_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LocalError::ModelMissing {
                path: config_path.clone(),
            },
            _ => fail(format!("reading config.json: {e}")),
        })?;
        let config = text_config(&config).map_err(|e| fail(format!("config.json: {e}")))?;
        let weights = safetensors_files(dir).map_err(|e| fail(e.to_string()))?;
        if weights.is_empty() {
            return Err(fail("no *.safetensors files".into()));
        }
        // SAFETY: the weight files are opened read-only and must not be
        // modified while the model is loaded, as with any mmapped model.
        let tensors = unsafe { MmapedSafetensors::multi(&weights) }
            .map_err(|e| fail(format!("reading safetensors: {e}")))?;
        let parameters = tensors
            .tensors()
            .iter()
            .map(|(_, view)| view.shape().iter().product::<usize>() as u64)
            .sum();
        // Multimodal checkpoints nest the text model under `language_model`.
        let nested = tensors
            .tensors()
            .iter()
            .any(|(name, _)| name.starts_with("model.language_model."));
        let dtype = if device.is_cuda() {
            DType::BF16
        } else {
            DType::F32
        };
        let vb = VarBuilder::from_backend(Box::new(tensors), dtype, device.clone());
        let vb = if nested {
            vb.rename_f(|name| match name.strip_prefix("model.") {
                Some(rest) => format!("model.language_model.{rest}"),
                None => name.to_string(),
            })
        } else {
            vb
        };
        let model = TextModel::new(&config, vb).map_err(|e| fail(e.to_string()))?;
        Ok(Gemma4 {
            model,
            cached: 0,
            vocab: config.vocab_size,
            context_length: config.max_position_embeddings,
            device: device.clone(),
            info: ModelInfo {
                backend: "gemma4",
                name: dir
                    .file_name()
                    .map_or_else(|| "gemma-4".into(), |n| n.to_string_lossy().into_owned()),
                device: format!("{device:?}"),
                parameters,
                chat_format: "dialogue",
                chat_template: None,
            }
            .with_chat_template(chat_template(dir).as_deref()),
        })
    }
}

/// The text model's configuration, whether `config.json` is a text-only
/// one or a multimodal one with a `text_config` section.
fn text_config(json: &str) -> serde_json::Result<Gemma4TextConfig> {
    let value: serde_json::Value = serde_json::from_str(json)?;
    match value.get("text_config") {
        Some(text) => serde_json::from_value(text.clone()),
        None => serde_json::from_value(value),
    }
}

fn safetensors_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    Ok(files)
}

impl LanguageModel for Gemma4 {
    fn forward(&mut self, tokens: &[TokenId]) -> candle_core::Result<Vec<f32>> {
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let logits = self.model.forward(&input, self.cached)?;
        self.cached += tokens.len();
        logits.flatten_all()?.to_dtype(DType::F32)?.to_vec1()
    }

    fn cached(&self) -> usize {
        self.cached
    }

    fn rewind(&mut self, len: usize) -> usize {
        // candle's Gemma 4 cache can only be cleared, not cut.
        if len < self.cached {
            self.model.clear_kv_cache();
            self.cached = 0;
        }
        self.cached
    }

    fn vocab_size(&self) -> usize {
        self.vocab
    }

    fn context_length(&self) -> usize {
        self.context_length
    }

    fn info(&self) -> &ModelInfo {
        &self.info
    }
}

/// The chat template an instruction-tuned checkpoint folder carries:
/// `chat_template.jinja`, else `tokenizer_config.json`'s `chat_template`.
fn chat_template(dir: &Path) -> Option<String> {
    if let Ok(source) = std::fs::read_to_string(dir.join("chat_template.jinja")) {
        return Some(source);
    }
    let config = std::fs::read_to_string(dir.join("tokenizer_config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&config).ok()?;
    config["chat_template"].as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    /// A Gemma 4 text model small enough to initialise at random in a test:
    /// two layers (one sliding, one global), hidden size 64, 512 tokens.
    const TINY: &str = r#"{
        "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32,
        "global_head_dim": 64, "vocab_size": 512, "sliding_window": 16,
        "max_position_embeddings": 256, "final_logit_softcapping": 30.0,
        "layer_types": ["sliding_attention", "full_attention"]
    }"#;

    /// Build the tiny model with random weights, save it as a checkpoint
    /// folder, and return the in-memory model it was saved from.
    fn write_checkpoint(dir: &Path) -> TextModel {
        let config = text_config(TINY).unwrap();
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        TextModel::new(&config, vb).unwrap();
        for (i, var) in vars.all_vars().iter().enumerate() {
            let random = Tensor::randn(0f32, 0.5, var.shape(), &Device::Cpu).unwrap();
            // Keep norms near 1 so activations stay in range; vary the rest.
            let value = if var.rank() == 1 {
                random.affine(0.1, 1.0).unwrap()
            } else {
                random
            };
            var.set(&value).unwrap_or_else(|e| panic!("var {i}: {e}"));
        }
        vars.save(dir.join("model.safetensors")).unwrap();
        std::fs::write(dir.join("config.json"), TINY).unwrap();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        TextModel::new(&config, vb).unwrap()
    }

    #[test]
    fn a_tiny_random_checkpoint_loads_and_generates() {
        let dir = tempfile::tempdir().unwrap();
        let mut reference = write_checkpoint(dir.path());
        let mut loaded = Gemma4::load(dir.path(), &super::super::select_device()).unwrap();
        assert_eq!(loaded.vocab_size(), 512);
        assert_eq!(loaded.info().backend, "gemma4");

        let prompt = [2u32, 17, 99, 311, 5];
        let logits = loaded.forward(&prompt).unwrap();
        let input = Tensor::new(&prompt[..], &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let expected: Vec<f32> = reference
            .forward(&input, 0)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let worst = logits
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst < 1e-3,
            "loaded weights differ from the saved ones by {worst}"
        );

        // Greedy generation through the KV cache, twice: same tokens.
        let greedy = |model: &mut Gemma4| {
            model.rewind(0);
            let mut logits = model.forward(&prompt).unwrap();
            let mut out = Vec::new();
            for _ in 0..8 {
                let next = logits
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .unwrap()
                    .0 as u32;
                out.push(next);
                logits = model.forward(&[next]).unwrap();
            }
            out
        };
        let first = greedy(&mut loaded);
        assert_eq!(first.len(), 8);
        assert_eq!(first, greedy(&mut loaded));
        assert_eq!(loaded.cached(), prompt.len() + 8);
    }
}
