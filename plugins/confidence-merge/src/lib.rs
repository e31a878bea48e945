//! `confidence-merge`: compares a local and a cloud JSON answer field by field
//! and keeps local when they agree, the cloud when they mostly agree, and asks
//! for review when they do not.
//!
//! Agreement per top-level field is in [0, 1]: equal values 1; strings by
//! normalised equality, else word-set overlap; numbers by relative distance;
//! arrays by overlap of their (normalised) elements; objects by the mean over
//! their keys. The score is the mean over the schema's top-level properties
//! (or over both objects' keys when the schema names none).
//!
//! Settings: `agree_band` (default 0.85): at or above it, keep local;
//! `review_below` (default 0.5): below it, ask for review; in between, keep
//! the cloud. `field_band` (default 0.999): a field scoring below it counts as diverged.

wit_bindgen::generate!({ path: "../../wit", world: "merger" });

use exports::sluice::policy::merging::Guest;
use serde_json::Value;
use sluice::policy::host::config;
use sluice::policy::types::{Candidate, Choice, MergeDecision};
use std::collections::BTreeSet;

struct Merger;

fn number(key: &str, default: f64) -> f64 {
    match config(key) {
        None => default,
        Some(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("setting {key}={text:?} is not a number")),
    }
}

fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn jaccard<T: Ord>(a: BTreeSet<T>, b: BTreeSet<T>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let shared = a.intersection(&b).count() as f64;
    shared / a.union(&b).count() as f64
}

fn agreement(a: &Value, b: &Value) -> f64 {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            if normalise(x) == normalise(y) {
                1.0
            } else {
                let words = |s: &str| normalise(s).split(' ').map(str::to_string).collect();
                jaccard::<String>(words(x), words(y))
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            let scale = x.abs().max(y.abs());
            if scale == 0.0 {
                1.0
            } else {
                1.0 - ((x - y).abs() / scale).min(1.0)
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            let key = |v: &Value| match v {
                Value::String(s) => normalise(s),
                other => other.to_string(),
            };
            jaccard(x.iter().map(key).collect(), y.iter().map(key).collect())
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            if keys.is_empty() {
                return 1.0;
            }
            let null = Value::Null;
            let total: f64 = keys
                .iter()
                .map(|k| agreement(x.get(*k).unwrap_or(&null), y.get(*k).unwrap_or(&null)))
                .sum();
            total / keys.len() as f64
        }
        (x, y) => f64::from(u8::from(x == y)),
    }
}

impl Guest for Merger {
    fn merge(local: Candidate, cloud: Candidate, schema: String) -> MergeDecision {
        let parse = |what: &str, text: &str| -> Value {
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON: {e}"))
        };
        let (l, c) = (parse("local", &local.json), parse("cloud", &cloud.json));
        let schema = parse("schema", &schema);
        let mut fields: BTreeSet<String> = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        if fields.is_empty() {
            for v in [&l, &c] {
                if let Some(o) = v.as_object() {
                    fields.extend(o.keys().cloned());
                }
            }
        }
        let field_band = number("field_band", 0.999);
        let null = Value::Null;
        let mut diverged = Vec::new();
        let mut total = 0.0;
        for field in &fields {
            let score = agreement(l.get(field).unwrap_or(&null), c.get(field).unwrap_or(&null));
            if score < field_band {
                diverged.push(field.clone());
            }
            total += score;
        }
        let score = if fields.is_empty() {
            agreement(&l, &c)
        } else {
            total / fields.len() as f64
        };
        let (agree_band, review_below) = (number("agree_band", 0.85), number("review_below", 0.5));
        let (choice, why) = if score >= agree_band {
            (
                Choice::Local,
                format!("agreement {score:.2} within band {agree_band:.2}"),
            )
        } else if score >= review_below {
            (
                Choice::Cloud,
                format!("agreement {score:.2} below band {agree_band:.2}"),
            )
        } else {
            (
                Choice::Review,
                format!("agreement {score:.2} below {review_below:.2}"),
            )
        };
        let mut reasons = vec![why];
        if !diverged.is_empty() {
            reasons.push(format!("diverged on {}", diverged.join(", ")));
        }
        MergeDecision {
            choice,
            agreement: score as f32,
            diverged,
            reasons,
        }
    }
}

export!(Merger);
