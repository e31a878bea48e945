//! SentencePiece-style BPE, the Gemma tokenizers' kind, on token ids.
//!
//! Added tokens are split out of the text first (the longest leftmost match;
//! special ones are left as plain text, so a document cannot inject control
//! tokens); in the rest, spaces become `▁`, every character is a symbol (or
//! its UTF-8 bytes as `<0xXX>` tokens when the vocabulary lacks it), and the
//! adjacent pair with the lowest merge rank is merged, leftmost first, until
//! no pair merges. That is the algorithm of Hugging Face `tokenizers` (its
//! `AddedVocabulary` and `BPE::merge_word`, which this mirrors step by step,
//! quirks included), run on integers instead of strings; the parity tests
//! hold the two to the same ids.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::TokenId;

/// What the encoder is built from; stored in the compiled tokenizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BpeTables {
    /// The token of every character the vocabulary has as a token of its
    /// own (after spaces became `▁`).
    pub chars: Vec<(char, TokenId)>,
    /// `<0x00>` … `<0xFF>`, when the vocabulary has all of them.
    pub byte_tokens: Option<Vec<TokenId>>,
    pub unk: Option<TokenId>,
    pub fuse_unk: bool,
    /// (left, right, merged), by rank: the first merges first.
    pub merges: Vec<[TokenId; 3]>,
    pub added: Vec<AddedToken>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddedToken {
    pub content: String,
    pub id: TokenId,
    pub special: bool,
}

pub struct Bpe {
    chars: FxHashMap<char, TokenId>,
    byte_tokens: Option<Vec<TokenId>>,
    unk: Option<TokenId>,
    fuse_unk: bool,
    /// (left << 32 | right) → (rank << 32 | merged)
    merges: FxHashMap<u64, u64>,
    added: Option<AhoCorasick>,
    added_tokens: Vec<AddedToken>,
}

impl Bpe {
    pub fn new(tables: BpeTables) -> Result<Self, String> {
        let merges = tables
            .merges
            .iter()
            .enumerate()
            .map(|(rank, &[left, right, merged])| {
                (pair_key(left, right), (rank as u64) << 32 | merged as u64)
            })
            .collect();
        let added = if tables.added.is_empty() {
            None
        } else {
            let automaton = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(tables.added.iter().map(|t| &t.content))
                .map_err(|e| format!("added tokens: {e}"))?;
            Some(automaton)
        };
        Ok(Bpe {
            chars: tables.chars.into_iter().collect(),
            byte_tokens: tables.byte_tokens,
            unk: tables.unk,
            fuse_unk: tables.fuse_unk,
            merges,
            added,
            added_tokens: tables.added,
        })
    }

    pub fn encode(&self, text: &str) -> Vec<TokenId> {
        let mut ids = Vec::with_capacity(text.len() / 3);
        let mut at = 0;
        if let Some(added) = &self.added {
            for found in added.find_iter(text) {
                let token = &self.added_tokens[found.pattern().as_usize()];
                if token.special {
                    continue;
                }
                self.encode_piece(&text[at..found.start()], &mut ids);
                ids.push(token.id);
                at = found.end();
            }
        }
        self.encode_piece(&text[at..], &mut ids);
        ids
    }

    fn encode_piece(&self, piece: &str, ids: &mut Vec<TokenId>) {
        if piece.is_empty() {
            return;
        }
        let mut word = Word::with_capacity(piece.len());
        let mut unk: Option<(TokenId, usize)> = None;
        for ch in piece.chars() {
            let ch = if ch == ' ' { '▁' } else { ch };
            if let Some(&id) = self.chars.get(&ch) {
                if let Some((unk_id, _)) = unk.take() {
                    word.push(unk_id);
                }
                word.push(id);
                continue;
            }
            if let Some(bytes) = &self.byte_tokens {
                // As in `tokenizers`: a pending unknown is not flushed here.
                let mut utf8 = [0; 4];
                for b in ch.encode_utf8(&mut utf8).bytes() {
                    word.push(bytes[b as usize]);
                }
                continue;
            }
            if let Some(unk_id) = self.unk {
                unk = match unk {
                    Some(pending) if self.fuse_unk => Some(pending),
                    Some((pending, _)) => {
                        word.push(pending);
                        Some((unk_id, 0))
                    }
                    None => Some((unk_id, 0)),
                };
            }
        }
        if let Some((unk_id, _)) = unk {
            word.push(unk_id);
        }
        word.merge_all(self);
        ids.extend(word.ids());
    }

