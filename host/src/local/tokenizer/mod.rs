//! The Gemma tokenizer: one vocabulary serves prompt encoding, byte-exact
//! decoding and the token trie that constrained decoding needs.
//!
//! - [`compiled`]: the form loaded at start, compiled once from
//!   `tokenizer.json` and cached;
//! - [`bpe`]: the encoder that runs on it.
//!
//! The Gemma 3 tokenizer knows one id more than the model has logits
//! (262144, `<image_soft_token>`): ids at or past the model's vocabulary are
//! never fed to the model (they become `<unk>`) and can never be sampled.

pub mod bpe;
pub mod compiled;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use llguidance::toktrie::{TokEnv, TokTrie, TokenizerEnv};
use toktrie_hf_tokenizers::{ByteTokenizer, ByteTokenizerEnv};

use self::bpe::Bpe;
use self::compiled::{Compiled, Stamp};
use super::LocalError;

pub type TokenId = u32;

pub struct Tokenizer {
    env: TokEnv,
    model_vocab: usize,
    bos: TokenId,
    unk: TokenId,
    stop_tokens: Vec<TokenId>,
}

impl Tokenizer {
    /// Load `tokenizer.json`: its compiled form when the cache has it for
    /// this very file, else compile it (seconds) and cache the result.
    pub fn load(path: &Path) -> Result<Self, LocalError> {
        if !path.is_file() {
            return Err(LocalError::ModelMissing {
                path: path.to_path_buf(),
            });
        }
        let fail = |e: String| LocalError::Tokenizer(format!("{}: {e}", path.display()));
        let stamp = Stamp::of(path).map_err(|e| fail(e.to_string()))?;
        let cache = compiled::cache_path(path);
        if let Some(compiled) = Compiled::read(&cache, stamp) {
            return Self::from_compiled(compiled).map_err(fail);
        }

        let started = Instant::now();
        let json = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let mut reference =
            ByteTokenizer::from_json_bytes(&json).map_err(|e| fail(format!("{e:#}")))?;
        let id = |name: &str| reference.hf_tokenizer.token_to_id(name);
        let bos = id("<bos>").ok_or_else(|| fail("no <bos> token".into()))?;
        let unk = id("<unk>").unwrap_or(0);
        let stop_tokens: Vec<TokenId> = ["<eos>", "<end_of_turn>"]
            .iter()
            .filter_map(|name| id(name))
            .collect();
        reference.set_eos_tokens(&stop_tokens);
        reference.hf_tokenizer.set_encode_special_tokens(true);
        match Compiled::from_hf(&reference, &json, stamp, bos, unk, &stop_tokens) {
            Ok(compiled) => {
                match compiled.write(&cache) {
                    Ok(()) => tracing::info!(
                        "tokenizer compiled in {:.1} s, cached at {}",
                        started.elapsed().as_secs_f64(),
                        cache.display()
                    ),
                    Err(e) => {
                        tracing::warn!("cannot cache the tokenizer at {}: {e}", cache.display())
                    }
                }
                Self::from_compiled(compiled).map_err(fail)
            }
            Err(reason) => {
                tracing::info!(
                    "{}: not compiled ({reason}); encoding with tokenizers",
                    path.display()
                );
                // The trie spans the tokenizer's whole vocabulary: masks get
                // one bit per tokenizer id and the extra ids are never allowed.
                let env =
                    ByteTokenizerEnv::new(reference, None).map_err(|e| fail(format!("{e:#}")))?;
                Ok(Tokenizer {
                    env: Arc::new(env),
                    model_vocab: usize::MAX,
                    bos,
                    unk,
                    stop_tokens,
                })
            }
        }
    }

