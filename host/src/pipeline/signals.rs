//! What routers and mergers see of a local answer besides the record: each
//! field's confidence (calibrated where the policy has a calibration) and
//! whether the document holds it, and features of the document itself.

use serde_json::Value;

use crate::pipeline::stages::LocalAnswer;
use crate::plugins::contract::{DocumentFeatures, FieldSignal};

/// One signal per field of the record the local model read.
pub fn fields(answer: &LocalAnswer) -> Vec<FieldSignal> {
    answer
        .fields
        .iter()
        .map(|(name, reading)| FieldSignal {
            name: name.clone(),
            confidence: reading
                .calibrated
                .unwrap_or(f64::from(reading.confidence.mean)) as f32,
            calibrated: reading.calibrated.is_some(),
            evidence: reading.evidence.is_some(),
        })
        .collect()
}

/// The document's features, for a record read under a schema.
pub fn document(answer: &LocalAnswer) -> Option<DocumentFeatures> {
    let record = answer.value.as_object()?;
    let found = &answer.provisions;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Some(DocumentFeatures {
        clauses: count(found.clauses),
        parties: count(
            record
                .get("parties")
                .and_then(Value::as_array)
                .map_or(0, Vec::len),
        ),
        governing_laws: count(found.governing_laws()),
        clause_kinds: found.kinds.keys().cloned().collect(),
        risk_flags: found.missing.clone(),
    })
}
