//! The tokenizer compiled once from `tokenizer.json`, and cached.
//!
//! Parsing the Gemma `tokenizer.json` (33 MB, 262,144 tokens, 514,906
//! merges) and building Hugging Face's tokenizer from it takes seconds and
//! hundreds of MB. What encoding and constrained decoding need is much
//! smaller: the bytes of every token, the merges as id triples, the added
//! tokens. That is compiled from the Hugging Face tokenizer (the reference:
//! it also gives llguidance its token bytes), checked against it on a set of
//! probe texts, and written to `$SLUICE_HOME/cache/tokenizers/`; later loads
//! read it back in milliseconds. A tokenizer this compiler does not cover
//! (another normaliser, pre-tokeniser or model) is declined with a reason,
//! and the caller keeps using the Hugging Face one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use llguidance::toktrie::TokRxInfo;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokenizers::ModelWrapper;
use toktrie_hf_tokenizers::ByteTokenizer;

use super::TokenId;
use super::bpe::{AddedToken, Bpe, BpeTables};

/// Bumped whenever the layout or the compiler changes.
const FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compiled {
    format: u32,
    source: Stamp,
    pub info: Info,
    pub bos: TokenId,
    pub unk: TokenId,
    pub stop_tokens: Vec<TokenId>,
    /// Every token's bytes as llguidance sees them, in id order.
    pub tokens: Vec<Vec<u8>>,
    pub bpe: BpeTables,
}

/// `TokRxInfo`'s fields.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Info {
    vocab_size: u32,
    tok_eos: TokenId,
    tok_bos: Option<TokenId>,
    tok_pad: Option<TokenId>,
    tok_unk: Option<TokenId>,
    tok_end_of_turn: Option<TokenId>,
}

impl From<TokRxInfo> for Info {
    fn from(i: TokRxInfo) -> Self {
        Info {
            vocab_size: i.vocab_size,
            tok_eos: i.tok_eos,
            tok_bos: i.tok_bos,
            tok_pad: i.tok_pad,
            tok_unk: i.tok_unk,
            tok_end_of_turn: i.tok_end_of_turn,
        }
    }
}

impl From<Info> for TokRxInfo {
    fn from(i: Info) -> Self {
        TokRxInfo {
            vocab_size: i.vocab_size,
            tok_eos: i.tok_eos,
            tok_bos: i.tok_bos,
            tok_pad: i.tok_pad,
            tok_unk: i.tok_unk,
            tok_end_of_turn: i.tok_end_of_turn,
        }
    }
}

/// Which file a compiled tokenizer came from: its size and modification
/// time, so an edited or replaced file is compiled again.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stamp {
    len: u64,
    modified_ns: u128,
}

impl Stamp {
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        let modified_ns = meta
            .modified()?
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(Stamp {
            len: meta.len(),
            modified_ns,
        })
    }
}

/// Where the compiled form of the tokenizer at `source` is kept.
pub fn cache_path(source: &Path) -> PathBuf {
    let source = source
        .canonicalize()
        .unwrap_or_else(|_| source.to_path_buf());
    let digest = Sha256::digest(source.as_os_str().as_encoded_bytes());
    crate::home_dir()
        .join("cache")
        .join("tokenizers")
        .join(format!("{}.bin", &hex::encode(digest)[..24]))
}

impl Compiled {
    /// The compiled form at `cache`, if it is there, readable, of this
    /// format and made from the file `source` describes.
    pub fn read(cache: &Path, source: Stamp) -> Option<Self> {
        let bytes = std::fs::read(cache).ok()?;
        match postcard::from_bytes::<Compiled>(&bytes) {
            Ok(c) if c.format == FORMAT && c.source == source => Some(c),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("{}: unreadable, compiling again: {e}", cache.display());
                None
            }
        }
    }

    /// Write atomically: a reader sees the old file or the new one.
    pub fn write(&self, cache: &Path) -> std::io::Result<()> {
        let dir = cache.parent().expect("the cache file is in a folder");
        std::fs::create_dir_all(dir)?;
        let bytes = postcard::to_allocvec(self).map_err(std::io::Error::other)?;
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(&bytes)?;
        file.persist(cache).map_err(|e| e.error)?;
        Ok(())
    }

    /// Compile from the reference tokenizer and its JSON; the reason when
    /// this tokenizer is not one the compiled encoder reproduces.
    pub fn from_hf(
        reference: &ByteTokenizer,
        json: &[u8],
        source: Stamp,
        bos: TokenId,
        unk: TokenId,
        stop_tokens: &[TokenId],
    ) -> Result<Self, String> {
        let compiled = Compiled {
            format: FORMAT,
            source,
            info: reference.tokrx_info().into(),
            bos,
            unk,
            stop_tokens: stop_tokens.to_vec(),
            tokens: reference.token_bytes(),
            bpe: bpe_tables(reference, json)?,
        };
        let encoder = Bpe::new(compiled.bpe.clone())?;
        for text in PROBES {
            let expected = reference
                .hf_tokenizer
                .encode(*text, false)
                .map_err(|e| format!("the reference cannot encode {text:?}: {e}"))?;
            if encoder.encode(text) != expected.get_ids() {
                return Err(format!("the compiled encoder differs on {text:?}"));
            }
        }
        Ok(compiled)
    }
}

