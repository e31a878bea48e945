//! A document cut into clauses, and clauses into passages short enough to
//! quote: what the evidence ranker chooses from and what an extracted value
//! points back to.
//!
//! A clause starts at a line that opens one: numbering (`12.`, `12.3`,
//! `(a)` is not one), a section word (`Section 12`, `ARTICLE V`,
//! `CLÁUSULA DÉCIMA`, `Artículo 5`), a Spanish ordinal heading (`PRIMERA.`),
//! or a short line in capitals (`GOVERNING LAW`). A clause longer than a
//! passage is cut at sentence ends, so that a value can be pointed at within
//! a long clause. Ranges are byte offsets into the document.

use std::sync::LazyLock;

use regex::Regex;

/// Longest passage, in bytes, before a clause is cut at a sentence end.
pub const MAX_PASSAGE: usize = 700;

/// A piece of a clause: the unit the ranker scores and evidence points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passage {
    /// The clause it belongs to, counted from 0 in document order.
    pub clause: usize,
    pub start: usize,
    pub end: usize,
}

impl Passage {
    pub fn text<'d>(&self, document: &'d str) -> &'d str {
        &document[self.start..self.end]
    }
}

static OPENS_CLAUSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?xi)^\s*(?:
            (?:section|article|clause|cl[áa]usula|art[íi]culo|cap[íi]tulo|schedule|exhibit|annex|anexo)\s+[0-9ivxlcdm]+\b
          | (?:cl[áa]usula\s+)?(?:primer[ao]?|segund[ao]|tercer[ao]?|cuart[ao]|quint[ao]|sext[ao]|s[ée]ptim[ao]|octav[ao]|noven[ao]|d[ée]cim[ao](?:\s*(?:primer[ao]|segund[ao]|tercer[ao]|cuart[ao]|quint[ao]|sext[ao]|s[ée]ptim[ao]|octav[ao]|noven[ao]))?|und[ée]cim[ao]|duod[ée]cim[ao]|vig[ée]sim[ao])\s*[.:\-–]
          | [0-9]{1,3}\.(?:[0-9]{1,3}\.?)*\s+\S
        )",
    )
    .expect("the clause pattern is valid")
});

/// Whether `line` opens a clause.
fn opens_clause(line: &str) -> bool {
    if OPENS_CLAUSE.is_match(line) {
        return true;
    }
    // A heading in capitals: a few words, no sentence.
    let words = line.split_whitespace().count();
    let letters: Vec<char> = line.chars().filter(|c| c.is_alphabetic()).collect();
    (1..=8).contains(&words)
        && letters.len() >= 4
        && letters.iter().all(|c| c.is_uppercase())
        && !line.trim_end().ends_with(',')
}

/// The document's passages, in order; every byte of a non-blank line is in
/// exactly one.
pub fn split(document: &str) -> Vec<Passage> {
    let mut clauses: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    let mut at = 0;
    for line in document.split_inclusive('\n') {
        let blank = line.trim().is_empty();
        if !blank && opens_clause(line) {
            if let Some(s) = start {
                clauses.push((s, at));
            }
            start = Some(at);
        } else if !blank && start.is_none() {
            start = Some(at);
        }
        at += line.len();
    }
    if let Some(s) = start {
        clauses.push((s, document.len()));
    }
    let mut passages = Vec::new();
    for (clause, (start, end)) in clauses.into_iter().enumerate() {
        cut(document, clause, start, end, &mut passages);
    }
    passages
}

/// Cut one clause into passages of at most [`MAX_PASSAGE`] bytes, at
/// sentence ends where there are any.
fn cut(document: &str, clause: usize, mut start: usize, end: usize, out: &mut Vec<Passage>) {
    let trimmed_end = start + document[start..end].trim_end().len();
    while start < trimmed_end {
        start +=
            document[start..trimmed_end].len() - document[start..trimmed_end].trim_start().len();
        if start >= trimmed_end {
            break;
        }
        let limit = (start + MAX_PASSAGE).min(trimmed_end);
        let stop = if limit == trimmed_end {
            trimmed_end
        } else {
            let window = &document[start..document.floor_char_boundary(limit)];
            window
                .rfind(['.', '\n'])
                .filter(|&i| i > MAX_PASSAGE / 3)
                .map(|i| start + i + 1)
                .unwrap_or_else(|| {
                    start + window.rfind(' ').filter(|&i| i > 0).unwrap_or(window.len())
                })
        };
        out.push(Passage {
            clause,
            start,
            end: stop,
        });
        start = stop;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openings(text: &str) -> Vec<String> {
        let passages = split(text);
        let mut seen = None;
        passages
            .iter()
            .filter(|p| seen.replace(p.clause) != Some(p.clause))
            .map(|p| p.text(text).lines().next().unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn numbering_in_english_and_spanish_opens_clauses() {
        let cases: &[(&str, &[&str])] = &[
            (
                "CONSULTING AGREEMENT\nAduro and IREYA agree.\n1. Services. Advice.\n2.3 Fees. Paid monthly.\n(a) sub-item stays\n10. Miscellaneous. Laws of California.\n",
                &[
                    "CONSULTING AGREEMENT",
                    "1. Services. Advice.",
                    "2.3 Fees. Paid monthly.",
                    "10. Miscellaneous. Laws of California.",
                ],
            ),
            (
                "Section 12. Governing Law\nThis Agreement is governed by New York law.\nARTICLE V\nTERM\nFive years.\n",
                &["Section 12. Governing Law", "ARTICLE V", "TERM"],
            ),
            (
                "CONTRATO DE ARRENDAMIENTO\nEntre los suscritos.\nPRIMERA. Objeto. El inmueble.\nCLÁUSULA DÉCIMA: Ley aplicable. Leyes de Colombia.\nArtículo 5 Duración\nDécima segunda. Firmas.\n",
                &[
                    "CONTRATO DE ARRENDAMIENTO",
                    "PRIMERA. Objeto. El inmueble.",
                    "CLÁUSULA DÉCIMA: Ley aplicable. Leyes de Colombia.",
                    "Artículo 5 Duración",
                    "Décima segunda. Firmas.",
                ],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(openings(text), *want, "{text}");
        }
    }

    #[test]
    fn long_clauses_are_cut_at_sentence_ends() {
        let sentence = "The parties agree to the terms set out in this clause. ";
        let text = format!("10. Miscellaneous. {}", sentence.repeat(40));
        let passages = split(&text);
        assert!(passages.len() > 2, "{passages:?}");
        for p in &passages {
            assert_eq!(p.clause, 0);
            assert!(p.end - p.start <= MAX_PASSAGE);
            assert!(p.text(&text).ends_with('.'), "{:?}", p.text(&text));
        }
        let covered: usize = passages.iter().map(|p| p.end - p.start).sum();
        assert!(covered + passages.len() >= text.trim_end().len());
    }
}
