//! What a labelled document's fields should say, and whether a record says
//! it: the ground truth that calibration is fitted on and evaluation scores
//! against.
//!
//! The labels file is CSV in the columns of CUAD's `master_clauses`:
//! `Filename` (the document's file; matched by its stem), and per field an
//! answer column: `Document Name-Answer` (document type), `Parties-Answer`
//! (names separated by `;`, a defined term in brackets or quotes after a
//! name is ignored), `Governing Law-Answer`, `Agreement Date-Answer`
//! (`M/D/YYYY`). Whether the document has a kind of clause is read, where
//! the file has them, from `Cap on Liability-Answer`, `Audit Rights-Answer`,
//! `Insurance-Answer`, `Anti-Assignment-Answer` and `Termination for
//! Convenience-Answer` (`Yes`/`No`), and a governing-law clause from a
//! non-empty `Governing Law-Answer`. Other columns are ignored; a user's own
//! labels need only the first five.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// Names compare as the host compares them when it reads them.
pub use crate::local::names::normalise;

/// One document's labelled fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub document_type: String,
    pub parties: Vec<String>,
    pub governing_law: String,
    pub agreement_date: Option<String>,
    /// The effective and expiration dates; `None` where the label gives no
    /// date (none stated, or `perpetual`).
    pub effective_date: Option<String>,
    pub expiration_date: Option<String>,
    /// Per kind of clause (as the contract schema names it), whether the document has one.
    pub clauses: BTreeMap<String, bool>,
}

/// The clause-presence columns, and the kinds they label.
const CLAUSE_COLUMNS: [(&str, &str); 5] = [
    ("Cap on Liability-Answer", "cap_on_liability"),
    ("Audit Rights-Answer", "audit_rights"),
    ("Insurance-Answer", "insurance"),
    ("Anti-Assignment-Answer", "anti_assignment"),
    (
        "Termination for Convenience-Answer",
        "termination_for_convenience",
    ),
];

/// Labels by document stem.
pub fn read(path: &Path) -> anyhow::Result<HashMap<String, Label>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{} has no column {name:?}", path.display()))
    };
    let (file, kind, parties, law, date) = (
        column("Filename")?,
        column("Document Name-Answer")?,
        column("Parties-Answer")?,
        column("Governing Law-Answer")?,
        column("Agreement Date-Answer")?,
    );
    let (effective, expiration) = (
        column("Effective Date-Answer")?,
        column("Expiration Date-Answer")?,
    );
    let clause_columns: Vec<(usize, &str)> = CLAUSE_COLUMNS
        .iter()
        .filter_map(|(name, kind)| Some((headers.iter().position(|h| h == *name)?, *kind)))
        .collect();
    let mut labels = HashMap::new();
    for row in reader.records() {
        let row = row?;
        let stem = Path::new(&row[file])
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut clauses: BTreeMap<String, bool> = clause_columns
            .iter()
            .map(|&(column, kind)| (kind.to_string(), row[column].trim() == "Yes"))
            .collect();
        clauses.insert("governing_law".into(), !row[law].trim().is_empty());
        labels.insert(
            stem,
            Label {
                document_type: row[kind].to_string(),
                parties: row[parties]
                    .split(';')
                    .map(party_name)
                    .filter(|p| !p.is_empty())
                    .collect(),
                governing_law: row[law].to_string(),
                agreement_date: us_date(&row[date]),
                effective_date: us_date(&row[effective]),
                expiration_date: us_date(&row[expiration]),
                clauses,
            },
        );
    }
    Ok(labels)
}

/// The documents in `dir` that have a label, in file-name order, at most `limit`.
pub fn labelled<'l>(
    dir: &Path,
    labels: &'l HashMap<String, Label>,
    limit: usize,
) -> anyhow::Result<Vec<(std::path::PathBuf, &'l Label)>> {
    let mut documents: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let stem = p.file_stem()?.to_string_lossy().to_string();
            labels.get(&stem).map(|label| (p, label))
        })
        .collect();
    documents.sort_by(|a, b| a.0.cmp(&b.0));
    documents.truncate(limit);
    Ok(documents)
}

/// How a record's key fields compare with a label.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grade {
    pub type_exact: bool,
    /// Word overlap (Dice) of the document type with the label's.
    pub type_words: f64,
    pub law: bool,
    pub date: bool,
    pub effective_date: bool,
    pub expiration_date: bool,
    pub parties_labelled: usize,
    pub parties_found: usize,
    pub parties_predicted: usize,
    pub parties_correct: usize,
}

