//! Which kinds of clause a document has (a governing-law clause, a cap on
//! liability, audit rights...), found by the host in every passage of the
//! document, not guessed by the model.
//!
//! A schema declares the kinds at its top level, each with the patterns
//! (case-insensitive regular expressions, matched on a passage with its
//! whitespace collapsed) of the language that makes one:
//! `"x-sluice-clauses": {"audit_rights": ["\\baudit", "inspect the books"]}`.
//! A property marked `"x-sluice-computed": "missing-clauses"` (the contract
//! schema's `risk_flags`) is filled by the host: the items of its `enum`
//! named `missing_<kind>` whose kind the document lacks, in the enum's
//! order. Each kind found points at the passages that hold it, for the
//! audit record, the router's features and the cloud's risk summary.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use super::LocalError;
use super::clauses::Passage;
use super::evidence::Evidence;

/// The schema annotation that lists the clause kinds and their patterns.
pub const ANNOTATION: &str = "x-sluice-clauses";
/// The value of `x-sluice-computed` for a property the host fills with the
/// clauses a document lacks.
pub const MISSING: &str = "missing-clauses";
/// How a flag names a missing kind: `missing_audit_rights`.
const FLAG_PREFIX: &str = "missing_";
/// The kind whose clauses name the governing jurisdictions.
pub(super) const GOVERNING_LAW: &str = "governing_law";

/// A kind of clause and the language that makes one.
#[derive(Clone, Debug)]
pub struct Kind {
    pub name: String,
    pattern: Regex,
}

/// The clause kinds a schema declares, and the property filled with the
/// missing ones.
#[derive(Clone, Debug, Default)]
pub struct Provisions {
    kinds: Vec<Kind>,
    /// The property marked `missing-clauses`, and its flags in order.
    flags: Option<(String, Vec<String>)>,
}

/// What one document holds.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Found {
    /// Per kind found, the passages that hold it, in document order.
    pub kinds: BTreeMap<String, Vec<Evidence>>,
    /// Clauses in the document.
    pub clauses: usize,
    /// The distinct jurisdictions its governing-law clauses name (`New York`,
    /// `Colombia`): first those a sentence says govern, then those only named.
    pub jurisdictions: Vec<String>,
    /// How many of `jurisdictions`, from the first, a sentence says govern.
    pub stated: usize,
    /// The flags of the kinds it lacks (`missing_audit_rights`), in the schema's order.
    pub missing: Vec<String>,
}

impl Found {
    pub fn has(&self, kind: &str) -> bool {
        self.kinds.contains_key(kind)
    }

    /// How many governing laws the document names: the distinct
    /// jurisdictions a sentence says govern (`governed by the laws of New
    /// York`), not the places a governing-law clause only mentions (its
    /// courts, a party's seat); where no sentence says so, every place its
    /// governing-law clauses name; at least one where such a clause names
    /// its place in words the pattern does not read; 0 without one.
    pub fn governing_laws(&self) -> usize {
        let governing = if self.stated > 0 {
            self.stated
        } else {
            self.jurisdictions.len()
        };
        governing.max(usize::from(self.has(GOVERNING_LAW)))
    }
}

