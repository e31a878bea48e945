//! Values a field may take, read by the host from the passages that hold
//! them, so that the model chooses among what the document says instead of
//! writing a value of its own (or copying one from its few-shot examples).
//!
//! A top-level property, or a property of a top-level array's items,
//! declares where its candidates come from:
//! `"x-sluice-candidates": "jurisdictions"` (the places the governing-law
//! clauses name, see [`super::provisions`]), `"dates"` (the dates written
//! in the document's opening and in the field's best passages, see
//! [`super::dates`]), `"term-dates"` (those of the field's best passages
//! only: an expiration date the term clause does not write is null, not
//! the signing date), `"titles"` (the titles its opening gives itself:
//! `This Distribution Agreement`, a heading in capitals such as `MASTER
//! SERVICES AGREEMENT` or `CONTRATO DE ARRENDAMIENTO`; else its first
//! line) or `"names"` (the names its opening writes, see
//! [`super::names`]; where the opening defines two or more parties by the
//! terms it will call them, `Acme, Inc. ("Supplier")`, those are the whole
//! list, see [`super::parties`]: the array holds exactly them, in order,
//! and the model writes the rest of each item). For one document, such a property of the generation
//! schema becomes an `enum` of its candidates (and `null`, where the schema
//! allows it); a date property with no candidate in the document is held
//! to null where the schema allows it, any other is left as the schema
//! says. The record is still validated against the schema itself.
//!
//! [`furniture::blank`]: super::furniture::blank

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use super::LocalError;
use super::basis::OPENING_BYTES;
use super::clauses::Passage;
use super::dates;
use super::evidence::{Pinned, Selection};
use super::names;
use super::parties;
use super::provisions::{Found, GOVERNING_LAW, collapse};

/// The schema annotation that names a property's source of candidates.
pub const ANNOTATION: &str = "x-sluice-candidates";
/// Candidates offered at most, per field.
const MAX_CANDIDATES: usize = 6;
/// The opening of a document searched for names, in bytes: where
/// contracts name their parties.
const NAMES_BYTES: usize = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Jurisdictions,
    Dates,
    TermDates,
    Titles,
    Names,
}

/// The values one field may take in one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// Best first.
    pub values: Vec<String>,
    /// Whether the document states the field has a value (a sentence says
    /// which law governs), so null is no longer a choice even where the
    /// schema allows it.
    pub certain: bool,
    /// Whether the values are the whole list, in order, of an array whose
    /// items hold the field (the parties a preamble defines): the array is
    /// then held to exactly one item per value.
    pub complete: bool,
}

/// The properties of a schema that take candidates, each by its path
/// below `properties` (`governing_law`, `parties/items/properties/name`).
#[derive(Clone, Debug, Default)]
pub struct Candidates {
    fields: Vec<(String, Source)>,
}

