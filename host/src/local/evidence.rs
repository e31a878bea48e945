//! What to read of a long document, and where each value was read.
//!
//! Each top-level property of a schema may declare the phrases that open or
//! fill the passage holding it: `"x-sluice-evidence": ["governed by the laws
//! of", "ley aplicable"]`. A BM25 ranker over the document's passages (the
//! `bm25` crate: stemming and stop words, English or Spanish by the
//! document's function words) ranks them per field; the selection fills the
//! model's budget with the opening lines first, then each field's best
//! passages in turn, and gives them back in document order. After decoding,
//! each value points at the passage it was read from ([`Evidence`]), when
//! one holds it.

use std::collections::BTreeMap;

use bm25::{Language, LanguageMode, SearchEngineBuilder};
use regex::Regex;
use serde_json::Value;

use super::clauses::Passage;

/// The schema annotation that lists a field's cue phrases.
pub const ANNOTATION: &str = "x-sluice-evidence";

/// Passages ranked per field, at most.
const RANKED: usize = 4;

/// A field and the phrases that find its passage.
#[derive(Clone, Debug)]
pub struct Cues {
    pub field: String,
    pub phrases: Vec<String>,
    /// The phrases as patterns that match in any case and any spacing,
    /// compiled once with the schema.
    quotable: Vec<Regex>,
}

/// The cue phrases of a schema's top-level properties.
pub fn cues(schema: &Value) -> Vec<Cues> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .filter_map(|(field, property)| {
            let phrases: Vec<String> = property
                .get(ANNOTATION)?
                .as_array()?
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect();
            let quotable = phrases
                .iter()
                .filter_map(|phrase| {
                    let words: Vec<String> = phrase.split_whitespace().map(regex::escape).collect();
                    Regex::new(&format!("(?i){}", words.join(r"\s+"))).ok()
                })
                .collect();
            (!phrases.is_empty()).then(|| Cues {
                field: field.clone(),
                phrases,
                quotable,
            })
        })
        .collect()
}

/// What the model reads of a document.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Passages read, in document order.
    pub passages: Vec<Passage>,
    /// Per field with cues, its best passages (indices into `passages`), best first.
    pub ranked: BTreeMap<String, Vec<usize>>,
}

impl Selection {
    /// Every passage, for a document that fits whole.
    pub fn whole(
        document: &str,
        passages: Vec<Passage>,
        cues: &[Cues],
        pinned: &Pinned,
    ) -> Selection {
        let ranked = rank(document, &passages, cues, pinned);
        Selection { passages, ranked }
    }

    /// The text the model reads: the passages in order, `gap` marked where
    /// the document goes on between two of them.
    pub fn text(&self, document: &str, gap: &str) -> String {
        let mut out = String::new();
        let mut last_end = 0;
        for p in &self.passages {
            if !out.is_empty() {
                out.push_str(if document[last_end..p.start].trim().is_empty() {
                    "\n"
                } else {
                    gap
                });
            }
            out.push_str(p.text(document).trim());
            last_end = p.end;
        }
        out
    }
}

/// Per field, passages (indices into the document's passages) the host
/// knows hold it, whatever the cue phrases rank: they come first.
pub type Pinned = BTreeMap<String, Vec<usize>>;

/// Choose passages of `document` that fit in `budget` (measured by `cost`,
/// in the model's tokens): the opening passages up to `opening`, then each
/// field's best passages in turn (its pinned ones first); without cues, the
/// closing passages (where contracts keep their governing law and
/// signatures).
pub fn select(
    document: &str,
    passages: &[Passage],
    cues: &[Cues],
    pinned: &Pinned,
    budget: usize,
    opening: usize,
    cost: impl Fn(&str) -> usize,
) -> Selection {
    let costs: Vec<usize> = passages.iter().map(|p| cost(p.text(document))).collect();
    let mut chosen = vec![false; passages.len()];
    let mut spent = 0;
    for (i, &c) in costs.iter().enumerate() {
        if spent + c > opening {
            break;
        }
        chosen[i] = true;
        spent += c;
    }
    let ranked = rank(document, passages, cues, pinned);
    if cues.is_empty() {
        for i in (0..passages.len()).rev() {
            if chosen[i] || spent + costs[i] > budget {
                break;
            }
            chosen[i] = true;
            spent += costs[i];
        }
    }
    for round in 0..RANKED {
        for field in cues {
            let Some(&i) = ranked.get(&field.field).and_then(|r| r.get(round)) else {
                continue;
            };
            if !chosen[i] && spent + costs[i] <= budget {
                chosen[i] = true;
                spent += costs[i];
            }
        }
    }
    let kept: Vec<usize> = (0..passages.len()).filter(|&i| chosen[i]).collect();
    let position = |i: usize| kept.iter().position(|&k| k == i);
    Selection {
        passages: kept.iter().map(|&i| passages[i].clone()).collect(),
        ranked: ranked
            .into_iter()
            .map(|(field, order)| (field, order.into_iter().filter_map(position).collect()))
            .collect(),
    }
}