impl Grade {
    /// Whether each key field is right: the document type by word overlap of
    /// at least 0.6, parties when every labelled one is found and every one
    /// named is labelled.
    pub fn right(&self) -> [(&'static str, bool); 4] {
        [
            ("document_type", self.type_words >= 0.6),
            ("governing_law", self.law),
            ("agreement_date", self.date),
            (
                "parties",
                self.parties_found == self.parties_labelled
                    && self.parties_correct == self.parties_predicted,
            ),
        ]
    }
}

/// Compare a record with its label.
pub fn grade(record: &Value, label: &Label) -> Grade {
    let kind = record["document_type"].as_str().unwrap_or_default();
    let law = record["governing_law"]
        .as_str()
        .map(normalise)
        .unwrap_or_default();
    let expected = normalise(&label.governing_law);
    let names: Vec<&str> = record["parties"]
        .as_array()
        .map(|p| p.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    Grade {
        type_exact: normalise(kind) == normalise(&label.document_type),
        type_words: overlap(kind, &label.document_type),
        law: if expected.is_empty() {
            law.is_empty()
        } else {
            !law.is_empty() && (expected.contains(&law) || law.contains(&expected))
        },
        date: record["agreement_date"].as_str().map(String::from) == label.agreement_date,
        effective_date: record["effective_date"].as_str().map(String::from) == label.effective_date,
        expiration_date: record["expiration_date"].as_str().map(String::from)
            == label.expiration_date,
        parties_labelled: label.parties.len(),
        parties_found: label
            .parties
            .iter()
            .filter(|l| names.iter().any(|n| same_party(l, n)))
            .count(),
        parties_predicted: names.len(),
        parties_correct: names
            .iter()
            .filter(|n| label.parties.iter().any(|l| same_party(l, n)))
            .count(),
    }
}

/// `ACME, INC. ("Acme")` → `acme inc`.
fn party_name(raw: &str) -> String {
    let name = raw.split(['(', '"', '“']).next().unwrap_or(raw);
    normalise(name)
}

/// `6/21/1999` → `1999-06-21`.
fn us_date(raw: &str) -> Option<String> {
    let parts: Vec<u32> = raw
        .trim()
        .split('/')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    match parts.as_slice() {
        [m, d, y] if *y > 1900 => Some(format!("{y:04}-{m:02}-{d:02}")),
        _ => None,
    }
}

fn words(text: &str) -> Vec<String> {
    const FILLER: [&str; 5] = ["agreement", "the", "and", "of", "contract"];
    normalise(text)
        .split(' ')
        .filter(|w| !w.is_empty() && !FILLER.contains(w))
        .map(String::from)
        .collect()
}

/// Share of words in common (Dice), ignoring filler words.
fn overlap(a: &str, b: &str) -> f64 {
    let (a, b) = (words(a), words(b));
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let common = a.iter().filter(|w| b.contains(w)).count() as f64;
    common / (a.len() + b.len()) as f64 * 2.0
}

fn same_party(label: &str, predicted: &str) -> bool {
    let predicted = normalise(predicted);
    !predicted.is_empty()
        && (label.contains(&predicted)
            || predicted.contains(label)
            || overlap(label, &predicted) >= 0.6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_is_graded_field_by_field() {
        let label = Label {
            document_type: "Consulting Agreement".into(),
            parties: vec![
                party_name("ADURO BIOTECH, INC. (\"Aduro\")"),
                party_name("IREYA B.V"),
            ],
            governing_law: "California".into(),
            agreement_date: us_date("6/1/2020"),
            effective_date: us_date("6/1/2020"),
            expiration_date: us_date("perpetual"),
            clauses: BTreeMap::new(),
        };
        let record = json!({
            "document_type": "CONSULTING AGREEMENT",
            "parties": [{"name": "Aduro Biotech, Inc."}, {"name": "IREYA B.V."}],
            "governing_law": "State of California",
            "agreement_date": "2020-07-01",
            "effective_date": "2020-06-01",
            "expiration_date": null
        });
        let grade = grade(&record, &label);
        assert_eq!(
            grade.right(),
            [
                ("document_type", true),
                ("governing_law", true),
                ("agreement_date", false),
                ("parties", true)
            ]
        );
        assert!(grade.type_exact);
        assert!(grade.effective_date);
        assert!(grade.expiration_date, "perpetual is no date: null is right");
    }
}
