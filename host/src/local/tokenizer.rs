//! The Gemma tokenizer: one parsed `tokenizer.json` serves prompt encoding,
//! byte-exact decoding and the token trie that constrained decoding needs.
//!
//! The Gemma 3 tokenizer knows one id more than the model has logits
//! (262144, `<image_soft_token>`): ids at or past the model's vocabulary are
//! never fed to the model (they become `<unk>`) and can never be sampled.

use std::path::Path;
use std::sync::Arc;

use llguidance::toktrie::{TokEnv, TokTrie, TokenizerEnv};
use toktrie_hf_tokenizers::{ByteTokenizer, ByteTokenizerEnv};

use super::LocalError;

pub type TokenId = u32;

pub struct Tokenizer {
    env: Arc<ByteTokenizerEnv>,
    model_vocab: usize,
    bos: TokenId,
    unk: TokenId,
    stop_tokens: Vec<TokenId>,
}

impl Tokenizer {
    /// Load `tokenizer.json`.
    pub fn load(path: &Path) -> Result<Self, LocalError> {
        if !path.is_file() {
            return Err(LocalError::ModelMissing {
                path: path.to_path_buf(),
            });
        }
        let fail = |e: anyhow::Error| LocalError::Tokenizer(format!("{}: {e:#}", path.display()));
        let mut bytes = ByteTokenizer::from_file(path).map_err(fail)?;
        let id = |name: &str| bytes.hf_tokenizer.token_to_id(name);
        let bos = id("<bos>").ok_or_else(|| LocalError::Tokenizer("no <bos> token".into()))?;
        let unk = id("<unk>").unwrap_or(0);
        let stop_tokens: Vec<TokenId> = ["<eos>", "<end_of_turn>"]
            .iter()
            .filter_map(|name| id(name))
            .collect();
        bytes.set_eos_tokens(&stop_tokens);
        bytes.hf_tokenizer.set_encode_special_tokens(true);
        // The trie spans the tokenizer's whole vocabulary: masks get one bit
        // per tokenizer id and the extra ids are simply never allowed.
        let env = ByteTokenizerEnv::new(bytes, None).map_err(fail)?;
        Ok(Tokenizer {
            env: Arc::new(env),
            model_vocab: usize::MAX,
            bos,
            unk,
            stop_tokens,
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
        &self.env.tok_trie
    }

    /// The environment llguidance builds its parsers from.
    pub fn tok_env(&self) -> TokEnv {
        self.env.clone()
    }
}