/// Per field, the indices of its best passages, best first: those pinned,
/// then those its cue phrases score above zero.
fn rank(
    document: &str,
    passages: &[Passage],
    cues: &[Cues],
    pinned: &Pinned,
) -> BTreeMap<String, Vec<usize>> {
    if passages.is_empty() || cues.is_empty() {
        return BTreeMap::new();
    }
    let language = if looks_spanish(document) {
        Language::Spanish
    } else {
        Language::English
    };
    let engine = SearchEngineBuilder::<u32>::with_corpus(
        LanguageMode::Fixed(language),
        passages.iter().map(|p| p.text(document).to_string()),
    )
    .build();
    cues.iter()
        .map(|c| {
            let mut found: Vec<usize> = pinned.get(&c.field).cloned().unwrap_or_default();
            found.truncate(RANKED);
            for r in engine.search(&c.phrases.join(" "), RANKED) {
                let i = r.document.id as usize;
                if r.score > 0.0 && found.len() < RANKED && !found.contains(&i) {
                    found.push(i);
                }
            }
            (c.field.clone(), found)
        })
        .collect()
}

/// Spanish function words outnumber English ones in the first few kilobytes.
fn looks_spanish(document: &str) -> bool {
    let head = &document[..document.floor_char_boundary(4096.min(document.len()))];
    let count = |words: &[&str]| {
        head.split(|c: char| !c.is_alphabetic())
            .filter(|w| words.iter().any(|x| w.eq_ignore_ascii_case(x)))
            .count()
    };
    count(&[
        "el", "la", "los", "las", "del", "que", "por", "entre", "contrato",
    ]) > count(&["the", "of", "and", "to", "by", "between", "agreement"])
}

/// Where a value was read: its passage (clause and byte range).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    pub clause: usize,
    pub start: usize,
    pub end: usize,
}

impl From<&Passage> for Evidence {
    fn from(p: &Passage) -> Evidence {
        Evidence {
            clause: p.clause,
            start: p.start,
            end: p.end,
        }
    }
}

/// The passage `value` was read from: the first read passage, the field's
/// best ones first, that holds the value as written (any case); for a date
/// written as `YYYY-MM-DD`, one that holds its year. `None` when no read
/// passage holds it (a value the model did not read anywhere), and for
/// null, numbers and booleans.
pub fn locate(
    document: &str,
    selection: &Selection,
    field: &str,
    value: &Value,
) -> Option<Evidence> {
    let needles: Vec<String> = written(value)?
        .iter()
        .map(|w| match iso_year(w) {
            Some(year) => year.to_string(),
            None => w.trim().to_lowercase(),
        })
        .filter(|n| n.len() >= 2)
        .collect();
    if needles.is_empty() {
        return None;
    }
    let order = selection
        .ranked
        .get(field)
        .into_iter()
        .flatten()
        .copied()
        .chain(0..selection.passages.len());
    for i in order {
        let passage = &selection.passages[i];
        let text = passage.text(document).to_lowercase();
        if needles.iter().any(|n| text.contains(n.as_str())) {
            return Some(passage.into());
        }
    }
    None
}

