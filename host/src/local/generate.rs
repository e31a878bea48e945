//! The generation loop: prompt in, tokens out, with stop sequences, a token
//! budget, streaming, log-probabilities, an optional JSON-schema constraint
//! and reuse of the KV cache for a prompt prefix shared with the previous
//! request (few-shot prompts share most of their tokens).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use llguidance::toktrie::SimpleVob;
use serde::Serialize;

use super::LocalError;
use super::constraint::Constraints;
use super::model::{LanguageModel, ModelInfo};
use super::sampling::{Sampler, Sampling, top_logprobs};
use super::tokenizer::{TokenId, Tokenizer};

/// Prompt tokens run per forward pass. Prefill always runs in chunks that
/// start at multiples of this, and a cached prefix is reused only up to
/// such a multiple: then every position is computed by the same kernels on
/// the same rows whether or not a cache was reused, and outputs do not
/// depend on what ran before (batched and single-token kernels round
/// differently, enough to change a sampled token).
const PREFILL_CHUNK: usize = 128;

/// Everything a caller can ask of one generation.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: String,
    pub max_tokens: usize,
    /// Generation ends before the first of these; it is not part of the text.
    pub stop: Vec<String>,
    pub sampling: Sampling,
    /// Hold the output to this JSON schema.
    pub schema: Option<serde_json::Value>,
    /// How many alternatives to report per token (OpenAI's `top_logprobs`).
    pub top_logprobs: usize,
    /// Without a schema: the first token must begin text (not a line break,
    /// blank space or the end), so the answer is never empty.
    pub answer_required: bool,
    /// The prompt spells special tokens to be read as such (a chat
    /// template's turn markers), see [`super::tokenizer::Tokenizer::encode_marked`].
    pub marked: bool,
}

