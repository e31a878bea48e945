//! The contract-triage stage: a contract in, a record valid under
//! `schemas/contract_triage.json` out, read by the local model with a
//! few-shot prompt (the embedded model is a base model, not an instruction
//! follower) and held to the schema while decoding.
//!
//! Long contracts are cut to their head (title, parties, dates) and tail
//! (governing law, signatures), the parts that carry the fields.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::LocalError;
use super::generate::{FinishReason, GenerateRequest, Generation};
use super::tokenizer::{TokenId, Tokenizer};

/// Document tokens kept from the start and from the end of a contract.
pub const HEAD_TOKENS: usize = 640;
pub const TAIL_TOKENS: usize = 192;
/// Enough for the record with four parties and six flags.
const MAX_TOKENS: usize = 400;
const SEPARATOR: &str = "\n[...]\n";
/// The contract's opening (title, parties), repeated where the prompt says
/// `{opening}`, close to where the record starts.
const OPENING_TOKENS: usize = 96;

pub struct TriageStage {
    schema: Value,
    validator: Arc<jsonschema::Validator>,
    prompt: String,
}

impl std::fmt::Debug for TriageStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TriageStage").finish_non_exhaustive()
    }
}

/// A contract made ready for the model.
pub struct Prepared {
    pub request: GenerateRequest,
    /// Whether the contract was cut to its head and tail.
    pub truncated: bool,
    /// Tokens in the whole contract.
    pub document_tokens: usize,
}

/// The stage's answer.
#[derive(Debug, Clone)]
pub struct Triage {
    /// The record, `confidence_score` filled in, validated.
    pub record: Value,
    /// The record's `confidence_score` (see [`super::generate::confidence`]).
    pub confidence: f64,
    /// Whether the contract was cut to fit.
    pub truncated: bool,
    pub generation: Generation,
}

impl TriageStage {
    /// Load a schema and the few-shot prompt beside it (same stem,
    /// `.prompt.txt`), whose `{document}` marks where the contract goes.
    pub fn load(schema_path: &Path) -> Result<Self, LocalError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| LocalError::Schema(format!("cannot read {}: {e}", path.display())))
        };
        let schema: Value = serde_json::from_str(&read(schema_path)?).map_err(|e| {
            LocalError::Schema(format!("{} is not JSON: {e}", schema_path.display()))
        })?;
        let prompt_path = prompt_path(schema_path);
        Self::new(schema, read(&prompt_path)?).map_err(|e| {
            LocalError::Schema(format!(
                "{} with {}: {e}",
                schema_path.display(),
                prompt_path.display()
            ))
        })
    }

    /// A stage from a schema and a few-shot prompt whose `{document}` marks
    /// where the document goes.
    pub fn new(schema: Value, prompt: String) -> Result<Self, LocalError> {
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| LocalError::Schema(format!("not a valid JSON schema: {e}")))?;
        Self::with_validator(schema, Arc::new(validator), prompt)
    }

    /// The same, with the schema already compiled (a policy's `Schema`).
    pub fn with_validator(
        schema: Value,
        validator: Arc<jsonschema::Validator>,
        prompt: String,
    ) -> Result<Self, LocalError> {
        if !prompt.contains("{document}") {
            return Err(LocalError::Schema(
                "the prompt has no {document} placeholder".into(),
            ));
        }
        Ok(TriageStage {
            schema,
            validator,
            prompt,
        })
    }

    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// The generation request for one contract.
    pub fn request(&self, tokenizer: &Tokenizer, full: &str) -> Prepared {
        // One encoding serves the cut, the opening lines and the count.
        let ids = tokenizer.encode(full.trim());
        let (document, truncated) = fit(tokenizer, full.trim(), &ids);
        let opening = tokenizer.decode(&ids[..ids.len().min(OPENING_TOKENS)]);
        let prompt = self
            .prompt
            .replace("{opening}", opening.trim())
            .replace("{law_clause}", law_clause(full).unwrap_or("(none found)"))
            .replace("{document}", document.trim());
        let mut request = GenerateRequest::new(prompt);
        request.schema = Some(self.schema.clone());
        request.max_tokens = MAX_TOKENS;
        Prepared {
            request,
            truncated,
            document_tokens: ids.len(),
        }
    }

    /// Turn the generation into the validated record.
    pub fn finish(&self, generation: Generation, truncated: bool) -> Result<Triage, LocalError> {
        if generation.finish == FinishReason::Length {
            return Err(LocalError::Inference(format!(
                "the record did not fit in {MAX_TOKENS} tokens"
            )));
        }
        let mut record: Value = serde_json::from_str(&generation.text).map_err(|e| {
            LocalError::Inference(format!(
                "constrained output is not JSON ({e}): {}",
                generation.text
            ))
        })?;
        let confidence = (f64::from(generation.confidence) * 1000.0).round() / 1000.0;
        let scored = self.schema["properties"].get("confidence_score").is_some();
        if let Some(fields) = record.as_object_mut() {
            // Only where the schema has the field: a caller's schema may
            // forbid properties it does not name.
            if scored {
                fields.insert("confidence_score".into(), confidence.into());
            }
            if let Some(Value::Array(flags)) = fields.get_mut("risk_flags") {
                let mut seen = Vec::new();
                flags.retain(|f| {
                    let new = !seen.contains(f);
                    seen.push(f.clone());
                    new
                });
            }
        }
        let errors: Vec<String> = self
            .validator
            .iter_errors(&record)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if !errors.is_empty() {
            return Err(LocalError::Inference(format!(
                "the record does not match the schema: {}",
                errors.join("; ")
            )));
        }
        Ok(Triage {
            record,
            confidence,
            truncated,
            generation,
        })
    }
}

/// Words that open a governing-law clause, in English, Spanish and
/// Portuguese.
const LAW_CUES: [&str; 6] = [
    "governed by",
    "governing law",
    "laws of the",
    "leyes de",
    "legislación",
    "leis d",
];

/// The sentence that names the governing law, when one does: it sits near
/// the end of a long contract, far from where the record starts.
fn law_clause(document: &str) -> Option<&str> {
    let lower = document.to_lowercase();
    let at = LAW_CUES.iter().filter_map(|cue| lower.find(cue)).min()?;
    // `to_lowercase` can change byte lengths; only use offsets that line up.
    if lower.len() != document.len() {
        return None;
    }
    let start = document[..at].rfind(['.', '\n']).map_or(0, |i| i + 1);
    let end = document[at..]
        .find(['.', '\n'])
        .map_or(document.len(), |i| at + i + 1);
    let clause = document[start..end].trim();
    Some(&clause[..clause.floor_char_boundary(300.min(clause.len()))])
}

/// `schemas/contract_triage.json` → `schemas/contract_triage.prompt.txt`.
pub fn prompt_path(schema_path: &Path) -> PathBuf {
    schema_path.with_extension("prompt.txt")
}

/// The document, cut to its head and tail when it is longer than both.
fn fit(tokenizer: &Tokenizer, document: &str, ids: &[TokenId]) -> (String, bool) {
    if ids.len() <= HEAD_TOKENS + TAIL_TOKENS {
        return (document.to_string(), false);
    }
    let head = tokenizer.decode(&ids[..HEAD_TOKENS]);
    let tail = tokenizer.decode(&ids[ids.len() - TAIL_TOKENS..]);
    (format!("{head}{SEPARATOR}{tail}"), true)
}