impl Provisions {
    /// Read the kinds from a schema; a pattern that does not compile, or a
    /// `missing-clauses` property whose flags name no declared kind, is an error.
    pub fn from_schema(schema: &Value) -> Result<Provisions, LocalError> {
        let mut kinds = Vec::new();
        if let Some(declared) = schema.get(ANNOTATION) {
            let declared = declared.as_object().ok_or_else(|| {
                LocalError::Schema(format!("{ANNOTATION} must map kinds to pattern lists"))
            })?;
            for (name, patterns) in declared {
                let patterns: Vec<&str> = patterns
                    .as_array()
                    .map(|p| p.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if patterns.is_empty() {
                    return Err(LocalError::Schema(format!(
                        "{ANNOTATION}.{name} must be a non-empty list of patterns"
                    )));
                }
                let pattern = RegexBuilder::new(&patterns.join("|"))
                    .case_insensitive(true)
                    .size_limit(1 << 22)
                    .build()
                    .map_err(|e| {
                        LocalError::Schema(format!("{ANNOTATION}.{name} has a bad pattern: {e}"))
                    })?;
                kinds.push(Kind {
                    name: name.clone(),
                    pattern,
                });
            }
        }
        let flags = flag_property(schema)
            .map(|(property, items)| {
                let unknown: Vec<&String> = items
                    .iter()
                    .filter(|f| {
                        !f.strip_prefix(FLAG_PREFIX)
                            .is_some_and(|k| kinds.iter().any(|kind| kind.name == k))
                    })
                    .collect();
                if unknown.is_empty() {
                    Ok((property, items))
                } else {
                    Err(LocalError::Schema(format!(
                        "{property} is computed as missing clauses, but {unknown:?} name no kind in {ANNOTATION}"
                    )))
                }
            })
            .transpose()?;
        Ok(Provisions { kinds, flags })
    }

    /// The kinds of clause in `passages` of `document`.
    pub fn find(&self, document: &str, passages: &[Passage]) -> Found {
        let mut found = Found {
            clauses: passages.last().map_or(0, |p| p.clause + 1),
            ..Found::default()
        };
        // Places named where the sentence says it governs come first.
        let (mut strong, mut weak) = (Vec::new(), Vec::new());
        for passage in passages {
            let text = collapse(passage.text(document));
            for kind in &self.kinds {
                if kind.pattern.is_match(&text) {
                    found
                        .kinds
                        .entry(kind.name.clone())
                        .or_default()
                        .push(passage.into());
                    if kind.name == GOVERNING_LAW {
                        jurisdictions(&text, &kind.pattern, &mut strong, &mut weak);
                    }
                }
            }
        }
        add(&mut found.jurisdictions, strong);
        found.stated = found.jurisdictions.len();
        add(&mut found.jurisdictions, weak);
        if let Some((_, flags)) = &self.flags {
            found.missing = flags
                .iter()
                .filter(|flag| !found.has(&flag[FLAG_PREFIX.len()..]))
                .cloned()
                .collect();
        }
        found
    }

    /// Write the missing-clause flags into `record`, when the schema has
    /// such a property.
    pub fn fill(&self, record: &mut Value, found: &Found) {
        let (Some((property, _)), Some(fields)) = (&self.flags, record.as_object_mut()) else {
            return;
        };
        let missing = found.missing.iter().cloned().map(Value::String).collect();
        fields.insert(property.clone(), Value::Array(missing));
    }
}

/// The top-level property marked `missing-clauses`, with its enum's items.
fn flag_property(schema: &Value) -> Option<(String, Vec<String>)> {
    let (name, property) = schema
        .get("properties")?
        .as_object()?
        .iter()
        .find(|(_, p)| {
            p.get(super::constraint::COMPUTED).and_then(Value::as_str) == Some(MISSING)
        })?;
    let items = property
        .pointer("/items/enum")
        .and_then(Value::as_array)
        .map(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Some((name.clone(), items))
}

/// Runs of whitespace as one space.
pub(super) fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A place: up to four capitalised words (`New York`, `República de Colombia`).
const PLACE: &str = r"((?:[A-ZÁÉÍÓÚÑ][\w'’-]+)(?: (?:of |de |del )?[A-ZÁÉÍÓÚÑ][\w'’-]+){0,3})";

/// `the laws of the State of New York`, `las leyes de la República de
/// Colombia`, `Delaware law`.
static JURISDICTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i:laws?|leyes|leis|legislaci[óo]n|legisla[çc][ãa]o) (?i:of|de|da|do|in|en) (?i:the |la |a |o )?(?:(?i:State|Commonwealth|Province|Republic|Kingdom|Estado|Rep[úu]blica|Provincia) (?i:of |de |da |do )(?i:the |la )?)?{PLACE}|{PLACE} (?i:law)\b"
    ))
    .expect("the jurisdiction pattern is valid")
});

/// A sentence that says which law governs, not one that only mentions a law.
static GOVERNS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)governed|governing|construed|interpreted|enforced|ley aplicable|reg(?:ir|ir[áa]|e)\b|rigen?\b|regid[oa]|rege-se|regul")
        .expect("the governs pattern is valid")
});