/// Texts on which the compiled encoder must give the reference's ids before
/// it is used: scripts, byte fallback, whitespace runs, added and special
/// tokens written as text, JSON.
const PROBES: &[&str] = &[
    "Hello world",
    "  two  spaces,\ttabs\tand\nnew\n\nlines\r\n  ",
    "El señor Pérez, identificado con C.C. 1.234.567 de Bogotá D.C., Calle 72 # 10-34.",
    "A empresa Zayas, Brito e Abreu Ltda., CNPJ 11.222.333/0001-81, em São Paulo — ação.",
    "THIS DISTRIBUTOR AGREEMENT (\"Agreement\") is entered into as of March 3, 2015.",
    "🦀 中文 ∑ Ω ﬁ \u{200b} \u{1F600}\u{FE0F} \u{10FFFF}",
    "<bos><eos><start_of_turn>user\n<end_of_turn> <unused0> <mask> <pad> [multimodal]",
    "{\"document_type\":\"NDA\",\"parties\":[{\"name\":\"ACME\"}],\"n\":1.5e-3,\"x\":null}",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "                                                                    x",
];

/// The reference's model, normaliser and pre-tokeniser as tables, if they
/// are the SentencePiece-style BPE the compiled encoder implements.
fn bpe_tables(reference: &ByteTokenizer, json: &[u8]) -> Result<BpeTables, String> {
    #[derive(Deserialize)]
    struct File {
        normalizer: Option<Value>,
        pre_tokenizer: Option<Value>,
        model: Model,
    }
    #[derive(Deserialize)]
    struct Model {
        #[serde(rename = "type")]
        kind: Option<String>,
        dropout: Option<f32>,
        continuing_subword_prefix: Option<String>,
        end_of_word_suffix: Option<String>,
        #[serde(default)]
        ignore_merges: bool,
        merges: Vec<MergeEntry>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum MergeEntry {
        Pair(String, String),
        Joined(String),
    }

    let file: File = serde_json::from_slice(json).map_err(|e| format!("tokenizer.json: {e}"))?;
    let model = file.model;
    if model.kind.as_deref() != Some("BPE") {
        return Err(format!("model type {:?} is not BPE", model.kind));
    }
    if model.dropout.is_some_and(|d| d > 0.0)
        || model
            .continuing_subword_prefix
            .is_some_and(|p| !p.is_empty())
        || model.end_of_word_suffix.is_some_and(|s| !s.is_empty())
        || model.ignore_merges
    {
        return Err("BPE with dropout, affixes or ignore_merges".into());
    }
    let metaspace = json!({"type": "Replace", "pattern": {"String": " "}, "content": "▁"});
    if file.normalizer.as_ref() != Some(&metaspace) {
        return Err(format!("normaliser {:?}", file.normalizer));
    }
    // Splitting on spaces is a no-op once the normaliser has replaced them.
    let splits_nothing = match &file.pre_tokenizer {
        None | Some(Value::Null) => true,
        Some(p) => {
            p["type"] == "Split" && p["pattern"] == json!({"String": " "}) && p["invert"] != true
        }
    };
    if !splits_nothing {
        return Err(format!("pre-tokeniser {:?}", file.pre_tokenizer));
    }
    let ModelWrapper::BPE(bpe) = reference.hf_tokenizer.get_model() else {
        return Err("the reference model is not BPE".into());
    };

    let vocab = reference.hf_tokenizer.get_vocab(false);
    let id = |s: &str| {
        vocab
            .get(s)
            .copied()
            .ok_or_else(|| format!("merge part {s:?} is not in the vocabulary"))
    };
    let merges = model
        .merges
        .iter()
        .map(|m| {
            let (left, right) = match m {
                MergeEntry::Pair(l, r) => (l.as_str(), r.as_str()),
                MergeEntry::Joined(s) => s
                    .split_once(' ')
                    .ok_or_else(|| format!("merge {s:?} has no space"))?,
            };
            Ok([id(left)?, id(right)?, id(&format!("{left}{right}"))?])
        })
        .collect::<Result<Vec<_>, String>>()?;

    let byte_tokens = if bpe.byte_fallback {
        let all: Option<Vec<TokenId>> = (0..=255u8)
            .map(|b| vocab.get(&format!("<0x{b:02X}>")).copied())
            .collect();
        Some(all.ok_or("byte fallback without all 256 byte tokens")?)
    } else {
        None
    };
    let chars = vocab
        .iter()
        .filter_map(|(s, &id)| {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some((c, id)),
                _ => None,
            }
        })
        .collect();

    let mut added: Vec<AddedToken> = Vec::new();
    let mut decoder: Vec<_> = reference
        .hf_tokenizer
        .get_added_tokens_decoder()
        .into_iter()
        .collect();
    decoder.sort_by_key(|(id, _)| *id);
    for (id, token) in decoder {
        if token.single_word || token.lstrip || token.rstrip || token.normalized {
            return Err(format!(
                "added token {:?} strips, is single-word or is normalised",
                token.content
            ));
        }
        added.push(AddedToken {
            content: token.content,
            id,
            special: token.special,
        });
    }

    Ok(BpeTables {
        chars,
        byte_tokens,
        unk: bpe.unk_token.as_ref().and_then(|u| vocab.get(u).copied()),
        fuse_unk: bpe.fuse_unk,
        merges,
        added,
    })
}