impl GenerateRequest {
    pub fn new(prompt: impl Into<String>) -> Self {
        GenerateRequest {
            prompt: prompt.into(),
            max_tokens: 256,
            stop: Vec::new(),
            sampling: Sampling::Greedy,
            schema: None,
            top_logprobs: 0,
            answer_required: false,
            marked: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GeneratedToken {
    pub id: TokenId,
    pub text: String,
    /// log p under the model; `None` for tokens the schema forced, which
    /// were fed to the model without being scored.
    pub logprob: Option<f32>,
    /// log p among the tokens the schema allowed at that step.
    pub constrained_logprob: Option<f32>,
    pub top_logprobs: Vec<(TokenId, f32)>,
}

impl GeneratedToken {
    pub fn forced(&self) -> bool {
        self.logprob.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A stop token, a stop sequence, or the end of the schema's document.
    Stop,
    /// `max_tokens` reached.
    Length,
}

#[derive(Debug, Clone, Serialize)]
pub struct Generation {
    pub text: String,
    pub tokens: Vec<GeneratedToken>,
    pub finish: FinishReason,
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV state was reused from the previous request.
    pub reused_prompt_tokens: usize,
    /// See [`confidence`].
    pub confidence: f32,
    pub timings: Timings,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    pub prefill: Duration,
    pub decode: Duration,
    /// Part of `decode` spent computing schema masks.
    pub constraint: Duration,
}

/// How sure the model was of what it wrote: the geometric mean, over the
/// tokens it chose, of each token's probability among the tokens the schema
/// allowed at that step. Tokens the schema forced (keys, punctuation) carry
/// no information and are left out; with nothing chosen it is 1.
pub fn confidence(tokens: &[GeneratedToken]) -> f32 {
    let chosen: Vec<f32> = tokens
        .iter()
        .filter_map(|t| t.constrained_logprob)
        .collect();
    if chosen.is_empty() {
        return 1.0;
    }
    (chosen.iter().sum::<f32>() / chosen.len() as f32).exp()
}

/// A model with its tokenizer, and the tokens its KV cache holds.
pub struct Engine {
    model: Box<dyn LanguageModel>,
    tokenizer: Arc<Tokenizer>,
    constraints: Arc<Constraints>,
    history: Vec<TokenId>,
    /// Leading positions of `history` computed as whole prefill chunks.
    exact: usize,
    /// See [`answer_openers`]; built on first use.
    openers: Option<SimpleVob>,
}

impl Engine {
    pub fn new(
        model: Box<dyn LanguageModel>,
        tokenizer: Arc<Tokenizer>,
        constraints: Arc<Constraints>,
    ) -> Self {
        Engine {
            model,
            tokenizer,
            constraints,
            history: Vec::new(),
            exact: 0,
            openers: None,
        }
    }

    pub fn info(&self) -> &ModelInfo {
        self.model.info()
    }

    pub fn tokenizer(&self) -> &Arc<Tokenizer> {
        &self.tokenizer
    }

    pub fn context_length(&self) -> usize {
        self.model.context_length()
    }

    /// Forget the KV cache (after a failure that may have left it torn).
    pub fn reset(&mut self) {
        self.model.rewind(0);
        self.history.clear();
        self.exact = 0;
    }

    /// Generate; `on_text` receives the text as it becomes final (never a
    /// piece of a stop sequence, never half a UTF-8 character). Setting
    /// `cancel` stops at the next token.
    pub fn generate(
        &mut self,
        request: &GenerateRequest,
        cancel: &AtomicBool,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, LocalError> {
        let result = self.run(request, cancel, on_text);
        if result.is_err() || self.history.len() != self.model.cached() {
            // A failed step may leave the cache out of step with the history.
            self.reset();
        }
        result
    }

    fn run(
        &mut self,
        request: &GenerateRequest,
        cancel: &AtomicBool,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation, LocalError> {
        let prompt = if request.marked {
            self.tokenizer.encode_marked(&request.prompt)
        } else {
            self.tokenizer.encode_prompt(&request.prompt)
        };
        let context = self.model.context_length();
        if prompt.len() + request.max_tokens > context {
            return Err(LocalError::ContextOverflow {
                prompt: prompt.len(),
                max_tokens: request.max_tokens,
                context,
            });
        }
        let mut constraint = match &request.schema {
            Some(schema) => Some(self.constraints.json_schema(schema)?),
            None => None,
        };

        let started = Instant::now();
        let shared = common_prefix(&self.history, &prompt)
            .min(self.exact)
            .min(prompt.len() - 1);
        let reused = self.model.rewind(shared / PREFILL_CHUNK * PREFILL_CHUNK);
        self.history.truncate(reused);
        self.exact = reused;
        let mut logits = Vec::new();
        for chunk in prompt[reused..].chunks(PREFILL_CHUNK) {
            if cancel.load(Ordering::Relaxed) {
                return Err(LocalError::Cancelled);
            }
            logits = self.model.forward(chunk).map_err(inference)?;
            self.history.extend_from_slice(chunk);
            if chunk.len() == PREFILL_CHUNK {
                self.exact += PREFILL_CHUNK;
            }
        }
        let mut timings = Timings {
            prefill: started.elapsed(),
            ..Timings::default()
        };

        let decode_started = Instant::now();
        let vocab = self.model.vocab_size();
        let mut sampler = Sampler::new(request.sampling);
        let mut text = StopScanner::new(&request.stop);
        let mut tokens: Vec<GeneratedToken> = Vec::new();
        let finish = loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(LocalError::Cancelled);
            }
            let mask_started = Instant::now();
            let mut mask = constraint.as_mut().map(|c| c.mask()).transpose()?;
            if mask.is_none() && tokens.is_empty() && request.answer_required {
                let openers = self
                    .openers
                    .get_or_insert_with(|| answer_openers(&self.tokenizer, vocab));
                mask = Some(openers.clone());
            }
            timings.constraint += mask_started.elapsed();
            let choice = sampler.choose(&logits[..vocab], mask.as_ref());
            if self.tokenizer.is_stop_token(choice.token) {
                break FinishReason::Stop;
            }
            let mut fed = vec![choice.token];
            tokens.push(GeneratedToken {
                id: choice.token,
                text: self.tokenizer.decode(&[choice.token]),
                logprob: Some(choice.logprob),
                constrained_logprob: Some(choice.constrained_logprob),
                top_logprobs: top_logprobs(&logits[..vocab], request.top_logprobs),
            });
            if let Some(c) = constraint.as_mut() {
                let advance_started = Instant::now();
                let forced = c.advance(choice.token)?;
                timings.constraint += advance_started.elapsed();
                for &id in &forced {
                    tokens.push(GeneratedToken {
                        id,
                        text: self.tokenizer.decode(&[id]),
                        logprob: None,
                        constrained_logprob: None,
                        top_logprobs: Vec::new(),
                    });
                }
                fed.extend(forced);
            }
            let stopped = fed
                .iter()
                .any(|&id| text.push(self.tokenizer.token_bytes(id)));
            on_text_ready(&mut text, on_text);
            if stopped || constraint.as_ref().is_some_and(|c| c.is_finished()) {
                break FinishReason::Stop;
            }
            if tokens.len() >= request.max_tokens {
                break FinishReason::Length;
            }
            logits = self.model.forward(&fed).map_err(inference)?;
            self.history.extend_from_slice(&fed);
        };
        text.finish();
        on_text_ready(&mut text, on_text);
        timings.decode = decode_started.elapsed();
        Ok(Generation {
            text: text.into_text(),
            confidence: confidence(&tokens),
            tokens,
            finish,
            prompt_tokens: prompt.len(),
            reused_prompt_tokens: reused,
            timings,
        })
    }
}

/// The tokens an answer may begin with: text whose first byte is not a
/// line break and that is not blank space alone.
fn answer_openers(tokenizer: &Tokenizer, vocab: usize) -> SimpleVob {
    let mut openers = SimpleVob::alloc(vocab);
    for id in 0..vocab as TokenId {
        let bytes = tokenizer.token_bytes(id);
        let opens = !matches!(bytes.first(), None | Some(b'\n' | b'\r'))
            && !bytes.iter().all(u8::is_ascii_whitespace);
        if opens {
            openers.allow_token(id);
        }
    }
    openers
}

fn inference(e: candle_core::Error) -> LocalError {
    LocalError::Inference(e.to_string())
}

fn common_prefix(a: &[TokenId], b: &[TokenId]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn on_text_ready(text: &mut StopScanner, on_text: &mut dyn FnMut(&str)) {
    if let Some(ready) = text.take_ready() {
        on_text(&ready);
    }
}

/// Accumulates generated bytes, cuts them at the first stop sequence, and
/// releases text only once no stop sequence can still begin in it and it
/// ends on a character boundary.
struct StopScanner {
    stops: Vec<Vec<u8>>,
    bytes: Vec<u8>,
    released: usize,
    done: bool,
}

impl StopScanner {
    fn new(stops: &[String]) -> Self {
        StopScanner {
            stops: stops
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| s.as_bytes().to_vec())
                .collect(),
            bytes: Vec::new(),
            released: 0,
            done: false,
        }
    }

    /// Add a token's bytes; true when a stop sequence is now complete.
    fn push(&mut self, bytes: &[u8]) -> bool {
        if self.done {
            return true;
        }
        let longest = self.stops.iter().map(Vec::len).max().unwrap_or(0);
        let search_from = self.bytes.len().saturating_sub(longest);
        self.bytes.extend_from_slice(bytes);
        let hit = self
            .stops
            .iter()
            .filter_map(|stop| {
                self.bytes[search_from..]
                    .windows(stop.len())
                    .position(|w| w == stop.as_slice())
                    .map(|at| search_from + at)
            })
            .min();
        if let Some(at) = hit {
            self.bytes.truncate(at);
            self.done = true;
        }
        self.done
    }

    fn finish(&mut self) {
        self.done = true;
    }

    /// Text that can no longer change. Once done, a character the budget
    /// cut in half is left out rather than written as `�`.
    fn take_ready(&mut self) -> Option<String> {
        let mut end = self.bytes.len();
        if self.done {
            end = self.released + whole(&self.bytes[self.released..]);
        } else {
            let held = self
                .stops
                .iter()
                .flat_map(|stop| (1..stop.len()).rev().map(move |n| &stop[..n]))
                .filter(|prefix| self.bytes.ends_with(prefix))
                .map(|prefix| prefix.len())
                .max()
                .unwrap_or(0);
            end -= held;
            end = match std::str::from_utf8(&self.bytes[self.released..end]) {
                Ok(_) => end,
                Err(e) if e.error_len().is_none() => self.released + e.valid_up_to(),
                Err(_) => end,
            };
        }
        if end <= self.released {
            return None;
        }
        let ready = String::from_utf8_lossy(&self.bytes[self.released..end]).into_owned();
        self.released = end;
        Some(ready)
    }

    fn into_text(self) -> String {
        String::from_utf8_lossy(&self.bytes[..whole(&self.bytes)]).into_owned()
    }
}

/// The length of `bytes` without an incomplete character at its end.
fn whole(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        _ => bytes.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(stops: &[&str], pieces: &[&[u8]]) -> (Vec<String>, String) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut scanner = StopScanner::new(&stops);
        let mut released = Vec::new();
        for piece in pieces {
            let stopped = scanner.push(piece);
            released.extend(scanner.take_ready());
            if stopped {
                break;
            }
        }
        scanner.finish();
        released.extend(scanner.take_ready());
        (released, scanner.into_text())
    }

    #[test]
    fn a_stop_sequence_split_across_tokens_is_never_released() {
        let (released, text) = stream(
            &["\n\n###"],
            &[b"Hello", b" world\n", b"\n#", b"##", b" more"],
        );
        assert_eq!(text, "Hello world");
        assert_eq!(released.concat(), "Hello world");
        assert!(released.iter().all(|r| !r.contains('#')));
    }

    #[test]
    fn a_false_start_is_released_once_it_cannot_match() {
        let (released, text) = stream(&["END"], &[b"EN", b"TRY"]);
        assert_eq!(text, "ENTRY");
        assert_eq!(released, ["ENTRY"]);
    }

    #[test]
    fn a_character_cut_by_the_budget_is_left_out() {
        let bytes = "año".as_bytes();
        // The generation ends after the first byte of `ñ`.
        let (released, text) = stream(&[], &[&bytes[..1], &bytes[1..2]]);
        assert_eq!(released.concat(), "a");
        assert_eq!(text, "a");
        assert!(!text.contains('\u{FFFD}'));
    }

    #[test]
    fn utf8_characters_split_across_tokens_are_released_whole() {
        let bytes = "cédula".as_bytes();
        let (released, _) = stream(&[], &[&bytes[..2], &bytes[2..]]);
        assert_eq!(released, ["c", "édula"]);
    }
}