/// Capitalised words that start no place name.
const NOT_PLACES: [&str; 19] = [
    "This",
    "Such",
    "Any",
    "United",
    "The",
    "Each",
    "State",
    "Agreement",
    "Section",
    "Federal",
    "All",
    "Applicable",
    "In",
    "Contract",
    "Company",
    "Party",
    "Parties",
    "Governing",
    "Arbitration",
];
/// Words that end a place name wherever they stand, in any case: a
/// contract in capitals reads `NEW YORK WITHOUT REGARD TO ITS CONFLICT OF
/// LAWS` and `NEW YORK GENERAL OBLIGATIONS LAW`, where every word looks
/// like a name.
const ENDS_PLACE: [&str; 22] = [
    "without",
    "regard",
    "and",
    "excluding",
    "applicable",
    "except",
    "to",
    "the",
    "its",
    "choice",
    "conflict",
    "conflicts",
    "general",
    "obligations",
    "jurisdiction",
    "governing",
    "principles",
    "rules",
    "shall",
    "will",
    "as",
    "or",
];
/// Words that join a place name's words (`District of Columbia`).
const JOINS: [&str; 3] = ["of", "de", "del"];

/// The places named in the sentences of a governing-law passage that match
/// its kind's pattern: into `strong` where the sentence says the law governs,
/// else into `weak`. A passage whose matching sentences name none (a heading
/// `Ley aplicable.` before the sentence) gives the places its other
/// sentences name, as weak.
fn jurisdictions(text: &str, kind: &Regex, strong: &mut Vec<String>, weak: &mut Vec<String>) {
    let mut named = false;
    let mut elsewhere = Vec::new();
    for sentence in text.split_inclusive(['.', ';']) {
        let places = places(sentence);
        if !kind.is_match(sentence) {
            elsewhere.extend(places);
            continue;
        }
        named |= !places.is_empty();
        let into = if GOVERNS.is_match(sentence) {
            &mut *strong
        } else {
            &mut *weak
        };
        add(into, places);
    }
    if !named {
        add(weak, elsewhere);
    }
}

/// Add the places not there yet, whatever their case (`NEW YORK` is `New York`).
fn add(into: &mut Vec<String>, places: Vec<String>) {
    for place in places {
        if !into.iter().any(|p| p.eq_ignore_ascii_case(&place)) {
            into.push(place);
        }
    }
}

