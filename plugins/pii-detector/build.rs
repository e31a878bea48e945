//! Compiles the word lists in `data/` (one entry per line, `#` comments) into
//! static tables, so that a fresh instance looks words up without building
//! anything at run time:
//! - `CAPITALS`, `OTHERS` and `KEYS`: every word list in two open-addressing
//!   hash tables (see `src/word_hash.rs`), word → bits (`lexicon::list`), so
//!   that a token costs one lookup however many lists hold it. Words that
//!   start with a capital are apart from the few hundred others, whose table
//!   stays in the processor's nearest cache. A slot is one `u32`: where the
//!   word is in `KEYS` (its bits, four bytes, then the word), six bits of its
//!   hash and its length (`offset << 11 | tag << 5 | length`; 0 when empty);
//!   Place names of several words (`Ciudad Real`) are keys as written, with
//!   single spaces; their first word is marked as one that may start one;
//! - `ORG_SUFFIXES`: the company suffixes, grouped by their first byte.

#[path = "src/word_hash.rs"]
mod word_hash;

use std::collections::BTreeMap;
use std::fmt::Write;

/// Lists of capitalised words, as written (`lexicon::list`).
const CAPITALISED: &[(&str, u32)] = &[
    ("stop_words", 1 << 1),
    ("given_names", 1 << 2),
    ("surnames", 1 << 3),
    ("titles", 1 << 4),
    ("street_types", 1 << 5),
    ("street_suffixes", 1 << 6),
    ("units", 1 << 7),
    ("org_prefixes", 1 << 8),
    ("not_names", 1 << 9),
];

/// Lists of words compared as written, in any position.
const EXACT: &[(&str, u32)] = &[
    ("name_particles", 1 << 10),
    ("name_connectors", 1 << 11),
    ("street_particles", 1 << 12),
    ("directions", 1 << 13),
    ("street_words", 1 << 14),
];

/// Lists of lower-case words entered in their title-case form, which is how
/// a sentence's first word is written (`lexicon::list::COMMON`).
const TITLED: &[(&str, u32)] = &[("common_words", 1 << 25)];

/// Lists of place names, as written, some of several words
/// (`lexicon::list::PLACE`); the first word of those gets `PLACE_START`.
const PLACES: &[(&str, u32)] = &[("places", 1 << 26), ("regions", 1 << 26)];
const PLACE_START: u32 = 1 << 27;

/// The list of the first words of company suffixes (`S` of `S.A.S.`), as
/// written (`lexicon::list::SUFFIX_START`).
const SUFFIX_START: u32 = 1 << 15;

/// Lists of lower-case words that match in any ASCII case.
const CUES: &[(&str, u32)] = &[
    ("org_cues", 1 << 16),
    ("person_cues", 1 << 17),
    ("months", 1 << 18),
    ("id_cues", 1 << 19),
    ("account_cues", 1 << 20),
    ("phone_cues", 1 << 21),
    ("money_cues", 1 << 22),
    ("tax_cues", 1 << 23),
    ("address_cues", 1 << 24),
    ("place_cues", 1 << 28),
    ("relatives", 1 << 29),
];