impl Candidates {
    pub fn from_schema(schema: &Value) -> Result<Candidates, LocalError> {
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            return Ok(Candidates::default());
        };
        let mut annotated: Vec<(String, &Value)> = Vec::new();
        for (field, property) in properties {
            if let Some(source) = property.get(ANNOTATION) {
                annotated.push((field.clone(), source));
            }
            let items = property
                .pointer("/items/properties")
                .and_then(Value::as_object);
            for (inner, item) in items.into_iter().flatten() {
                if let Some(source) = item.get(ANNOTATION) {
                    annotated.push((format!("{field}/items/properties/{inner}"), source));
                }
            }
        }
        let mut fields = Vec::new();
        for (path, source) in annotated {
            let source = match source.as_str() {
                Some("jurisdictions") => Source::Jurisdictions,
                Some("dates") => Source::Dates,
                Some("term-dates") => Source::TermDates,
                Some("titles") => Source::Titles,
                Some("names") => Source::Names,
                _ => {
                    return Err(LocalError::Schema(format!(
                        "{path}: {ANNOTATION} is \"jurisdictions\", \"dates\", \"titles\" or \"names\", not {source}"
                    )));
                }
            };
            fields.push((path, source));
        }
        Ok(Candidates { fields })
    }

    /// Per field whose candidates are jurisdictions, the governing-law
    /// passages that name the first of them (else every governing-law
    /// passage): the model reads and is shown the clause the host read its
    /// candidates from, whatever the field's cue phrases rank first.
    pub fn pinned(&self, document: &str, passages: &[Passage], found: &Found) -> Pinned {
        let Some(clauses) = found.kinds.get(GOVERNING_LAW) else {
            return Pinned::new();
        };
        let governing: Vec<usize> = passages
            .iter()
            .enumerate()
            .filter(|(_, p)| clauses.iter().any(|c| c.start == p.start))
            .map(|(i, _)| i)
            .collect();
        let naming: Vec<usize> = match found.jurisdictions.first() {
            Some(first) => {
                let first = first.to_lowercase();
                governing
                    .iter()
                    .copied()
                    .filter(|&i| {
                        collapse(passages[i].text(document))
                            .to_lowercase()
                            .contains(&first)
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        let order = if naming.is_empty() { governing } else { naming };
        self.fields
            .iter()
            .filter(|(_, source)| *source == Source::Jurisdictions)
            .map(|(field, _)| (field.clone(), order.clone()))
            .collect()
    }

    /// Per field that takes candidates (by its path below `properties`),
    /// those `document` offers, best first. `document` comes with its page
    /// furniture blanked ([`furniture::blank`]): no candidate is read there.
    pub fn find(
        &self,
        document: &str,
        selection: &Selection,
        found: &Found,
    ) -> BTreeMap<String, Offer> {
        let mut out = BTreeMap::new();
        // Read once: a title is a candidate, and a name that is one is not.
        let titles = std::cell::LazyCell::new(|| titles(document));
        for (field, source) in &self.fields {
            let mut certain = false;
            if *source == Source::Names && field.contains("/items/properties/") {
                let values = parties::defined(document);
                if !values.is_empty() {
                    let offer = Offer {
                        values,
                        certain: true,
                        complete: true,
                    };
                    out.insert(field.clone(), offer);
                    continue;
                }
            }
            let mut values = match source {
                Source::Jurisdictions => {
                    certain = found.stated > 0;
                    found.jurisdictions.clone()
                }
                Source::Dates | Source::TermDates => {
                    let mut values = if *source == Source::Dates {
                        dates::find(&document[..document.floor_char_boundary(OPENING_BYTES)])
                    } else {
                        Vec::new()
                    };
                    let best = selection.ranked.get(field).into_iter().flatten();
                    for &i in best {
                        for date in dates::find(selection.passages[i].text(document)) {
                            if !values.contains(&date) {
                                values.push(date);
                            }
                        }
                    }
                    values
                }
                Source::Titles => titles.clone(),
                Source::Names => names::find(document, NAMES_BYTES)
                    .into_iter()
                    .filter(|name| !names_document_or_place(name, &titles, found))
                    .collect(),
            };
            if *source != Source::Names {
                values.truncate(MAX_CANDIDATES);
            }
            // A date the document does not write is null, not one the model makes up.
            let dated = matches!(source, Source::Dates | Source::TermDates);
            if !values.is_empty() || dated {
                out.insert(
                    field.clone(),
                    Offer {
                        values,
                        certain,
                        complete: false,
                    },
                );
            }
        }
        out
    }

    /// The generation schema for one document: each field with candidates
    /// held to them (and to null, where the schema allows it and the
    /// document does not state the value); a field offered no value is held
    /// to null where the schema allows it, else left as the schema says.
    pub fn narrow(schema: &Value, candidates: &BTreeMap<String, Offer>) -> Value {
        let mut narrowed = schema.clone();
        for (field, offer) in candidates {
            if offer.complete
                && let Some((array, inner)) = field.split_once("/items/properties/")
            {
                hold_to_items(&mut narrowed, array, inner, &offer.values);
                continue;
            }
            let Some(property) = narrowed.pointer_mut(&format!("/properties/{field}")) else {
                continue;
            };
            let nullable = !offer.certain && allows_null(property, schema);
            let choices = json!({"enum": offer.values});
            *property = if offer.values.is_empty() {
                if !nullable {
                    continue;
                }
                json!({"type": "null"})
            } else if nullable {
                json!({"anyOf": [choices, {"type": "null"}]})
            } else {
                choices
            };
        }
        narrowed
    }
}

/// Hold the array property `array` to one item per value, in order, each
/// item's `inner` property being that value; the rest of each item is the
/// schema's. More values than the schema's `maxItems` are cut to it.
fn hold_to_items(schema: &mut Value, array: &str, inner: &str, values: &[String]) {
    let Some(property) = schema.pointer_mut(&format!("/properties/{array}")) else {
        return;
    };
    let most = property["maxItems"]
        .as_u64()
        .map_or(values.len(), |m| m as usize);
    let items = property.get("items").cloned().unwrap_or_else(|| json!({}));
    let prefix: Vec<Value> = values
        .iter()
        .take(most)
        .map(|value| {
            let mut item = items.clone();
            if let Some(properties) = item.get_mut("properties").and_then(Value::as_object_mut) {
                properties.insert(inner.to_string(), json!({"const": value}));
            }
            item
        })
        .collect();
    let count = prefix.len();
    property["prefixItems"] = json!(prefix);
    property["items"] = json!(false);
    property["minItems"] = json!(count);
    property["maxItems"] = json!(count);
}

/// `This Distribution Agreement (the "Agreement")`.
static THIS_AGREEMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[Tt]his\s+((?:[A-Z0-9][\w&\-/.]*\s+(?:and\s+|of\s+|for\s+|to\s+|&\s+)?){0,8}(?:Agreement|AGREEMENT|Contract|CONTRACT|License|LICENSE|Lease|LEASE|Amendment|AMENDMENT|Addendum|ADDENDUM|Plan))\b")
        .expect("the title pattern is valid")
});

/// A heading in capitals, set apart by a line break or a run of spaces.
static HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|\s{2,})((?:[A-Z0-9][A-Z0-9&\-/.,]*\s){0,7}(?:AGREEMENT|CONTRACT|LICENSE|LEASE|AMENDMENT|ADDENDUM)|(?:CONTRATO|CONVENIO|ACUERDO|OTROS[IÍ])(?:\s[A-ZÁÉÍÓÚÑ0-9][A-ZÁÉÍÓÚÑ0-9&\-/.,]*){0,8})\b")
        .expect("the heading pattern is valid")
});

