//! How sure the model was of each field of a record, from the tokens of
//! that field's value only (a record-wide mean hides a doubtful date behind
//! a confident title).
//!
//! For each top-level property of the generated JSON object: the geometric
//! mean of the probabilities of the tokens the model chose within the value
//! (each among the tokens the schema allowed at that step; forced tokens
//! such as keys and punctuation carry no information and are left out), and
//! the smallest of them. A value with no chosen token (the schema left one
//! way to write it) has confidence 1.

use std::collections::BTreeMap;

use super::generate::GeneratedToken;

/// One field's confidence.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct FieldConfidence {
    /// Geometric mean of the chosen tokens' probabilities.
    pub mean: f32,
    /// The least probable chosen token.
    pub min: f32,
    /// How many tokens the model chose within the value.
    pub chosen: usize,
}

/// Per top-level property of the object in `text`, its confidence; empty
/// when `tokens` do not spell `text` or `text` is not an object.
pub fn per_field(text: &str, tokens: &[GeneratedToken]) -> BTreeMap<String, FieldConfidence> {
    let spelled: usize = tokens.iter().map(|t| t.text.len()).sum();
    if spelled != text.len() {
        return BTreeMap::new();
    }
    let mut starts = Vec::with_capacity(tokens.len());
    let mut at = 0;
    for t in tokens {
        starts.push(at);
        at += t.text.len();
    }
    value_ranges(text)
        .into_iter()
        .map(|(field, (start, end))| {
            let chosen: Vec<f32> = tokens
                .iter()
                .zip(&starts)
                .filter(|(t, s)| **s < end && **s + t.text.len() > start)
                .filter_map(|(t, _)| t.constrained_logprob)
                .collect();
            let confidence = if chosen.is_empty() {
                FieldConfidence {
                    mean: 1.0,
                    min: 1.0,
                    chosen: 0,
                }
            } else {
                FieldConfidence {
                    mean: (chosen.iter().sum::<f32>() / chosen.len() as f32).exp(),
                    min: chosen.iter().copied().fold(f32::INFINITY, f32::min).exp(),
                    chosen: chosen.len(),
                }
            };
            (field, confidence)
        })
        .collect()
}

/// The byte range of each top-level property's value in a JSON object.
fn value_ranges(text: &str) -> Vec<(String, (usize, usize))> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let mut key: Option<String> = None;
    let mut value_start = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if depth == 1 && value_start.is_none() && key.is_none() {
                    key = serde_json::from_str(&text[start..=i.min(bytes.len() - 1)]).ok();
                }
            }
            b':' if depth == 1 && key.is_some() && value_start.is_none() => {
                value_start = Some(i + 1);
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 1 {
                    close(&mut out, &mut key, &mut value_start, i);
                }
                depth = depth.saturating_sub(1);
            }
            b',' if depth == 1 => close(&mut out, &mut key, &mut value_start, i),
            _ => {}
        }
        i += 1;
    }
    out
}

fn close(
    out: &mut Vec<(String, (usize, usize))>,
    key: &mut Option<String>,
    value_start: &mut Option<usize>,
    end: usize,
) {
    if let (Some(k), Some(s)) = (key.take(), value_start.take()) {
        out.push((k, (s, end)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str, p: Option<f32>) -> GeneratedToken {
        GeneratedToken {
            id: 0,
            text: text.into(),
            logprob: p.map(f32::ln),
            constrained_logprob: p.map(f32::ln),
            top_logprobs: Vec::new(),
        }
    }

    #[test]
    fn each_field_counts_only_its_own_chosen_tokens() {
        let tokens = [
            token("{\"law\":\"", None),
            token("New", Some(0.5)),
            token(" York", Some(0.8)),
            token("\",\"parties\":[{\"name\":\"", None),
            token("Acme, Inc.", Some(0.9)),
            token("\"}],\"date\":", None),
            token("null", Some(0.25)),
            token(",\"fixed\":true}", None),
        ];
        let text: String = tokens.iter().map(|t| t.text.as_str()).collect();
        let fields = per_field(&text, &tokens);
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(names, ["date", "fixed", "law", "parties"]);
        let law = fields["law"];
        assert!((law.mean - (0.5f32 * 0.8).sqrt()).abs() < 1e-5, "{law:?}");
        assert!((law.min - 0.5).abs() < 1e-6);
        assert!((fields["parties"].mean - 0.9).abs() < 1e-6);
        assert!((fields["date"].mean - 0.25).abs() < 1e-6);
        assert_eq!(fields["fixed"].chosen, 0);
        assert_eq!(fields["fixed"].mean, 1.0);
        assert!(per_field("{}", &tokens).is_empty());
    }
}
