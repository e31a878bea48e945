//! The contract-triage stage: a contract in, a record valid under
//! `schemas/contract_triage.json` out, read by the local model with a
//! few-shot prompt (the embedded model is a base model, not an instruction
//! follower) and held to the schema while decoding.
//!
//! A long document is read clause by clause: cut into passages
//! ([`clauses`]), the model reads its opening lines and, for each field
//! whose schema property declares cue phrases, the passages that rank best
//! for them ([`evidence`]), within [`DOCUMENT_TOKENS`]. The prompt may quote
//! a field's clause where it says `{evidence.<field>}`. Each value of the
//! record comes back with its confidence ([`field_confidence`]) and the
//! passage it was read from. Which kinds of clause the contract holds is
//! found by the host in every passage ([`provisions`]), and a property the
//! schema computes from them (the missing-clause flags) is filled from that,
//! not by the model.
//!
//! [`clauses`]: super::clauses
//! [`evidence`]: super::evidence
//! [`field_confidence`]: super::field_confidence
//! [`provisions`]: super::provisions

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::LocalError;
use super::basis::{Basis, Searched};
use super::candidates::Candidates;
use super::clauses;
use super::evidence::{self, Cues, Evidence, Selection};
use super::field_confidence::{self, FieldConfidence};
use super::furniture;
use super::generate::{FinishReason, GenerateRequest, Generation};
use super::provisions::{Found, Provisions};
use super::tokenizer::Tokenizer;

/// Document tokens the model reads of a long document.
pub const DOCUMENT_TOKENS: usize = 832;
/// Of those, the opening lines' share (title, parties, dates).
const OPENING_BUDGET: usize = 480;
/// Enough for the record with four parties and six flags.
const MAX_TOKENS: usize = 400;
const SEPARATOR: &str = "\n[...]\n";
/// The contract's opening (title, parties), repeated where the prompt says
/// `{opening}`, close to where the record starts.
const OPENING_TOKENS: usize = 96;
/// Longest clause quoted where the prompt says `{evidence.<field>}`.
const QUOTE_BYTES: usize = 300;

pub struct TriageStage {
    schema: Value,
    validator: Arc<jsonschema::Validator>,
    prompt: String,
    cues: Vec<Cues>,
    provisions: Provisions,
    candidates: Candidates,
}

impl std::fmt::Debug for TriageStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TriageStage").finish_non_exhaustive()
    }
}

/// A contract made ready for the model.
pub struct Prepared {
    pub request: GenerateRequest,
    /// What the model reads of it; handed back to [`TriageStage::finish`].
    pub reading: Reading,
    /// Tokens in the whole contract.
    pub document_tokens: usize,
}

/// What the model was given to read of a document, kept to point each
/// value back at where it was read.
#[derive(Debug, Clone)]
pub struct Reading {
    /// The document with its page furniture blanked: the same offsets.
    plain: String,
    /// The top-level fields held to the values the preamble defines.
    defined: BTreeSet<String>,
    selection: Selection,
    /// The kinds of clause found in the whole document.
    found: Found,
    /// Whether the document was longer than the model reads.
    pub truncated: bool,
}

/// One field of the record: how sure the model was, and where it read it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldReading {
    pub confidence: FieldConfidence,
    /// Where the value was read (none for numbers and booleans).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<Basis>,
    /// `confidence.mean` through the policy's calibration, when it has one
    /// for this field (and basis): how often such values were right on
    /// labelled data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibrated: Option<f64>,
    pub evidence: Option<Evidence>,
}