/// Where a title found inside a longer run ends, or what starts it.
static TITLE_NOISE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(?:EXHIBIT|Exhibit)\s+[\d.()A-Za-z\-]+\s*)?(?:(?:THIS|This|THE|The)\s+)?")
        .expect("the title noise pattern is valid")
});

/// The titles a document's opening gives itself, best first.
fn titles(document: &str) -> Vec<String> {
    const FILLER: [&str; 5] = ["agreement", "the", "and", "of", "contract"];
    let raw = &document[..document.floor_char_boundary(OPENING_BYTES)];
    let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let found = THIS_AGREEMENT
        .captures_iter(&collapsed)
        .filter_map(|c| c.get(1).map(|m| m.as_str().to_string()))
        .chain(HEADING.captures_iter(raw).filter_map(|c| {
            c.get(1)
                .map(|m| m.as_str().split_whitespace().collect::<Vec<_>>().join(" "))
        }));
    let mut out: Vec<String> = Vec::new();
    for title in found {
        let title = TITLE_NOISE.replace(&title, "");
        let title = [" THIS ", " This ", " WHEREAS"]
            .iter()
            .fold(title.as_ref(), |t, cut| t.split(cut).next().unwrap_or(t))
            .trim_matches(|c: char| " .:,;".contains(c))
            .to_string();
        let words: Vec<String> = title
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_lowercase)
            .filter(|w| !w.is_empty() && !FILLER.contains(&w.as_str()))
            .collect();
        let fits = (3..=100).contains(&title.len()) && title.split(' ').count() <= 12;
        // `1. GRANT OF LICENSE` heads a clause, not the document.
        let numbered = title.starts_with(|c: char| c.is_ascii_digit());
        if fits && !numbered && !words.is_empty() && !out.contains(&title) {
            out.push(title);
        }
    }
    if out.is_empty() {
        // No title in the usual words: the document's first line is the best guess.
        let first = raw
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let first = first.split("  ").next().unwrap_or(first).trim();
        let numbered = first.starts_with(|c: char| c.is_ascii_digit());
        if (3..=100).contains(&first.len()) && !numbered {
            out.push(first.to_string());
        }
    }
    out
}

/// Words that end what names a document, not a party (`OUTSOURCING
/// AGREEMENT`, `Exhibit`).
pub(super) const DOCUMENT_WORDS: [&str; 9] = [
    "agreement",
    "contract",
    "contrato",
    "amendment",
    "addendum",
    "exhibit",
    "schedule",
    "contents",
    "convenio",
];

