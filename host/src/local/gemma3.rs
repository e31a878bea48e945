//! The embedded backend: Gemma 3 from a GGUF file, on candle's quantized
//! building blocks (quantized matmul, `gguf_file`).
//!
//! Written here rather than taken from `candle_transformers::quantized_gemma3`
//! because that one computes wrong logits (SiLU where Gemma 3 uses GELU with
//! the tanh approximation), builds RoPE tables for 131,072 positions in every
//! layer, keeps an f32 copy of the 262,144-row embedding, and does not apply
//! the sliding window when decoding. Here: GELU (tanh), one local and one
//! global RoPE table sized to the served context, embedding rows gathered
//! from the quantized tensor that is also the tied output projection, the
//! window applied at every step, Q5_0 weights requantised to Q8_0 at load
//! (candle's Q5_0 kernel is scalar; an AVX2 one on ggml's pattern decoded
//! 6% slower here than the Q8_0 copies), Q8_0 matrices through the AVX2
//! kernels of [`gemv`] with the projections that share an input multiplied
//! as one, and a decode step's attention read straight from the KV cache.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor, gguf_file};
use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::RmsNorm;

use super::attention;
use super::gemv::Matrices;
use super::kv_cache::KvCache;
use super::model::{LanguageModel, ModelInfo};
use super::tokenizer::TokenId;
use super::vector;

/// Positions served by default: the Gemma 3 270M context is 32K, but KV
/// memory and prefill time on a CPU make a few thousand the useful range.
pub const DEFAULT_CONTEXT: usize = 8192;

/// How to load the file.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub context_length: usize,
    /// Requantise Q5_0 tensors to Q8_0: larger, but runs on SIMD kernels.
    pub requantize_q5_0: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            context_length: DEFAULT_CONTEXT,
            requantize_q5_0: true,
        }
    }
}

pub struct Gemma3 {
    embedding: Arc<QTensor>,
    embedding_scale: f64,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: Linear,
    local_rope: Rope,
    global_rope: Rope,
    shape: Shape,
    vocab: usize,
    context_length: usize,
    cached: usize,
    info: ModelInfo,
}

struct Layer {
    /// q, k and v side by side.
    qkv: Linear,
    wo: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    attn_norm: RmsNorm,
    post_attn_norm: RmsNorm,
    ffn_norm: RmsNorm,
    post_ffn_norm: RmsNorm,
    /// The gate and up projections side by side.
    gate_up: Linear,
    down: Linear,
    sliding: bool,
    cache: KvCache,
}

/// cos and sin tables, (positions, head_dim / 2).
struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    fn new(head_dim: usize, base: f32, positions: usize, device: &Device) -> Result<Self> {
        let inv_freq: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1f32 / base.powf(i as f32 / head_dim as f32))
            .collect();
        let inv_freq = Tensor::new(inv_freq.as_slice(), device)?.unsqueeze(0)?;
        let t = Tensor::arange(0u32, positions as u32, device)?
            .to_dtype(DType::F32)?
            .unsqueeze(1)?;
        let angles = t.matmul(&inv_freq)?;
        Ok(Rope {
            cos: angles.cos()?,
            sin: angles.sin()?,
        })
    }

    fn apply(&self, x: &Tensor, start: usize) -> Result<Tensor> {
        let len = x.dim(2)?;
        let cos = self.cos.narrow(0, start, len)?;
        let sin = self.sin.narrow(0, start, len)?;
        candle_nn::rotary_emb::rope(&x.contiguous()?, &cos, &sin)
    }
}