fn read(stem: &str) -> Vec<String> {
    std::fs::read_to_string(format!("data/{stem}.txt"))
        .expect("word list")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn main() {
    println!("cargo::rerun-if-changed=data");
    println!("cargo::rerun-if-changed=src/word_hash.rs");
    let mut bits: BTreeMap<String, u32> = BTreeMap::new();
    for &(stem, bit) in CAPITALISED.iter().chain(EXACT) {
        for word in read(stem) {
            *bits.entry(word).or_default() |= bit;
        }
    }
    for &(stem, bit) in TITLED {
        for word in read(stem) {
            let mut chars = word.chars();
            let title: String = chars
                .next()
                .into_iter()
                .flat_map(char::to_uppercase)
                .chain(chars)
                .collect();
            *bits.entry(title).or_default() |= bit;
        }
    }
    for &(stem, bit) in PLACES {
        for place in read(stem) {
            let first: String = place
                .chars()
                .take_while(|&c| c.is_alphanumeric() || c == '\'')
                .collect();
            if first.len() < place.len() {
                *bits.entry(first).or_default() |= PLACE_START;
            }
            *bits.entry(place).or_default() |= bit;
        }
    }
    for suffix in read("org_suffixes") {
        let first: String = suffix.chars().take_while(|c| c.is_alphanumeric()).collect();
        if !first.is_empty() {
            *bits.entry(first).or_default() |= SUFFIX_START;
        }
    }
    for &(stem, bit) in CUES {
        for word in read(stem) {
            assert_eq!(word, word.to_ascii_lowercase(), "cues are lower case");
            // Its title-case form too, which lands in the capitalised
            // table: a capitalised word (`Cédula`) finds its cue lists in
            // the lookup it makes anyway.
            if word.starts_with(|c: char| c.is_ascii_lowercase()) {
                let mut title = word.clone();
                title[..1].make_ascii_uppercase();
                *bits.entry(title).or_default() |= bit;
            }
            *bits.entry(word).or_default() |= bit;
        }
    }

    let mut code = String::new();
    let mut keys = Vec::new();
    let (capitals, others): (Vec<_>, Vec<_>) = bits
        .iter()
        .partition(|(word, _)| word.starts_with(char::is_uppercase));
    table(&mut code, "CAPITALS", &capitals, &mut keys);
    table(&mut code, "OTHERS", &others, &mut keys);
    writeln!(
        code,
        "/// The longest word in the tables.\nconst LONGEST: usize = {};",
        bits.keys().map(String::len).max().unwrap_or(0)
    )
    .unwrap();
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    std::fs::write(format!("{out}/keys.bin"), keys).expect("writing the words");
    writeln!(
        code,
        "static KEYS: &[u8] = include_bytes!(concat!(env!(\"OUT_DIR\"), \"/keys.bin\"));"
    )
    .unwrap();

    let mut by_initial: Vec<Vec<String>> = vec![Vec::new(); 128];
    for suffix in read("org_suffixes") {
        let initial = suffix.as_bytes()[0];
        assert!(initial.is_ascii(), "{suffix:?} starts with ASCII");
        by_initial[initial as usize].push(suffix);
    }
    writeln!(
        code,
        "/// Company suffixes (`data/org_suffixes.txt`) by their first byte.\n\
         pub static ORG_SUFFIXES: [&[&str]; 128] = ["
    )
    .unwrap();
    for group in &by_initial {
        writeln!(code, "&{group:?},").unwrap();
    }
    writeln!(code, "];").unwrap();
    std::fs::write(format!("{out}/lexicon.rs"), code).expect("writing the tables");
}

/// Emit the table `name` of `words`: open addressing with linear probing,
/// at most two thirds full, so that a miss reads a few neighbouring slots
/// (four on average). A small table (the one every word not capitalised
/// looks in) is at most a third full: a miss reads 1.5 on average.
fn table(code: &mut String, name: &str, words: &[(&String, &u32)], keys: &mut Vec<u8>) {
    let room = if words.len() < 4096 {
        words.len() * 3
    } else {
        words.len() * 3 / 2
    };
    let size = (room + 1).next_power_of_two();
    let mut slots = vec![0u32; size];
    for &(word, &bits) in words {
        assert!((1..32).contains(&word.len()), "{word:?} fits five bits");
        assert!(keys.len() < 1 << 21, "the words fit 21 bits of offset");
        let hash = word_hash::hash(word.as_bytes());
        let mut i = hash as usize & (size - 1);
        while slots[i] != 0 {
            i = (i + 1) & (size - 1);
        }
        slots[i] = (keys.len() as u32) << 11 | (hash >> 26) << 5 | word.len() as u32;
        keys.extend(bits.to_le_bytes());
        keys.extend(word.as_bytes());
    }
    writeln!(code, "static {name}: [u32; {size}] = {slots:?};").unwrap();
}