    fn from_compiled(compiled: Compiled) -> Result<Self, String> {
        let mut trie = TokTrie::from(&compiled.info.into(), &compiled.tokens);
        if compiled.stop_tokens.len() > 1 {
            trie = trie.with_eos_tokens(&compiled.stop_tokens);
        }
        let env = CompiledEnv {
            trie,
            bpe: Bpe::new(compiled.bpe)?,
        };
        Ok(Tokenizer {
            env: Arc::new(env),
            model_vocab: usize::MAX,
            bos: compiled.bos,
            unk: compiled.unk,
            stop_tokens: compiled.stop_tokens,
        })
    }

    /// Pair with a model that has `vocab` logits: ids past them are never
    /// fed to it.
    pub fn for_model(mut self, vocab: usize) -> Self {
        self.model_vocab = vocab;
        self
    }

    /// `<bos>` followed by the text's tokens. Special-token strings inside
    /// the text are tokenised as plain text, so a document cannot inject
    /// control tokens.
    pub fn encode_prompt(&self, text: &str) -> Vec<TokenId> {
        let mut ids = vec![self.bos];
        ids.extend(self.encode(text));
        ids
    }

    /// Like [`Tokenizer::encode_prompt`], with each `<…>` of `text` that
    /// spells a special token read as that token: a chat template's turn
    /// markers (`<start_of_turn>`), which plain encoding reads as text.
    pub fn encode_marked(&self, text: &str) -> Vec<TokenId> {
        let mut ids = vec![self.bos];
        let mut plain = 0;
        let mut at = 0;
        while let Some(open) = text[at..].find('<').map(|i| at + i) {
            let special = text[open..]
                .find('>')
                .filter(|&close| close < 64)
                .and_then(|close| Some((close, self.special(&text[open..=open + close])?)));
            match special {
                Some((close, id)) => {
                    ids.extend(self.encode(&text[plain..open]));
                    ids.push(id);
                    plain = open + close + 1;
                    at = plain;
                }
                None => at = open + 1,
            }
        }
        ids.extend(self.encode(&text[plain..]));
        ids
    }

    /// Whether `spelling` (`<end_of_turn>`) names a special token.
    pub fn is_special(&self, spelling: &str) -> bool {
        self.special(spelling).is_some()
    }

    fn special(&self, spelling: &str) -> Option<TokenId> {
        self.trie()
            .get_special_token(spelling)
            .filter(|&id| (id as usize) < self.model_vocab)
    }

    /// The text's tokens, without `<bos>`.
    pub fn encode(&self, text: &str) -> Vec<TokenId> {
        self.env
            .tokenize_bytes(text.as_bytes())
            .into_iter()
            .map(|id| {
                if (id as usize) < self.model_vocab {
                    id
                } else {
                    self.unk
                }
            })
            .collect()
    }

    /// The bytes a token stands for; empty for special tokens.
    pub fn token_bytes(&self, id: TokenId) -> &[u8] {
        let bytes = self.trie().token(id);
        if bytes.first() == Some(&TokTrie::SPECIAL_TOKEN_MARKER) {
            &[]
        } else {
            bytes
        }
    }

    /// Decode ids to text, dropping special tokens.
    pub fn decode(&self, ids: &[TokenId]) -> String {
        String::from_utf8_lossy(&self.trie().decode_ext(ids, false)).into_owned()
    }

    /// Tokens that end a generation (`<eos>`, `<end_of_turn>`).
    pub fn stop_tokens(&self) -> &[TokenId] {
        &self.stop_tokens
    }

    pub fn is_stop_token(&self, id: TokenId) -> bool {
        self.stop_tokens.contains(&id)
    }

    pub fn model_vocab(&self) -> usize {
        self.model_vocab
    }

    pub fn trie(&self) -> &TokTrie {
        self.env.tok_trie()
    }

    /// The environment llguidance builds its parsers from.
    pub fn tok_env(&self) -> TokEnv {
        self.env.clone()
    }
}

/// The compiled encoder and the trie, as llguidance asks for them.
struct CompiledEnv {
    trie: TokTrie,
    bpe: Bpe,
}

impl TokenizerEnv for CompiledEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        self.trie
            .tokenize_with_greedy_fallback(s, |s| self.bpe.encode(s))
    }
}