impl Gemma3 {
    pub fn load(path: &Path, options: &LoadOptions, device: &Device) -> Result<Self> {
        let mut reader = BufReader::new(File::open(path)?);
        let content = gguf_file::Content::read(&mut reader)?;
        let meta = |key: &str| {
            content
                .metadata
                .get(&format!("gemma3.{key}"))
                .ok_or_else(|| {
                    candle_core::Error::Msg(format!("GGUF metadata has no gemma3.{key}"))
                })
        };
        let shape = Shape {
            heads: meta("attention.head_count")?.to_u32()? as usize,
            kv_heads: meta("attention.head_count_kv")?.to_u32()? as usize,
            head_dim: meta("attention.key_length")?.to_u32()? as usize,
        };
        let blocks = meta("block_count")?.to_u32()? as usize;
        let hidden = meta("embedding_length")?.to_u32()? as usize;
        let eps = meta("attention.layer_norm_rms_epsilon")?.to_f32()? as f64;
        let sliding_window = meta("attention.sliding_window")?.to_u32()? as usize;
        let trained_context = meta("context_length")?.to_u32()? as usize;
        let global_base = meta("rope.freq_base")
            .and_then(|v| v.to_f32())
            .unwrap_or(1e6);
        let local_base = meta("rope.local_freq_base")
            .and_then(|v| v.to_f32())
            .unwrap_or(1e4);
        // Gemma 3 alternates five sliding-window layers with one global one.
        let pattern = meta("attention.sliding_window_pattern")
            .and_then(|v| v.to_u32())
            .map_or(6, |v| v as usize);
        let context_length = options.context_length.min(trained_context);

        let mut file = Weights {
            content: &content,
            reader: &mut reader,
            device,
            requantize_q5_0: options.requantize_q5_0,
            parameters: 0,
        };
        let embedding = Arc::new(file.tensor("token_embd.weight")?);
        let vocab = embedding.shape().dims2()?.0;
        let mut layers = Vec::with_capacity(blocks);
        for i in 0..blocks {
            let name = |suffix: &str| format!("blk.{i}.{suffix}.weight");
            let sliding = (i + 1) % pattern != 0;
            layers.push(Layer {
                qkv: file.stacked(&[&name("attn_q"), &name("attn_k"), &name("attn_v")])?,
                wo: file.matmul(&name("attn_output"))?,
                gate_up: file.stacked(&[&name("ffn_gate"), &name("ffn_up")])?,
                down: file.matmul(&name("ffn_down"))?,
                q_norm: file.norm(&name("attn_q_norm"), eps)?,
                k_norm: file.norm(&name("attn_k_norm"), eps)?,
                attn_norm: file.norm(&name("attn_norm"), eps)?,
                post_attn_norm: file.norm(&name("post_attention_norm"), eps)?,
                ffn_norm: file.norm(&name("ffn_norm"), eps)?,
                post_ffn_norm: file.norm(&name("post_ffw_norm"), eps)?,
                sliding,
                cache: KvCache::new(sliding.then_some(sliding_window)),
            });
        }
        let output = if content.tensor_infos.contains_key("output.weight") {
            file.matmul("output.weight")?
        } else {
            // Gemma ties the output projection to the embedding.
            Linear::new(vec![embedding.clone()])?
        };
        let norm = file.norm("output_norm.weight", eps)?;
        let parameters = file.parameters;
        // An instruction-tuned GGUF carries its chat template; a base one none.
        let chat_template = content
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok().cloned());
        let name = match content.metadata.get("general.name") {
            Some(v) => v.to_string()?.clone(),
            None => "gemma-3".into(),
        };
        Ok(Gemma3 {
            embedding,
            embedding_scale: (hidden as f64).sqrt(),
            layers,
            norm,
            output,
            local_rope: Rope::new(shape.head_dim, local_base, context_length, device)?,
            global_rope: Rope::new(shape.head_dim, global_base, context_length, device)?,
            shape,
            vocab,
            context_length,
            cached: 0,
            info: ModelInfo {
                backend: "gemma3-gguf",
                name,
                device: format!("{device:?}"),
                parameters,
                chat_format: "dialogue",
                chat_template: None,
            }
            .with_chat_template(chat_template.as_deref()),
        })
    }

    fn attention(&mut self, layer: usize, x: &Tensor, start: usize) -> Result<Tensor> {
        let Shape {
            heads,
            kv_heads,
            head_dim,
        } = self.shape;
        let layer = &mut self.layers[layer];
        let (_, len, _) = x.dims3()?;
        let qkv = layer.qkv.forward(x)?;
        let (q_width, kv_width) = (heads * head_dim, kv_heads * head_dim);
        let q = qkv
            .narrow(2, 0, q_width)?
            .reshape((1, len, heads, head_dim))?
            .transpose(1, 2)?;
        let k = qkv
            .narrow(2, q_width, kv_width)?
            .reshape((1, len, kv_heads, head_dim))?
            .transpose(1, 2)?;
        let v = qkv
            .narrow(2, q_width + kv_width, kv_width)?
            .reshape((1, len, kv_heads, head_dim))?
            .transpose(1, 2)?
            .contiguous()?;
        let q = layer.q_norm.forward(&q.contiguous()?)?;
        let k = layer.k_norm.forward(&k.contiguous()?)?;
        let rope = if layer.sliding {
            &self.local_rope
        } else {
            &self.global_rope
        };
        let q = rope.apply(&q, start)?;
        let k = rope.apply(&k, start)?;
        let (keys, values, first) = layer.cache.append(&k, &v, start)?;
        let keys_len = keys.dim(2)?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let mask = attention_mask(len, start, first, keys_len, layer.cache.window())?;
        if mask.is_none()
            && let Some(out) = attention::decode_step(&q, &keys, &values, scale as f32)?
        {
            return layer.wo.forward(&out);
        }

        // Grouped-query attention without copying the shared K/V heads:
        // fold each group's query heads into the row dimension.
        let group = heads / kv_heads;
        let q = q.reshape((1, kv_heads, group * len, head_dim))?;
        let scores = (q.matmul(&keys.t()?)? * scale)?;
        let scores = match mask {
            Some(mask) => {
                let mask = Tensor::from_vec(mask, (len, keys_len), x.device())?;
                scores
                    .reshape((1, heads, len, keys_len))?
                    .broadcast_add(&mask)?
                    .reshape((1, kv_heads, group * len, keys_len))?
            }
            None => scores,
        };
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = weights
            .matmul(&values)?
            .reshape((1, heads, len, head_dim))?
            .transpose(1, 2)?
            .reshape((1, len, heads * head_dim))?;
        layer.wo.forward(&out)
    }
}

