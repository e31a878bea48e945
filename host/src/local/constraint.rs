//! Schema-constrained decoding with llguidance: a JSON schema becomes a
//! token mask at every step, so the local output always parses and
//! validates, and the tokens the schema forces (keys, punctuation) are fed
//! to the model in one batch instead of being decoded one by one.

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{InferenceCapabilities, SimpleVob};
use llguidance::{JsonCompileOptions, Matcher, ParserFactory};
use serde_json::Value;

use super::LocalError;
use super::tokenizer::{TokenId, Tokenizer};

/// Annotation on a schema property the host fills in after generation
/// (`"x-sluice-computed": "confidence"`); the model never writes it.
pub const COMPUTED: &str = "x-sluice-computed";

/// Builds constraints; costly to make (it indexes the vocabulary), so one
/// per tokenizer, shared by every request.
pub struct Constraints {
    factory: ParserFactory,
}

impl Constraints {
    pub fn new(tokenizer: &Tokenizer) -> Result<Self, LocalError> {
        let caps = InferenceCapabilities {
            ff_tokens: true,
            ..Default::default()
        };
        let mut factory = ParserFactory::new(&tokenizer.tok_env(), caps, &slices())
            .map_err(|e| LocalError::Schema(format!("cannot index the vocabulary: {e:#}")))?;
        factory.quiet();
        Ok(Constraints { factory })
    }

    /// A constraint that admits exactly the compact JSON documents valid
    /// under `schema` (after [`generation_schema`]).
    pub fn json_schema(&self, schema: &Value) -> Result<Constraint, LocalError> {
        let mut schema = generation_schema(schema)?;
        JsonCompileOptions {
            whitespace_flexible: false,
            ..Default::default()
        }
        .apply_to(&mut schema);
        let matcher = Matcher::new(
            self.factory
                .create_parser(TopLevelGrammar::from_json_schema(schema)),
        );
        if let Some(e) = matcher.get_error() {
            return Err(LocalError::Schema(e));
        }
        Ok(Constraint { matcher })
    }
}

/// The vocabulary slices llguidance precomputes (the tokens that fit in
/// the middle of a JSON string up to 30 bytes long). Measured on the
/// 262,144-token Gemma vocabulary, contract triage: llguidance's four JSON
/// slices take 0.94 s to index and 0.04 ms per mask; this one 0.47 s and
/// 0.07 ms; none 0.33 s and 0.77 ms. A mask is computed once per sampled
/// token, beside a forward pass of about 20 ms: the index is what counts,
/// since it is built at every start.
fn slices() -> Vec<String> {
    vec![r#"[^"\\\x00-\x1F\x7F]{1,30}"#.to_string()]
}

/// One request's position in the grammar.
pub struct Constraint {
    matcher: Matcher,
}

impl Constraint {
    /// The tokens allowed next.
    pub fn mask(&mut self) -> Result<SimpleVob, LocalError> {
        self.matcher.compute_mask().map_err(|e| self.failed(e))
    }

    /// Take the model's token; returns the tokens the grammar now forces,
    /// already consumed, which the caller must feed to the model too.
    pub fn advance(&mut self, token: TokenId) -> Result<Vec<TokenId>, LocalError> {
        self.matcher
            .consume_token(token)
            .map_err(|e| self.failed(e))?;
        if self.matcher.is_stopped() {
            return Ok(Vec::new());
        }
        Ok(self.matcher.consume_ff_tokens())
    }

    /// The document is complete: nothing may follow.
    pub fn is_finished(&self) -> bool {
        self.matcher.is_stopped()
    }

    /// The document so far could end here.
    pub fn is_accepting(&mut self) -> bool {
        self.matcher.is_accepting().unwrap_or(false)
    }

    fn failed(&self, e: anyhow::Error) -> LocalError {
        LocalError::Inference(format!(
            "constrained decoding failed: {}",
            self.matcher.get_error().unwrap_or_else(|| format!("{e:#}"))
        ))
    }
}

/// The schema the model is held to: the caller's schema without the
/// properties the host computes, and without sluice's own annotations.
pub fn generation_schema(schema: &Value) -> Result<Value, LocalError> {
    if !schema.is_object() {
        return Err(LocalError::Schema("a JSON schema must be an object".into()));
    }
    let mut schema = schema.clone();
    strip(&mut schema);
    Ok(schema)
}

fn strip(value: &mut Value) {
    remove_computed(value);
    strip_annotations(value);
}

fn remove_computed(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                let computed: Vec<String> = properties
                    .iter()
                    .filter(|(_, p)| p.get(COMPUTED).is_some())
                    .map(|(k, _)| k.clone())
                    .collect();
                if !computed.is_empty() {
                    if let Some(Value::Object(properties)) = map.get_mut("properties") {
                        properties.retain(|k, _| !computed.contains(k));
                    }
                    if let Some(Value::Array(required)) = map.get_mut("required") {
                        required.retain(|r| {
                            !r.as_str().is_some_and(|r| computed.iter().any(|c| c == r))
                        });
                    }
                }
            }
            map.values_mut().for_each(remove_computed);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_computed),
        _ => {}
    }
}

/// Remove sluice's own `x-sluice-*` keywords, everywhere in a schema: what
/// another engine (llguidance, a cloud's strict mode) is given.
pub fn strip_annotations(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with("x-sluice-"));
            map.values_mut().for_each(strip_annotations);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_annotations),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llguidance::earley::SlicedBiasComputer;
    use serde_json::json;

    #[test]
    fn the_slice_is_one_of_llguidances_json_slices() {
        assert!(SlicedBiasComputer::json_slices().contains(&slices()[0]));
    }

    #[test]
    fn computed_fields_and_annotations_are_not_generated() {
        let schema = json!({
            "type": "object",
            "required": ["name", "confidence_score"],
            "properties": {
                "name": {"type": "string", "x-sluice-pii": "person"},
                "confidence_score": {"type": "number", "x-sluice-computed": "confidence"}
            }
        });
        assert_eq!(
            generation_schema(&schema).unwrap(),
            json!({
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}}
            })
        );
    }
}
