//! Pseudonymisation of text and JSON before anything leaves the machine.
//!
//! Spans come from the anonymiser plugin and from the host's own credential
//! scan ([`secrets`]); the host, not the plugin, replaces them and keeps the
//! mapping in the request's [`Vault`]. Fields a schema marks
//! `"x-sluice-pii": "<kind>"` are pseudonymised whole, whatever the detector
//! says. If the detector fails in any way (trap, deadline, memory,
//! quarantine, missing), the result is a [`Refusal`] and no text at all.
//!
//! [`secrets`]: crate::privacy::secrets

use serde_json::{Map, Value};

use crate::plugins::contract::{PiiKind, Span};
use crate::plugins::failure::FailClosed;
use crate::plugins::{CallSettings, PluginSet};
use crate::privacy::placeholder::{self, Kind};
use crate::privacy::{Vault, secrets};

/// Why nothing was sent: the detector failed, so the text could not be
/// pseudonymised. Carries the plugin and its error, for the audit log.
pub type Refusal = FailClosed;

/// One anonymiser plugin, as a policy configured it.
pub struct Anonymiser<'a> {
    pub plugins: &'a PluginSet,
    pub plugin: &'a str,
    pub settings: &'a CallSettings,
    /// Language hint for the detector (`es`, `pt`, `en`).
    pub lang: &'a str,
}

/// Strings of a JSON value that the detector reads in one call.
struct Leaf {
    /// Byte range in the joined text.
    start: usize,
    end: usize,
}

/// Between leaves in the joined text: no span can sensibly cross it.
const SEPARATOR: &str = "\n\n";

/// A range of a text to replace, and what it is.
#[derive(Clone, Copy)]
struct Masked {
    start: usize,
    end: usize,
    kind: Kind,
}

/// The detector's spans and the host's credentials in `text`.
fn masked(spans: Vec<Span>, text: &str) -> Vec<Masked> {
    let mut all: Vec<Masked> = spans
        .into_iter()
        .map(|s| Masked {
            start: s.start as usize,
            end: s.end as usize,
            kind: Kind::Pii(s.kind),
        })
        .collect();
    all.extend(secrets::find(text).into_iter().map(|f| Masked {
        start: f.start,
        end: f.end,
        kind: Kind::Secret,
    }));
    all
}

impl Anonymiser<'_> {
    /// `text` with every detected span, and every value the vault already
    /// masked in this request, replaced by its placeholder.
    pub async fn text(&self, vault: &mut Vault, text: &str) -> Result<String, Refusal> {
        let spans = self
            .plugins
            .detect(self.plugin, text, self.lang, self.settings)
            .await?;
        let mut masked = masked(spans, text);
        masked.extend(
            vault
                .known_in(text)
                .into_iter()
                .map(|(start, end, kind)| Masked { start, end, kind }),
        );
        Ok(replace(vault, text, masked))
    }

    /// `value` with schema-marked fields pseudonymised whole and every other
    /// string through the detector (one call for the whole value).
    pub async fn json(
        &self,
        vault: &mut Vault,
        value: &Value,
        schema: &Value,
    ) -> Result<Value, Refusal> {
        let mut out = value.clone();
        // Marked fields first: their values never reach the detector.
        mark(vault, schema, schema, &mut out);
        self.strings(vault, &mut out).await?;
        Ok(out)
    }

    /// Every string (and key) of `value` through the detector in one call,
    /// with every value the vault already masked in this request replaced
    /// too, in place.
    pub(super) async fn strings(
        &self,
        vault: &mut Vault,
        value: &mut Value,
    ) -> Result<(), Refusal> {
        let mut leaves = Vec::new();
        let mut joined = String::new();
        collect(value, &mut joined, &mut leaves);
        if leaves.is_empty() {
            return Ok(());
        }
        let spans = self
            .plugins
            .detect(self.plugin, &joined, self.lang, self.settings)
            .await?;
        let mut spans = masked(spans, &joined);
        spans.extend(
            vault
                .known_in(&joined)
                .into_iter()
                .map(|(start, end, kind)| Masked { start, end, kind }),
        );
        let mut replaced = Vec::with_capacity(leaves.len());
        for leaf in &leaves {
            let local: Vec<Masked> = spans
                .iter()
                .filter(|s| s.start < leaf.end && s.end > leaf.start)
                .map(|s| Masked {
                    start: s.start.max(leaf.start) - leaf.start,
                    end: s.end.min(leaf.end) - leaf.start,
                    kind: s.kind,
                })
                .collect();
            replaced.push(replace(vault, &joined[leaf.start..leaf.end], local));
        }
        let mut replaced = replaced.into_iter();
        substitute(value, &mut replaced);
        Ok(())
    }
}