/// A weight matrix, or several that multiply the same input (q, k and v;
/// gate and up) with their products side by side.
enum Linear {
    /// Q8_0 on AVX2: the kernels of [`gemv`], every part in one pass over
    /// the workers.
    Fast(Matrices),
    /// Anything else: candle's quantized matmul, one per part.
    Candle(Vec<QMatMul>),
}

impl Linear {
    fn new(parts: Vec<Arc<QTensor>>) -> Result<Self> {
        if let Some(matrices) = Matrices::of(&parts) {
            return Ok(Linear::Fast(matrices));
        }
        let each = parts.into_iter().map(QMatMul::from_arc);
        Ok(Linear::Candle(each.collect::<Result<_>>()?))
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Linear::Fast(matrices) => matrices.forward(x),
            Linear::Candle(parts) if parts.len() == 1 => parts[0].forward(x),
            Linear::Candle(parts) => {
                let products = parts.iter().map(|p| p.forward(x));
                Tensor::cat(&products.collect::<Result<Vec<_>>>()?, 2)
            }
        }
    }

    /// The product of a `(1, m, columns)` tensor as `m` rows in one vector
    /// (the logits; the FFN's gate and up halves).
    fn values(&self, x: &Tensor) -> Result<Vec<f32>> {
        match self {
            Linear::Fast(matrices) => {
                let mut out = Vec::new();
                matrices.multiply(&x.flatten_all()?.to_vec1()?, &mut out)?;
                Ok(out)
            }
            Linear::Candle(_) => self
                .forward(x)?
                .flatten_all()?
                .to_dtype(DType::F32)?
                .to_vec1(),
        }
    }
}

/// `x` (1, m, columns) through the stacked gate and up projections: GELU
/// of each row's gate half times its up half, (1, m, w).
fn gelu_gated(gate_up: &Linear, x: &Tensor) -> Result<Tensor> {
    if !x.device().is_cpu() {
        let product = gate_up.forward(x)?;
        let width = product.dim(2)? / 2;
        return product.narrow(2, 0, width)?.gelu()? * product.narrow(2, width, width)?;
    }
    let m = x.dim(1)?;
    let values = gate_up.values(x)?;
    let width = values.len() / m / 2;
    Tensor::from_vec(
        vector::gelu_gated(&values, width),
        (1, m, width),
        x.device(),
    )
}

struct Shape {
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

/// Reads tensors out of the GGUF file, counting parameters.
struct Weights<'a, R> {
    content: &'a gguf_file::Content,
    reader: &'a mut R,
    device: &'a Device,
    requantize_q5_0: bool,
    parameters: u64,
}

