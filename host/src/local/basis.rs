//! Where a value of the record was read: what the model's token
//! probabilities do not know and a calibration needs. A date the opening
//! writes (`dated as of March 3, 2015`) is the agreement date far more
//! often than one a later clause writes, whatever the model's confidence;
//! parties a preamble defines by the terms it will call them are right far
//! more often than names picked from the opening. The calibration is fitted
//! per field and basis (`parties@defined`), see [`crate::calibration`].

use std::cell::OnceCell;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::{dates, evidence};

/// The document's opening, in bytes: where contracts write their title,
/// parties and date.
pub const OPENING_BYTES: usize = 3000;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// Held to what the document's preamble defines (the parties named by
    /// the terms the contract will call them).
    Defined,
    /// Written in the document's opening.
    Opening,
    /// Written after the opening.
    Later,
    /// Not written in the document as the record has it.
    Unwritten,
    /// The value is null.
    Null,
}

impl Basis {
    pub const ALL: [Basis; 5] = [
        Basis::Defined,
        Basis::Opening,
        Basis::Later,
        Basis::Unwritten,
        Basis::Null,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Defined => "defined",
            Basis::Opening => "opening",
            Basis::Later => "later",
            Basis::Unwritten => "unwritten",
            Basis::Null => "null",
        }
    }

    /// The basis of `value` in `document`, or `defined` when the value was
    /// held to the preamble's terms. A string is looked for as written
    /// (any case), an ISO date in any of the forms [`dates`] reads, a list
    /// of names by each `name`; a list is as late as its last item.
    /// Numbers and booleans have none.
    pub fn of(document: &Searched, value: &Value, defined: bool) -> Option<Basis> {
        if defined {
            return Some(Basis::Defined);
        }
        if value.is_null() {
            return Some(Basis::Null);
        }
        let written = evidence::written(value)?;
        if written.is_empty() {
            return Some(Basis::Null);
        }
        let mut last = 0;
        for value in written {
            let at = if dates::is_iso(value) {
                document
                    .dates()
                    .iter()
                    .find(|(_, d)| d == value)
                    .map(|(at, _)| *at)
            } else {
                document.lower().find(&value.trim().to_lowercase())
            };
            match at {
                Some(at) => last = last.max(at),
                None => return Some(Basis::Unwritten),
            }
        }
        Some(if last < OPENING_BYTES {
            Basis::Opening
        } else {
            Basis::Later
        })
    }
}

/// A document as the basis of its values is looked for in: its text (page
/// furniture blanked, see [`super::furniture`]), lower-cased and its dates
/// located once, when a field first needs them, for all of a record's fields.
pub struct Searched<'d> {
    text: &'d str,
    lower: OnceCell<String>,
    dates: OnceCell<Vec<(usize, String)>>,
}

impl<'d> Searched<'d> {
    pub fn new(text: &'d str) -> Searched<'d> {
        Searched {
            text,
            lower: OnceCell::new(),
            dates: OnceCell::new(),
        }
    }

    fn lower(&self) -> &str {
        self.lower.get_or_init(|| self.text.to_lowercase())
    }

    fn dates(&self) -> &[(usize, String)] {
        self.dates.get_or_init(|| dates::located(self.text))
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Basis {
    type Err = String;

    fn from_str(s: &str) -> Result<Basis, String> {
        Basis::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Basis::ALL.iter().map(|b| b.as_str()).collect();
                format!("unknown basis {s:?} (known: {})", known.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_is_placed_where_the_document_writes_it() {
        let document = format!(
            "SUPPLY AGREEMENT made March 3, 2015 between Acme, Inc. and Widget LLC.\n{}\nThis Agreement is governed by the laws of New York. Signed 4/1/2015.",
            "The supplier supplies. ".repeat(200)
        );
        let searched = Searched::new(&document);
        let of = |value: Value| Basis::of(&searched, &value, false);
        assert_eq!(of(json!("2015-03-03")), Some(Basis::Opening));
        assert_eq!(of(json!("2015-04-01")), Some(Basis::Later));
        assert_eq!(of(json!("2015-05-01")), Some(Basis::Unwritten));
        assert_eq!(of(json!("new york")), Some(Basis::Later));
        assert_eq!(of(json!("SUPPLY AGREEMENT")), Some(Basis::Opening));
        assert_eq!(of(Value::Null), Some(Basis::Null));
        assert_eq!(of(json!(true)), None);
        assert_eq!(
            of(json!([{"name": "Acme, Inc."}, {"name": "Widget LLC"}])),
            Some(Basis::Opening)
        );
        assert_eq!(
            of(json!([{"name": "Acme, Inc."}, {"name": "Gadget SA"}])),
            Some(Basis::Unwritten)
        );
        assert_eq!(
            Basis::of(&searched, &json!([{"name": "Acme"}]), true),
            Some(Basis::Defined)
        );
        for basis in Basis::ALL {
            assert_eq!(basis.as_str().parse::<Basis>(), Ok(basis));
        }
        assert!("nowhere".parse::<Basis>().unwrap_err().contains("defined"));
    }
}
