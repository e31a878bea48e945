//! Word lists compiled in from `data/` by the build script: given names and
//! surnames (from the pip package `faker`, every Latin-script locale; see
//! `data/names.py`), and the hand-written cue words of Spanish, Portuguese
//! and English that the recognisers look for.

include!(concat!(env!("OUT_DIR"), "/lexicon.rs"));

/// Bits of [`word`]: which capitalised-word lists hold a word.
pub mod list {
    pub const STOP_WORD: u16 = 1 << 1;
    pub const GIVEN_NAME: u16 = 1 << 2;
    pub const SURNAME: u16 = 1 << 3;
    pub const TITLE: u16 = 1 << 4;
    pub const STREET_TYPE: u16 = 1 << 5;
    pub const STREET_SUFFIX: u16 = 1 << 6;
    pub const UNIT: u16 = 1 << 7;
    pub const ORG_PREFIX: u16 = 1 << 8;
    pub const NOT_NAME: u16 = 1 << 9;
}

/// The lists holding a capitalised word (see [`list`]), trying its
/// title-case form when it is written in capitals (`PÉREZ`).
pub fn word(word: &str) -> u16 {
    if let Some(bits) = WORD_FLAGS.get(word) {
        return *bits;
    }
    let mut chars = word.chars();
    if word.len() < 2 || !word.chars().all(char::is_uppercase) {
        return 0;
    }
    let title: String = chars
        .next()
        .into_iter()
        .chain(chars.flat_map(char::to_lowercase))
        .collect();
    WORD_FLAGS.get(title.as_str()).copied().unwrap_or(0)
}

/// Whether `word`, lower-cased (ASCII letters only, so `Cédula` → `cédula`), is in `table`.
pub fn has_lower(table: &phf::Set<&'static str>, word: &str) -> bool {
    let mut buf = [0u8; 32];
    if word.len() > buf.len() {
        return false;
    }
    for (b, c) in buf.iter_mut().zip(word.bytes()) {
        *b = c.to_ascii_lowercase();
    }
    std::str::from_utf8(&buf[..word.len()]).is_ok_and(|w| table.contains(w))
}

/// Whether `word` names a month (any case; `Sept.` too), without allocating.
pub fn is_month(word: &str) -> bool {
    let word = word.trim_end_matches('.');
    if !word.starts_with(|c: char| "ADFJMNOSadfjmnos".contains(c)) {
        return false;
    }
    if !(3..=10).contains(&word.len()) || !word.is_ascii() && !word.contains('ç') {
        return false;
    }
    let mut buf = [0u8; 12];
    for (b, c) in buf.iter_mut().zip(word.bytes()) {
        *b = c.to_ascii_lowercase();
    }
    std::str::from_utf8(&buf[..word.len()]).is_ok_and(|w| MONTHS.contains(w))
}