    fn merge(&self, left: TokenId, right: TokenId) -> Option<(u32, TokenId)> {
        self.merges
            .get(&pair_key(left, right))
            .map(|&m| ((m >> 32) as u32, m as u32))
    }
}

fn pair_key(left: TokenId, right: TokenId) -> u64 {
    (left as u64) << 32 | right as u64
}

/// Symbols linked left to right; a merged-away symbol is marked dead.
struct Word {
    symbols: Vec<Symbol>,
}

#[derive(Clone, Copy)]
struct Symbol {
    id: TokenId,
    prev: usize,
    next: usize,
    alive: bool,
}

const NONE: usize = usize::MAX;

impl Word {
    fn with_capacity(n: usize) -> Self {
        Word {
            symbols: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, id: TokenId) {
        let at = self.symbols.len();
        if let Some(last) = self.symbols.last_mut() {
            last.next = at;
        }
        self.symbols.push(Symbol {
            id,
            prev: if at == 0 { NONE } else { at - 1 },
            next: NONE,
            alive: true,
        });
    }

    /// Merge the lowest-ranked pair, leftmost first, until none is left.
    fn merge_all(&mut self, bpe: &Bpe) {
        // (rank, position, merged id), smallest first.
        let mut queue: BinaryHeap<Reverse<(u32, usize, TokenId)>> = self
            .symbols
            .windows(2)
            .enumerate()
            .filter_map(|(at, pair)| {
                bpe.merge(pair[0].id, pair[1].id)
                    .map(|(rank, merged)| Reverse((rank, at, merged)))
            })
            .collect();
        while let Some(Reverse((_, at, merged))) = queue.pop() {
            let left = self.symbols[at];
            if !left.alive || left.next == NONE {
                continue;
            }
            let right = self.symbols[left.next];
            // A queued pair is stale once either side has merged since.
            if bpe
                .merge(left.id, right.id)
                .is_none_or(|(_, m)| m != merged)
            {
                continue;
            }
            self.symbols[at].id = merged;
            self.symbols[at].next = right.next;
            self.symbols[left.next].alive = false;
            if right.next != NONE {
                self.symbols[right.next].prev = at;
            }
            let current = self.symbols[at];
            if current.prev != NONE {
                let prev = self.symbols[current.prev];
                if let Some((rank, merged)) = bpe.merge(prev.id, current.id) {
                    queue.push(Reverse((rank, current.prev, merged)));
                }
            }
            if current.next != NONE {
                let next = self.symbols[current.next];
                if let Some((rank, merged)) = bpe.merge(current.id, next.id) {
                    queue.push(Reverse((rank, at, merged)));
                }
            }
        }
    }

    fn ids(&self) -> impl Iterator<Item = TokenId> + '_ {
        self.symbols.iter().filter(|s| s.alive).map(|s| s.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// a=0 b=1 ab=2 c=3 abc=4 ▁=5 bytes 6..
    fn tiny() -> Bpe {
        Bpe::new(BpeTables {
            chars: vec![('a', 0), ('b', 1), ('c', 3), ('▁', 5)],
            byte_tokens: Some((0..256).map(|b| 6 + b).collect()),
            unk: None,
            fuse_unk: true,
            merges: vec![[0, 1, 2], [2, 3, 4]],
            added: vec![
                AddedToken {
                    content: "<x>".into(),
                    id: 300,
                    special: false,
                },
                AddedToken {
                    content: "<bos>".into(),
                    id: 301,
                    special: true,
                },
            ],
        })
        .unwrap()
    }

    #[test]
    fn merges_apply_by_rank_and_unknown_characters_fall_back_to_bytes() {
        let bpe = tiny();
        assert_eq!(bpe.encode("abc"), [4]);
        assert_eq!(bpe.encode("abab c"), [2, 2, 5, 3]);
        assert_eq!(bpe.encode("é"), [6 + 0xC3, 6 + 0xA9]);
        assert_eq!(bpe.encode(""), Vec::<TokenId>::new());
    }

    #[test]
    fn added_tokens_split_but_special_ones_stay_text() {
        let bpe = tiny();
        assert_eq!(bpe.encode("ab<x>c"), [2, 300, 3]);
        let bos_as_text = bpe.encode("<bos>");
        assert!(!bos_as_text.contains(&301));
        assert_eq!(bos_as_text.len(), 5);
    }
}