/// Whether a name is the document's title or kind, or a jurisdiction its
/// governing-law clause names (`State of Washington`), which no party is.
fn names_document_or_place(name: &str, titles: &[String], found: &Found) -> bool {
    let last = name.rsplit(' ').next().unwrap_or(name).to_lowercase();
    let place = name
        .strip_prefix("State of ")
        .or_else(|| name.strip_prefix("STATE OF "))
        .unwrap_or(name);
    titles.iter().any(|t| t.eq_ignore_ascii_case(name))
        || DOCUMENT_WORDS.contains(&last.trim_end_matches(['.', ',']))
        || found
            .jurisdictions
            .iter()
            .any(|j| j.eq_ignore_ascii_case(place))
}

/// Whether a property (or the definition it refers to) admits null.
fn allows_null(property: &Value, schema: &Value) -> bool {
    let property = match property.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| schema.pointer(pointer))
            .unwrap_or(property),
        None => property,
    };
    let null = |v: &Value| {
        v.get("type") == Some(&json!("null"))
            || v.get("type")
                .and_then(Value::as_array)
                .is_some_and(|t| t.contains(&json!("null")))
    };
    null(property)
        || property
            .get("anyOf")
            .and_then(Value::as_array)
            .is_some_and(|alternatives| alternatives.iter().any(null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::clauses;
    use crate::local::evidence::{self, Pinned, Selection};
    use crate::local::provisions::Provisions;

    #[test]
    fn an_array_items_property_takes_the_names_the_opening_writes() {
        let schema = json!({"properties": {"parties": {"type": "array", "items": {
            "type": "object",
            "properties": {"name": {"type": "string", "x-sluice-candidates": "names"}, "role": {"type": "string"}}
        }}}});
        let document = "SUPPLY AGREEMENT between Acme Widgets, Inc. (\"Buyer\") of the State of Ohio and Beta LLC.\n1. Supply. Buyer buys.\n";
        let candidates = Candidates::from_schema(&schema).unwrap();
        let selection = Selection::whole(document, clauses::split(document), &[], &Pinned::new());
        let found = Found {
            jurisdictions: vec!["Ohio".into()],
            ..Found::default()
        };
        let offered = candidates.find(document, &selection, &found);
        let names = &offered["parties/items/properties/name"].values;
        for not_a_party in ["SUPPLY AGREEMENT", "AGREEMENT", "State of Ohio", "Ohio"] {
            assert!(
                !names.contains(&not_a_party.to_string()),
                "{not_a_party} in {names:?}"
            );
        }
        assert!(
            names.contains(&"Acme Widgets, Inc.".to_string()),
            "{names:?}"
        );
        assert!(names.contains(&"Beta LLC".to_string()), "{names:?}");
        let narrowed = Candidates::narrow(&schema, &offered);
        assert_eq!(
            narrowed["properties"]["parties"]["items"]["properties"]["name"],
            json!({"enum": names})
        );
        assert_eq!(
            narrowed["properties"]["parties"]["items"]["properties"]["role"],
            json!({"type": "string"})
        );

        // A preamble that defines its parties: the array holds exactly them,
        // in order; each item's role is still the model's to write.
        let defined = "SUPPLY AGREEMENT between Acme Widgets, Inc., an Ohio corporation (\"Buyer\"), and BETA SUPPLY LLC (the \"Seller\"). Gamma Corp. is not a party.\n1. Supply. Buyer buys.\n";
        let selection = Selection::whole(defined, clauses::split(defined), &[], &Pinned::new());
        let offered = candidates.find(defined, &selection, &found);
        let offer = &offered["parties/items/properties/name"];
        assert!(offer.complete && offer.certain);
        assert_eq!(offer.values, ["Acme Widgets, Inc.", "BETA SUPPLY LLC"]);
        let mut bounded = schema.clone();
        bounded["properties"]["parties"]["maxItems"] = json!(4);
        let narrowed = Candidates::narrow(&bounded, &offered);
        let parties = &narrowed["properties"]["parties"];
        assert_eq!(
            (
                &parties["minItems"],
                &parties["maxItems"],
                &parties["items"]
            ),
            (&json!(2), &json!(2), &json!(false))
        );
        for (i, name) in offer.values.iter().enumerate() {
            let item = &parties["prefixItems"][i]["properties"];
            assert_eq!(item["name"], json!({"const": name}));
            assert_eq!(item["role"], json!({"type": "string"}));
        }
    }

    #[test]
    fn fields_take_the_values_the_document_offers() {
        let schema = json!({
            "x-sluice-clauses": {"governing_law": ["governed by"]},
            "properties": {
                "governing_law": {"anyOf": [{"type": "string"}, {"type": "null"}], "x-sluice-candidates": "jurisdictions"},
                "agreement_date": {"$ref": "#/$defs/date", "x-sluice-candidates": "dates",
                                   "x-sluice-evidence": ["dated as of"]},
                "expiration_date": {"$ref": "#/$defs/date", "x-sluice-candidates": "term-dates",
                                    "x-sluice-evidence": ["continue until"]},
                "title": {"type": "string"}
            },
            "$defs": {"date": {"anyOf": [{"type": "string"}, {"type": "null"}]}}
        });
        let document = "SUPPLY AGREEMENT\nThis Agreement is dated as of June 1, 2020 between Acme, a Delaware corporation organised under the laws of Delaware, and Beta.\n9. Law. This Agreement is governed by the laws of the State of New York.\n";
        let passages = clauses::split(document);
        let found = Provisions::from_schema(&schema)
            .unwrap()
            .find(document, &passages);
        let candidates = Candidates::from_schema(&schema).unwrap();
        let pinned = candidates.pinned(document, &passages, &found);
        let [law] = pinned["governing_law"][..] else {
            panic!("one pinned passage: {pinned:?}")
        };
        assert!(passages[law].text(document).starts_with("9. Law."));
        let selection = Selection::whole(
            document,
            passages.clone(),
            &evidence::cues(&schema),
            &pinned,
        );
        let offered = candidates.find(document, &selection, &found);
        assert_eq!(offered["governing_law"].values, ["New York"]);
        assert!(
            offered["governing_law"].certain,
            "a sentence says New York law governs"
        );
        assert_eq!(offered["agreement_date"].values, ["2020-06-01"]);
        assert!(!offered["agreement_date"].certain);
        assert!(
            offered["expiration_date"].values.is_empty(),
            "no term clause writes a date; the opening's is the signing date"
        );
        let narrowed = Candidates::narrow(&schema, &offered);
        assert_eq!(
            narrowed["properties"]["governing_law"],
            json!({"enum": ["New York"]})
        );
        assert_eq!(
            narrowed["properties"]["agreement_date"],
            json!({"anyOf": [{"enum": ["2020-06-01"]}, {"type": "null"}]})
        );
        assert_eq!(
            narrowed["properties"]["expiration_date"],
            json!({"type": "null"})
        );

        let unstated = "SUPPLY AGREEMENT\nThis Agreement is made between Acme and Beta.\n9. Law. This Agreement is governed by the rules below. Delaware law applies.\n";
        let passages = clauses::split(unstated);
        let found = Provisions::from_schema(&schema)
            .unwrap()
            .find(unstated, &passages);
        let selection = Selection::whole(unstated, passages, &[], &Pinned::new());
        let offered = candidates.find(unstated, &selection, &found);
        assert_eq!(offered["governing_law"].values, ["Delaware"]);
        assert_eq!(
            Candidates::narrow(&schema, &offered)["properties"]["governing_law"],
            json!({"anyOf": [{"enum": ["Delaware"]}, {"type": "null"}]}),
            "no sentence says Delaware law governs: null stays a choice"
        );
        assert_eq!(
            narrowed["properties"]["title"],
            schema["properties"]["title"]
        );
        assert_eq!(
            titles(
                "Exhibit 10.31   ACCURAY INCORPORATED  MULTIPLE LINAC AND MULTI-MODALITY   DISTRIBUTOR AGREEMENT     This Multiple LINAC and Multi-Modality Distributor Agreement (\"Agreement\") is entered into"
            ),
            [
                "Multiple LINAC and Multi-Modality Distributor Agreement",
                "DISTRIBUTOR AGREEMENT"
            ]
        );
        assert_eq!(
            titles("CONTRATO DE PRESTACIÓN DE SERVICIOS\nEntre los suscritos"),
            ["CONTRATO DE PRESTACIÓN DE SERVICIOS"]
        );
        assert!(titles("1. GRANT AND SCOPE OF LICENSE\nThe Licensor grants").is_empty());
        assert_eq!(
            titles("Memorial de entendimiento\nLas partes"),
            ["Memorial de entendimiento"]
        );

        let bad = json!({"properties": {"a": {"x-sluice-candidates": "people"}}});
        assert!(Candidates::from_schema(&bad).is_err());
    }
}