/// The stage's answer.
#[derive(Debug, Clone)]
pub struct Triage {
    /// The record, `confidence_score` filled in, validated.
    pub record: Value,
    /// The record's `confidence_score` (see [`super::generate::confidence`]).
    pub confidence: f64,
    /// Per top-level field of the record.
    pub fields: BTreeMap<String, FieldReading>,
    /// The kinds of clause the whole contract holds, and where.
    pub provisions: Found,
    /// Per field with cue phrases, the passages that rank best for it, best first.
    pub ranked: BTreeMap<String, Vec<Evidence>>,
    /// Whether the contract was longer than the model reads.
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
            cues: evidence::cues(&schema),
            provisions: Provisions::from_schema(&schema)?,
            candidates: Candidates::from_schema(&schema)?,
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
        let document = full.trim();
        let ids = tokenizer.encode(document);
        let passages = clauses::split(document);
        let found = self.provisions.find(document, &passages);
        let truncated = ids.len() > DOCUMENT_TOKENS;
        let pinned = self.candidates.pinned(document, &passages, &found);
        let selection = if truncated {
            evidence::select(
                document,
                &passages,
                &self.cues,
                &pinned,
                DOCUMENT_TOKENS,
                OPENING_BUDGET,
                |text| tokenizer.encode(text).len(),
            )
        } else {
            Selection::whole(document, passages, &self.cues, &pinned)
        };
        let read = if truncated {
            selection.text(document, SEPARATOR)
        } else {
            document.to_string()
        };
        let opening = tokenizer.decode(&ids[..ids.len().min(OPENING_TOKENS)]);
        let mut prompt = self.prompt.replace("{opening}", opening.trim());
        for cues in &self.cues {
            let placeholder = format!("{{evidence.{}}}", cues.field);
            if prompt.contains(&placeholder) {
                let quoted = evidence::quote(document, &selection, cues, QUOTE_BYTES);
                prompt = prompt.replace(&placeholder, quoted.unwrap_or("(none found)"));
            }
        }
        let prompt = prompt.replace("{document}", read.trim());
        let plain = furniture::blank(document).into_owned();
        let offered = self.candidates.find(&plain, &selection, &found);
        // Fields held to what the preamble defines, by their top-level name.
        let defined = offered
            .iter()
            .filter(|(_, offer)| offer.complete)
            .filter_map(|(field, _)| field.split('/').next())
            .map(str::to_string)
            .collect();
        let mut request = GenerateRequest::new(prompt);
        request.schema = Some(Candidates::narrow(&self.schema, &offered));
        request.max_tokens = MAX_TOKENS;
        Prepared {
            request,
            reading: Reading {
                plain,
                defined,
                selection,
                found,
                truncated,
            },
            document_tokens: ids.len(),
        }
    }

    /// Whether the record is the generated JSON as the model wrote it: the
    /// schema has no property the host fills or rewrites afterwards
    /// (`x-sluice-computed`, `confidence_score`, `risk_flags`), so the text
    /// can reach the caller as it is made.
    pub fn writes_as_generated(&self) -> bool {
        self.schema["properties"]
            .as_object()
            .is_none_or(|properties| {
                properties.iter().all(|(name, property)| {
                    name != "confidence_score"
                        && name != "risk_flags"
                        && property.get(super::constraint::COMPUTED).is_none()
                })
            })
    }

    /// Turn the generation into the validated record, each field with its
    /// confidence and evidence.
    pub fn finish(&self, generation: Generation, reading: Reading) -> Result<Triage, LocalError> {
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
        self.provisions.fill(&mut record, &reading.found);
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
        let confidences = field_confidence::per_field(&generation.text, &generation.tokens);
        let searched = Searched::new(&reading.plain);
        let fields = record
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(field, value)| {
                Some((
                    field.clone(),
                    FieldReading {
                        confidence: *confidences.get(field)?,
                        basis: Basis::of(&searched, value, reading.defined.contains(field)),
                        calibrated: None,
                        evidence: evidence::locate(
                            &reading.plain,
                            &reading.selection,
                            field,
                            value,
                        ),
                    },
                ))
            })
            .collect();
        Ok(Triage {
            record,
            confidence,
            fields,
            ranked: reading
                .selection
                .ranked
                .iter()
                .map(|(field, best)| {
                    let passages = &reading.selection.passages;
                    (
                        field.clone(),
                        best.iter().map(|&i| (&passages[i]).into()).collect(),
                    )
                })
                .collect(),
            provisions: reading.found,
            truncated: reading.truncated,
            generation,
        })
    }
}

/// `schemas/contract_triage.json` → `schemas/contract_triage.prompt.txt`.
pub fn prompt_path(schema_path: &Path) -> PathBuf {
    schema_path.with_extension("prompt.txt")
}