/// Pseudonymise, whole, the values of `value` that `schema` marks
/// `x-sluice-pii`.
pub(super) fn mark_fields(vault: &mut Vault, schema: &Value, value: &mut Value) {
    mark(vault, schema, schema, value);
}

/// Replace `spans` in `text` (overlapping spans are merged, so more is
/// covered, never less; a merge that holds a credential is a credential).
fn replace(vault: &mut Vault, text: &str, mut spans: Vec<Masked>) -> String {
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut i = 0;
    while i < spans.len() {
        let Masked {
            start,
            mut end,
            mut kind,
        } = spans[i];
        i += 1;
        while i < spans.len() && spans[i].start < end {
            end = end.max(spans[i].end);
            if spans[i].kind == Kind::Secret {
                kind = Kind::Secret;
            }
            i += 1;
        }
        if start < at || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(&vault.pseudonymise(kind, &text[start..end]));
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// Resolve a local `$ref` (`#/$defs/x`) against the root schema.
fn resolve<'s>(root: &'s Value, schema: &'s Value) -> &'s Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) if r.starts_with("#/") => r[2..]
            .split('/')
            .try_fold(root, |node, key| node.get(key))
            .unwrap_or(schema),
        _ => schema,
    }
}

/// Pseudonymise, whole, every value whose schema carries `x-sluice-pii`.
fn mark(vault: &mut Vault, root: &Value, schema: &Value, value: &mut Value) {
    let schema = resolve(root, schema);
    if let Some(kind) = schema.get("x-sluice-pii").and_then(Value::as_str) {
        let kind = placeholder::kind_named(kind).unwrap_or(Kind::Pii(PiiKind::Other));
        match value {
            Value::String(s) => *s = vault.pseudonymise(kind, s),
            Value::Number(n) => *value = Value::String(vault.pseudonymise(kind, &n.to_string())),
            _ => {}
        }
        return;
    }
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (key, field) in fields.iter_mut() {
                let sub = properties.and_then(|p| p.get(key)).or(additional);
                if let Some(sub) = sub {
                    mark(vault, root, sub, field);
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for item in items {
                    mark(vault, root, sub, item);
                }
            }
        }
        _ => {}
    }
}

/// Every string (and object key) in document order, joined for one detector call.
fn collect(value: &Value, joined: &mut String, leaves: &mut Vec<Leaf>) {
    fn push(s: &str, joined: &mut String, leaves: &mut Vec<Leaf>) {
        if !joined.is_empty() {
            joined.push_str(SEPARATOR);
        }
        let start = joined.len();
        joined.push_str(s);
        leaves.push(Leaf {
            start,
            end: joined.len(),
        });
    }
    match value {
        Value::String(s) => push(s, joined, leaves),
        Value::Array(items) => items.iter().for_each(|v| collect(v, joined, leaves)),
        Value::Object(fields) => {
            for (k, v) in fields {
                push(k, joined, leaves);
                collect(v, joined, leaves);
            }
        }
        _ => {}
    }
}

/// Put the replaced strings back, in the order [`collect`] took them.
fn substitute(value: &mut Value, replaced: &mut impl Iterator<Item = String>) {
    match value {
        Value::String(s) => *s = replaced.next().unwrap_or_default(),
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, replaced)),
        Value::Object(fields) => {
            let old = std::mem::take(fields);
            let mut new = Map::with_capacity(old.len());
            for (_, mut v) in old {
                let key = replaced.next().unwrap_or_default();
                substitute(&mut v, replaced);
                new.insert(key, v);
            }
            *fields = new;
        }
        _ => {}
    }
}