impl<R: std::io::Read + std::io::Seek> Weights<'_, R> {
    fn tensor(&mut self, name: &str) -> Result<QTensor> {
        let t = self.content.tensor(self.reader, name, self.device)?;
        self.parameters += t.shape().elem_count() as u64;
        Ok(t)
    }

    /// A weight matrix, Q5_0 requantised when asked.
    fn weight(&mut self, name: &str) -> Result<QTensor> {
        let t = self.tensor(name)?;
        if self.requantize_q5_0 && t.dtype() == GgmlDType::Q5_0 {
            QTensor::quantize(&t.dequantize(self.device)?, GgmlDType::Q8_0)
        } else {
            Ok(t)
        }
    }

    fn matmul(&mut self, name: &str) -> Result<Linear> {
        self.stacked(&[name])
    }

    /// Matrices that multiply the same input, as one.
    fn stacked(&mut self, names: &[&str]) -> Result<Linear> {
        let parts = names.iter().map(|n| Ok(Arc::new(self.weight(n)?)));
        Linear::new(parts.collect::<Result<_>>()?)
    }

    fn norm(&mut self, name: &str, eps: f64) -> Result<RmsNorm> {
        let weight = self.tensor(name)?.dequantize(self.device)?;
        Ok(RmsNorm::new(weight, eps))
    }
}

/// Additive mask for `len` queries at positions `start..` over keys at
/// positions `first..first + keys`: a query sees a key at or before it and,
/// in a sliding-window layer, fewer than `window` positions back (the rule
/// llama.cpp applies). `None` when nothing needs masking.
fn attention_mask(
    len: usize,
    start: usize,
    first: usize,
    keys: usize,
    window: Option<usize>,
) -> Result<Option<Vec<f32>>> {
    let visible = |q: usize, k: usize| k <= q && window.is_none_or(|w| q - k < w);
    let all_visible = (0..len).all(|i| (0..keys).all(|j| visible(start + i, first + j)));
    if all_visible {
        return Ok(None);
    }
    let mut mask = Vec::with_capacity(len * keys);
    for i in 0..len {
        for j in 0..keys {
            mask.push(if visible(start + i, first + j) {
                0.0
            } else {
                f32::NEG_INFINITY
            });
        }
    }
    Ok(Some(mask))
}

impl LanguageModel for Gemma3 {
    fn forward(&mut self, tokens: &[TokenId]) -> Result<Vec<f32>> {
        let start = self.cached;
        if tokens.is_empty() {
            candle_core::bail!("forward needs at least one token");
        }
        if start + tokens.len() > self.context_length {
            candle_core::bail!(
                "{} positions exceed the served context of {}",
                start + tokens.len(),
                self.context_length
            );
        }
        let device = self.embedding.device();
        let ids = Tensor::new(tokens, &device)?;
        let mut x = (self.embedding.embedding(&ids)?.unsqueeze(0)? * self.embedding_scale)?;
        for i in 0..self.layers.len() {
            let residual = x.clone();
            let h = self.layers[i].attn_norm.forward(&x)?;
            let h = self.attention(i, &h, start)?;
            let layer = &self.layers[i];
            let x_mid = (layer.post_attn_norm.forward(&h)? + residual)?;
            let h = layer.ffn_norm.forward(&x_mid)?;
            let gated = gelu_gated(&layer.gate_up, &h)?;
            let h = layer.post_ffn_norm.forward(&layer.down.forward(&gated)?)?;
            x = (x_mid + h)?;
        }
        self.cached = start + tokens.len();
        let last = self.norm.forward(&x.narrow(1, tokens.len() - 1, 1)?)?;
        self.output.values(&last)
    }

    fn cached(&self) -> usize {
        self.cached
    }

    fn rewind(&mut self, len: usize) -> usize {
        let len = len.min(self.cached);
        let kept = self
            .layers
            .iter_mut()
            .map(|l| l.cache.truncate(len))
            .min()
            .unwrap_or(0);
        if kept < len {
            for layer in &mut self.layers {
                layer.cache.truncate(0);
            }
            self.cached = 0;
        } else {
            self.cached = len;
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
