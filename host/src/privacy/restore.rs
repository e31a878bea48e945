//! Re-identification: placeholders a [`Vault`] issued become their values
//! again, in text, in JSON and in streams. A placeholder-shaped token the
//! vault never issued (invented or mangled by the cloud) is left as it is and
//! counted, never guessed.

use serde_json::{Map, Value};

use crate::privacy::Vault;
use crate::privacy::placeholder::{could_start, shaped_len};

/// What happened to the placeholders in a restored text, value or stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RestoreCounts {
    /// Placeholders replaced by their values.
    pub restored: usize,
    /// Placeholder-shaped tokens the vault never issued, left as they were.
    pub unknown: usize,
}

impl RestoreCounts {
    fn add(&mut self, other: RestoreCounts) {
        self.restored += other.restored;
        self.unknown += other.unknown;
    }
}

/// Restored text and its counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Restored {
    pub text: String,
    pub restored: usize,
    pub unknown: usize,
}

impl Restored {
    pub fn counts(&self) -> RestoreCounts {
        RestoreCounts {
            restored: self.restored,
            unknown: self.unknown,
        }
    }
}

pub fn restore_text(vault: &Vault, text: &str) -> Restored {
    restore(vault, text, false)
}

/// As [`restore_text`], in JSON text (a tool call's arguments): each value
/// is written escaped, as it must be inside a JSON string, so the text
/// stays the JSON it was.
pub fn restore_in_json(vault: &Vault, text: &str) -> Restored {
    restore(vault, text, true)
}

fn restore(vault: &Vault, text: &str, escaped: bool) -> Restored {
    let mut out = Restored {
        text: String::with_capacity(text.len()),
        ..Restored::default()
    };
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'[') {
        i += offset;
        match shaped_len(&bytes[i..]) {
            Some(len) => {
                let token = &text[i..i + len];
                out.text.push_str(&text[at..i]);
                match vault.original(token) {
                    Some(value) if escaped => {
                        let quoted = Value::String(value.to_string()).to_string();
                        out.text.push_str(&quoted[1..quoted.len() - 1]);
                        out.restored += 1;
                    }
                    Some(value) => {
                        out.text.push_str(value);
                        out.restored += 1;
                    }
                    None => {
                        out.text.push_str(token);
                        out.unknown += 1;
                    }
                }
                i += len;
                at = i;
            }
            None => i += 1,
        }
    }
    out.text.push_str(&text[at..]);
    out
}