/// The places a sentence names as a law's, as names are written
/// (`NEW YORK` → `New York`; `PRC` stays an acronym).
fn places(sentence: &str) -> Vec<String> {
    let mut out = Vec::new();
    for captures in JURISDICTION.captures_iter(sentence) {
        let Some(place) = captures.get(1).or_else(|| captures.get(2)) else {
            continue;
        };
        let mut words: Vec<&str> = place
            .as_str()
            .split(' ')
            .take_while(|w| !ENDS_PLACE.contains(&w.to_lowercase().as_str()))
            .collect();
        while words
            .last()
            .is_some_and(|w| JOINS.contains(&w.to_lowercase().as_str()))
        {
            words.pop();
        }
        let Some(first) = words.first() else {
            continue;
        };
        if JOINS.contains(&first.to_lowercase().as_str())
            || NOT_PLACES.contains(&title_case(first).as_str())
        {
            continue;
        }
        let all_capitals = words.iter().all(|w| !w.chars().any(char::is_lowercase));
        let acronym = words.len() == 1 && first.chars().count() <= 3;
        let place = if all_capitals && !acronym {
            words
                .iter()
                .map(|w| {
                    let lower = w.to_lowercase();
                    if JOINS.contains(&lower.as_str()) {
                        lower
                    } else {
                        title_case(w)
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            words.join(" ")
        };
        out.push(place);
    }
    out
}

/// `DELAWARE` → `Delaware`.
fn title_case(word: &str) -> String {
    let lower = word.to_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::clauses;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "x-sluice-clauses": {
                "governing_law": ["governed by", "ley aplicable"],
                "audit_rights": ["\\baudit", "inspect[^.]{0,40}books"],
                "insurance": ["\\binsurance\\b", "p[óo]liza"]
            },
            "properties": {
                "risk_flags": {
                    "type": "array",
                    "items": {"enum": ["missing_governing_law", "missing_audit_rights", "missing_insurance"]},
                    "x-sluice-computed": "missing-clauses"
                }
            }
        })
    }

    #[test]
    fn flags_name_the_kinds_a_document_lacks_and_kinds_point_at_passages() {
        let provisions = Provisions::from_schema(&schema()).unwrap();
        let document = "SUPPLY AGREEMENT\n1. Records. Buyer may inspect the\nbooks of Seller once a year.\n2. Law. This Agreement is governed by the laws of the State of New York and the laws of Delaware.\n";
        let passages = clauses::split(document);
        let found = provisions.find(document, &passages);
        assert_eq!(
            found.kinds.keys().collect::<Vec<_>>(),
            ["audit_rights", "governing_law"]
        );
        let audit = &found.kinds["audit_rights"][0];
        assert!(document[audit.start..audit.end].starts_with("1. Records."));
        assert_eq!(found.clauses, 3);
        assert_eq!(found.jurisdictions, ["New York", "Delaware"]);
        let mut record = json!({"risk_flags": ["missing_audit_rights"]});
        provisions.fill(&mut record, &found);
        assert_eq!(record["risk_flags"], json!(["missing_insurance"]));

        let spanish = "CONTRATO\nPRIMERA. Pólizas. El contratista constituirá una póliza.\nSEGUNDA. Ley aplicable. Leyes de la República de Colombia.\n";
        let found = provisions.find(spanish, &clauses::split(spanish));
        assert_eq!(found.jurisdictions, ["Colombia"]);
        let mut record = json!({});

        let capitals = "1. GOVERNING LAW. THIS AGREEMENT SHALL BE GOVERNED BY THE LAWS OF THE STATE OF NEW YORK WITHOUT REGARD TO CONFLICTS OF LAWS PRINCIPLES, AND SECTION 5-1401 OF THE NEW YORK GENERAL OBLIGATIONS LAW APPLIES. SUBJECT TO THE CHOICE OF LAW ABOVE, DISPUTES GO TO THE DISTRICT OF COLUMBIA.\n";
        let found_capitals = provisions.find(capitals, &clauses::split(capitals));
        assert_eq!(found_capitals.jurisdictions, ["New York"]);
        provisions.fill(&mut record, &found);
        assert_eq!(record["risk_flags"], json!(["missing_audit_rights"]));
    }

    #[test]
    fn the_shipped_schema_reads_governing_law_in_spanish_and_portuguese() {
        let schema: Value =
            serde_json::from_str(include_str!("../../../schemas/contract_triage.json")).unwrap();
        let provisions = Provisions::from_schema(&schema).unwrap();
        for (text, place) in [
            (
                "CONTRATO DE ARRENDAMIENTO entre Carlos Restrepo y Inversiones Andinas S.A.S. Este contrato se rige por las leyes de Colombia.",
                "Colombia",
            ),
            (
                "CONTRATO. DÉCIMA. El presente contrato se regirá por las leyes de la República de Colombia.",
                "Colombia",
            ),
            (
                "CONTRATO DE PRESTAÇÃO DE SERVIÇOS. Este contrato é regido pelas leis do Brasil.",
                "Brasil",
            ),
        ] {
            let found = provisions.find(text, &clauses::split(text));
            assert!(found.has("governing_law"), "{text}");
            assert_eq!(found.jurisdictions, [place], "{text}");
            assert_eq!(found.stated, 1, "{text}");
            assert_eq!(found.governing_laws(), 1, "{text}");
        }
        // A place a governing-law clause names without saying it governs
        // (a forum, a party's seat) is not a second law.
        let forum = "12. Governing Law. This Agreement shall be governed by the laws of the State of New York. Licensee is a corporation organized under the laws of the State of Delaware.";
        let found = provisions.find(forum, &clauses::split(forum));
        assert_eq!(found.jurisdictions, ["New York", "Delaware"], "{found:?}");
        assert_eq!(found.stated, 1);
        assert_eq!(found.governing_laws(), 1, "{found:?}");
    }

    #[test]
    fn a_bad_pattern_or_an_undeclared_flag_is_refused() {
        let mut bad = schema();
        bad[ANNOTATION]["audit_rights"] = json!(["(unclosed"]);
        let e = Provisions::from_schema(&bad).unwrap_err().to_string();
        assert!(e.contains("audit_rights has a bad pattern"), "{e}");
        let mut undeclared = schema();
        undeclared["properties"]["risk_flags"]["items"]["enum"] = json!(["missing_escrow"]);
        let e = Provisions::from_schema(&undeclared)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing_escrow"), "{e}");
    }
}