/// The text a value writes: a string, or each string (or item `name`) of
/// a list; none for other kinds.
pub fn written(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|i| match i {
                    Value::String(s) => Some(s.as_str()),
                    Value::Object(o) => o.get("name").and_then(Value::as_str),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// The year of a `YYYY-MM-DD` date.
fn iso_year(value: &str) -> Option<&str> {
    super::dates::is_iso(value).then(|| &value[..4])
}

/// A quotable sentence for `field`: in the field's best passage that holds
/// one of its phrases (any case, any spacing), the sentence around the
/// first of them in the order the schema lists them, strongest first; at
/// most `limit` bytes. `None` when no read passage holds one: the document
/// likely lacks the clause.
pub fn quote<'d>(
    document: &'d str,
    selection: &Selection,
    cues: &Cues,
    limit: usize,
) -> Option<&'d str> {
    let ranked = selection.ranked.get(&cues.field)?;
    for &i in ranked {
        let passage = selection.passages[i].text(document);
        let Some(at) = cues
            .quotable
            .iter()
            .find_map(|p| p.find(passage))
            .map(|m| m.start())
        else {
            continue;
        };
        let start = passage[..at].rfind(['.', '\n']).map_or(0, |i| i + 1);
        let end = passage[at..]
            .find(['.', '\n'])
            .map_or(passage.len(), |i| at + i + 1);
        let sentence = passage[start..end].trim();
        return Some(&sentence[..sentence.floor_char_boundary(limit.min(sentence.len()))]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::clauses::split;
    use serde_json::json;

    const CONTRACT: &str = "CONSULTING AGREEMENT\n\
Aduro Biotech, Inc. and IREYA B.V. agree to this Consulting Agreement dated June 1, 2020.\n\
1. Services. Consultant will provide advice.\n\
2. Compensation. Aduro shall pay Consultant monthly.\n\
3. Term. This Agreement shall continue until December 31, 2020.\n\
4. Confidential Information. Consultant shall keep secrets.\n\
10. Miscellaneous. This Agreement shall be construed in accordance with the laws of the State of California.\n";

    fn schema() -> Value {
        json!({"properties": {
            "governing_law": {"x-sluice-evidence": ["governed by the laws of", "construed in accordance with the laws", "governing law"]},
            "expiration_date": {"x-sluice-evidence": ["term", "continue until", "expire"]},
            "document_type": {"type": "string"}
        }})
    }

    #[test]
    fn each_field_reads_its_passage_within_the_budget() {
        let passages = split(CONTRACT);
        let cues = cues(&schema());
        assert_eq!(cues.len(), 2);
        let words = |s: &str| s.split_whitespace().count();
        let selection = select(CONTRACT, &passages, &cues, &Pinned::new(), 45, 20, words);
        let text = selection.text(CONTRACT, "\n[...]\n");
        assert!(text.starts_with("CONSULTING AGREEMENT\nAduro"), "{text}");
        assert!(text.contains("laws of the State of California"), "{text}");
        assert!(text.contains("continue until December 31, 2020"), "{text}");
        assert!(!text.contains("keep secrets"), "{text}");
        assert!(words(&text) <= 45 + 2);

        let law = locate(CONTRACT, &selection, "governing_law", &json!("California")).unwrap();
        assert!(CONTRACT[law.start..law.end].starts_with("10. Miscellaneous"));
        let date = locate(
            CONTRACT,
            &selection,
            "expiration_date",
            &json!("2020-12-31"),
        )
        .unwrap();
        assert!(CONTRACT[date.start..date.end].starts_with("3. Term"));
        assert_eq!(
            locate(CONTRACT, &selection, "governing_law", &Value::Null),
            None
        );
        assert_eq!(
            locate(CONTRACT, &selection, "governing_law", &json!("Delaware")),
            None,
            "a value read nowhere has no evidence"
        );
        let law = cues.iter().find(|c| c.field == "governing_law").unwrap();
        assert_eq!(
            quote(CONTRACT, &selection, law, 300),
            Some(
                "This Agreement shall be construed in accordance with the laws of the State of California."
            )
        );
    }

    #[test]
    fn a_pinned_passage_ranks_first_and_phrases_match_across_spacing() {
        let contract = "AGENCY AGREEMENT\n\
1. Representations. The Company is a corporation in good standing under the laws of the State of Delaware and has jurisdiction.\n\
2. Miscellaneous. This Agreement shall be governed  by the  laws of the District of Columbia.\n";
        let passages = split(contract);
        let cues = cues(&schema());
        let unpinned = Selection::whole(contract, passages.clone(), &cues, &Pinned::new());
        let pinned = Pinned::from([("governing_law".to_string(), vec![2])]);
        let selection = Selection::whole(contract, passages, &cues, &pinned);
        assert_eq!(selection.ranked["governing_law"][0], 2);
        assert!(unpinned.ranked["governing_law"].contains(&2));
        let law = cues.iter().find(|c| c.field == "governing_law").unwrap();
        assert_eq!(
            quote(contract, &selection, law, 300),
            Some("This Agreement shall be governed  by the  laws of the District of Columbia.")
        );
    }
}
