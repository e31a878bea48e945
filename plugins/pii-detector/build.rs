//! Compiles the word lists in `data/` (one entry per line, `#` comments) into
//! perfect-hash tables (`phf`), so that a fresh instance looks words up in one
//! hash and one comparison without building anything at run time:
//! - `WORD_FLAGS`: every capitalised-word list in one map, word → bits
//!   (`lexicon::word`), so a word costs one lookup however many lists hold it;
//! - one set per other list (`MONTHS`, `PERSON_CUES`, ...), named after the file.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Lists merged into `WORD_FLAGS`, with their bit.
const FLAGGED: &[(&str, u16)] = &[
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

fn main() {
    println!("cargo::rerun-if-changed=data");
    let mut code = String::new();
    let mut flags: BTreeMap<String, u16> = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir("data")
        .expect("data folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("word list");
        let words: Vec<&str> = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        if let Some((_, bit)) = FLAGGED.iter().find(|(name, _)| *name == stem) {
            for w in words {
                *flags.entry(w.to_string()).or_default() |= bit;
            }
            continue;
        }
        let mut set = phf_codegen::Set::new();
        let mut seen = std::collections::BTreeSet::new();
        for w in words.into_iter().filter(|w| seen.insert(*w)) {
            set.entry(w);
        }
        writeln!(
            code,
            "pub static {}: phf::Set<&'static str> = {};",
            stem.to_uppercase(),
            set.build()
        )
        .unwrap();
    }
    let mut map = phf_codegen::Map::new();
    for (word, bits) in &flags {
        map.entry(word.as_str(), bits.to_string());
    }
    writeln!(
        code,
        "static WORD_FLAGS: phf::Map<&'static str, u16> = {};",
        map.build()
    )
    .unwrap();
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    std::fs::write(format!("{out}/lexicon.rs"), code).expect("writing the tables");
}