/// `value` with every string and key restored; counts as for text.
pub fn restore_json(vault: &Vault, value: &Value) -> (Value, RestoreCounts) {
    let mut counts = RestoreCounts::default();
    let mut restore = |s: &str| {
        let r = restore_text(vault, s);
        counts.add(r.counts());
        r.text
    };
    fn walk(value: &Value, restore: &mut dyn FnMut(&str) -> String) -> Value {
        match value {
            Value::String(s) => Value::String(restore(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| walk(v, restore)).collect()),
            Value::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (k, v) in fields {
                    let key = restore(k);
                    out.insert(key, walk(v, restore));
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
    let restored = walk(value, &mut restore);
    (restored, counts)
}

/// Re-identifies a stream chunk by chunk. A chunk that ends inside what may
/// be a placeholder keeps that tail back until the next chunk, and never more
/// than the longest placeholder the vault issued, less one byte.
pub struct StreamRestorer<'v> {
    vault: &'v Vault,
    held: String,
    counts: RestoreCounts,
    /// Values written JSON-escaped (see [`restore_in_json`]).
    escaped: bool,
}

impl<'v> StreamRestorer<'v> {
    pub fn new(vault: &'v Vault) -> StreamRestorer<'v> {
        StreamRestorer {
            vault,
            held: String::new(),
            counts: RestoreCounts::default(),
            escaped: false,
        }
    }

    /// For a stream of JSON text (a tool call's arguments).
    pub fn in_json(vault: &'v Vault) -> StreamRestorer<'v> {
        StreamRestorer {
            escaped: true,
            ..StreamRestorer::new(vault)
        }
    }

    /// The text that can be released after `chunk`.
    pub fn push(&mut self, chunk: &str) -> String {
        self.held.push_str(chunk);
        let keep_from = self.partial_tail();
        let release = self.held[..keep_from].to_string();
        self.held.drain(..keep_from);
        self.release(&release)
    }

    /// Everything still held, at the end of the stream.
    pub fn finish(mut self) -> (String, RestoreCounts) {
        let tail = std::mem::take(&mut self.held);
        let text = self.release(&tail);
        (text, self.counts)
    }

    /// Bytes held back right now.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Where an unfinished placeholder starts at the end of the held text
    /// (its length is then below the longest issued), or the end.
    fn partial_tail(&self) -> usize {
        let limit = self.vault.longest_placeholder();
        let bytes = self.held.as_bytes();
        let window = bytes.len().saturating_sub(limit.saturating_sub(1));
        match bytes[window..].iter().position(|&b| b == b'[') {
            Some(offset) if could_start(&bytes[window + offset..]) => window + offset,
            _ => bytes.len(),
        }
    }

    fn release(&mut self, text: &str) -> String {
        let r = restore(self.vault, text, self.escaped);
        self.counts.add(r.counts());
        r.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::contract::PiiKind;

    fn vault() -> Vault {
        let mut v = Vault::new();
        v.pseudonymise(PiiKind::Person, "Ana Gómez");
        v.pseudonymise(PiiKind::TaxId, "900.123.456-7");
        v
    }

    #[test]
    fn text_and_json_come_back() {
        let v = vault();
        let r = restore_text(&v, "[PERSON_1] ([TAX_ID_1]) met [PERSON_9] and [person_1].");
        assert_eq!(
            r.text,
            "Ana Gómez (900.123.456-7) met [PERSON_9] and [person_1]."
        );
        assert_eq!((r.restored, r.unknown), (2, 1));
        let (json, counts) = restore_json(
            &v,
            &serde_json::json!({"parties": [{"name": "[PERSON_1]"}], "[TAX_ID_1]": 3}),
        );
        assert_eq!(
            json,
            serde_json::json!({"parties": [{"name": "Ana Gómez"}], "900.123.456-7": 3})
        );
        assert_eq!(counts.restored, 2);
    }

    #[test]
    fn a_placeholder_split_at_every_offset_is_restored_and_little_is_held() {
        let v = vault();
        let text = "Firmado por [PERSON_1], NIT [TAX_ID_1]. [X";
        for cut in 0..=text.len() {
            for second in cut..=text.len() {
                let mut s = StreamRestorer::new(&v);
                let mut out = String::new();
                for chunk in [&text[..cut], &text[cut..second], &text[second..]] {
                    out.push_str(&s.push(chunk));
                    assert!(
                        s.held() < v.longest_placeholder(),
                        "held {} bytes",
                        s.held()
                    );
                }
                let (tail, counts) = s.finish();
                out.push_str(&tail);
                assert_eq!(
                    out, "Firmado por Ana Gómez, NIT 900.123.456-7. [X",
                    "cut at {cut}/{second}"
                );
                assert_eq!(counts.restored, 2);
            }
        }
    }

    #[test]
    fn values_in_json_text_are_escaped() {
        let mut vault = Vault::new();
        let p = vault.pseudonymise(
            crate::plugins::contract::PiiKind::Person,
            "Ana \"la\" Gómez",
        );
        let text = format!("{{\"name\": \"{p}\"}}");
        let restored = restore_in_json(&vault, &text).text;
        let value: Value = serde_json::from_str(&restored).unwrap();
        assert_eq!(value["name"], "Ana \"la\" Gómez");
        let mut stream = StreamRestorer::in_json(&vault);
        let (a, b) = text.split_at(12);
        let joined = stream.push(a) + &stream.push(b) + &stream.finish().0;
        assert_eq!(joined, restored);
    }
}
