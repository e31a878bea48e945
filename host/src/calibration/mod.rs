//! Calibrated confidence: per field, a map from the local model's raw
//! confidence in a value (the geometric mean of its tokens' probabilities,
//! `local::field_confidence`) to how often values with that confidence
//! were right on labelled documents.
//!
//! Where the value was read ([`Basis`]) tells what the probabilities do
//! not: a date the opening writes against one a later clause writes,
//! parties the preamble defines against names picked from the opening. So
//! the map is a logistic one (Platt scaling) over the raw confidence's
//! log-odds with a term per basis: `σ(intercept + slope · logit(raw) +
//! basis term)`. The slope is never negative: within a basis, a more
//! confident value is never calibrated lower. Fitted with a light L2
//! penalty, it needs far fewer labels than a map per basis would.
//!
//! `sluice calibrate` fits the maps ([`fit`]) against a labels file
//! ([`labels`]) and writes them beside the policy as
//! `<policy>.calibration.json`; the policy loads it with itself, so a bad
//! file refuses the policy's new version and the old one keeps serving, and
//! an edit is picked up like an edit of the policy. Answers, the audit log
//! and routers see the calibrated value beside the raw one.
//!
//! - [`fit`]: logistic regression, AUROC, expected calibration error, the
//!   reliability table.
//! - [`labels`]: the labels file and the grading of a record against it.

pub mod fit;
pub mod labels;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::local::basis::Basis;
use crate::local::triage::FieldReading;

/// The format this host writes and reads.
pub const FORMAT: &str = "sluice-calibration/2";

/// The L2 penalty on the slope and the basis terms: a weak prior that
/// keeps a basis seen a few times from taking an extreme term.
const PENALTY: f64 = 0.3;
/// Fewest labelled readings of one basis for it to get a term; rarer ones
/// are calibrated by the field's intercept and slope alone.
pub const MIN_BASIS: usize = 4;

/// One policy's calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub format: String,
    /// What it was fitted on.
    pub fitted_on: FittedOn,
    /// Per field, its map.
    pub fields: BTreeMap<String, FieldMap>,
}

/// One field's map: `σ(intercept + slope · logit(raw) + basis[b])`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    pub intercept: f64,
    /// Not negative.
    pub slope: f64,
    /// The term of each basis seen often enough; any other adds nothing.
    #[serde(default)]
    pub basis: BTreeMap<Basis, f64>,
}

impl FieldMap {
    pub fn apply(&self, basis: Option<Basis>, raw: f64) -> f64 {
        let term = basis
            .and_then(|b| self.basis.get(&b))
            .copied()
            .unwrap_or(0.0);
        fit::sigmoid(self.intercept + self.slope * fit::logit(raw) + term)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedOn {
    pub documents: usize,
    pub labels: String,
}

impl Calibration {
    /// `policies/contract-triage.toml` → `policies/contract-triage.calibration.json`.
    pub fn path_for(policy_file: &Path) -> PathBuf {
        policy_file.with_extension("calibration.json")
    }

    /// The policy file a calibration file belongs to, for a path that names one.
    pub fn policy_file(path: &Path) -> Option<PathBuf> {
        let name = path.file_name()?.to_str()?;
        let stem = name.strip_suffix(".calibration.json")?;
        Some(path.with_file_name(format!("{stem}.toml")))
    }

    /// Parse and check a calibration file's text; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Calibration, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        // The format first: an older file's shape is no error of its own.
        let format = value.get("format").and_then(serde_json::Value::as_str);
        if format != Some(FORMAT) {
            return Err(format!(
                "format {}, this host reads {FORMAT:?}",
                format.map_or("missing".to_string(), |f| format!("{f:?}"))
            ));
        }
        let calibration: Calibration = serde_json::from_value(value).map_err(|e| e.to_string())?;
        for (field, map) in &calibration.fields {
            let terms = [map.intercept, map.slope]
                .into_iter()
                .chain(map.basis.values().copied());
            if !terms.clone().all(f64::is_finite) {
                return Err(format!("field {field}: a term that is not a finite number"));
            }
            if map.slope < 0.0 {
                return Err(format!(
                    "field {field}: a negative slope would calibrate a surer value lower"
                ));
            }
        }
        Ok(calibration)
    }

    /// The calibrated confidence of `field` read on `basis` at `raw`; none
    /// when the field is not calibrated.
    pub fn apply(&self, field: &str, basis: Option<Basis>, raw: f64) -> Option<f64> {
        self.fields.get(field).map(|map| map.apply(basis, raw))
    }
}

/// One labelled reading of a field: the model's raw confidence, where the
/// value was read, and whether it was right.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub raw: f64,
    pub basis: Option<Basis>,
    pub right: bool,
}

impl Sample {
    /// A field's reading of a labelled document (none: the record has no
    /// such field, so nothing was uncertain) and whether it was right.
    pub fn of(reading: Option<&FieldReading>, right: bool) -> Sample {
        Sample {
            raw: reading.map_or(1.0, |f| f64::from(f.confidence.mean)),
            basis: reading.and_then(|f| f.basis),
            right,
        }
    }
}

/// The map fitted on `samples` of one field.
pub fn fit_field(samples: &[Sample]) -> FieldMap {
    let bases: Vec<Basis> = Basis::ALL
        .into_iter()
        .filter(|b| samples.iter().filter(|s| s.basis == Some(*b)).count() >= MIN_BASIS)
        .collect();
    let right: Vec<bool> = samples.iter().map(|s| s.right).collect();
    let rows = |with_slope: bool| -> Vec<Vec<f64>> {
        samples
            .iter()
            .map(|s| {
                let mut row = vec![1.0];
                if with_slope {
                    row.push(fit::logit(s.raw));
                }
                row.extend(
                    bases
                        .iter()
                        .map(|b| f64::from(u8::from(s.basis == Some(*b)))),
                );
                row
            })
            .collect()
    };
    // A confidence that falls as values get righter is no signal: then the
    // bases alone decide.
    let with_slope = fit::logistic(&rows(true), &right, PENALTY).filter(|w| w[1] >= 0.0);
    let (intercept, slope, terms) = match with_slope {
        Some(w) => (w[0], w[1], w[2..].to_vec()),
        None => match fit::logistic(&rows(false), &right, PENALTY) {
            Some(w) => (w[0], 0.0, w[1..].to_vec()),
            // Nothing to fit (no samples, or all of one kind the solver
            // cannot place): the observed rate, whatever the confidence.
            None => {
                let rate = right.iter().filter(|r| **r).count() as f64 / right.len().max(1) as f64;
                (fit::logit(rate), 0.0, vec![0.0; bases.len()])
            }
        },
    };
    FieldMap {
        intercept,
        slope,
        basis: bases.into_iter().zip(terms).collect(),
    }
}

/// Each sample of one field calibrated out of fold: samples alternate
/// between two folds, and each is calibrated with the map fitted on the
/// other, so no value is scored by a map fitted on it.
pub fn out_of_fold(samples: &[Sample]) -> Vec<f64> {
    let maps: [FieldMap; 2] = [1, 0].map(|other| {
        let fold: Vec<Sample> = samples
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == other)
            .map(|(_, s)| *s)
            .collect();
        fit_field(&fold)
    });
    samples
        .iter()
        .enumerate()
        .map(|(i, s)| maps[i % 2].apply(s.basis, s.raw))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calibration_file_is_checked_on_load() {
        let good = r#"{"format": "sluice-calibration/2", "fitted_on": {"documents": 4, "labels": "l.csv"},
                       "fields": {"governing_law": {"intercept": 0.5, "slope": 1.0, "basis": {"later": 1.0}}}}"#;
        let calibration = Calibration::parse(good).unwrap();
        let at = calibration.apply("governing_law", None, 0.5).unwrap();
        assert!((at - fit::sigmoid(0.5)).abs() < 1e-9, "{at}");
        let later = calibration
            .apply("governing_law", Some(Basis::Later), 0.5)
            .unwrap();
        assert!((later - fit::sigmoid(1.5)).abs() < 1e-9, "{later}");
        assert_eq!(calibration.apply("parties", None, 0.5), None);
        for (bad, says) in [
            (good.replace("/2", "/9"), "this host reads"),
            (
                r#"{"format": "sluice-calibration/1", "fields": {"parties": [[0.1, 0.2]]}}"#.into(),
                "format \"sluice-calibration/1\", this host reads \"sluice-calibration/2\"",
            ),
            (
                good.replace("\"slope\": 1.0", "\"slope\": -1.0"),
                "negative slope",
            ),
            (good.replace("\"fitted_on\"", "\"fitted\""), "unknown field"),
            (good.replace("later", "nowhere"), "unknown variant"),
            (good.replace("0.5,", "\"x\","), "invalid type"),
        ] {
            let error = Calibration::parse(&bad).unwrap_err();
            assert!(error.contains(says), "{error}");
        }
        assert_eq!(
            Calibration::policy_file(Path::new("p/contract-triage.calibration.json")),
            Some(PathBuf::from("p/contract-triage.toml"))
        );
        assert_eq!(
            Calibration::path_for(Path::new("p/contract-triage.toml")),
            PathBuf::from("p/contract-triage.calibration.json")
        );
    }

    #[test]
    fn where_a_value_was_read_moves_its_calibrated_confidence() {
        // Opening dates: right 15 times in 16 whatever the model's
        // confidence; later ones: 2 in 16; one null reading, too rare for
        // a term of its own.
        let samples: Vec<Sample> = (0..32)
            .map(|i| {
                let opening = i % 4 < 2;
                Sample {
                    raw: 0.5 + f64::from(i % 5) / 10.0,
                    basis: Some(if opening {
                        Basis::Opening
                    } else {
                        Basis::Later
                    }),
                    right: if opening { i != 0 } else { i % 8 == 3 },
                }
            })
            .chain([Sample {
                raw: 0.9,
                basis: Some(Basis::Null),
                right: true,
            }])
            .collect();
        let map = fit_field(&samples);
        assert_eq!(
            map.basis.keys().collect::<Vec<_>>(),
            [&Basis::Opening, &Basis::Later]
        );
        assert!(map.slope >= 0.0);
        assert!(map.apply(Some(Basis::Opening), 0.7) > 0.8);
        assert!(map.apply(Some(Basis::Later), 0.7) < 0.3);
        let field = map.apply(Some(Basis::Null), 0.7);
        assert_eq!(field, map.apply(None, 0.7));
        assert!(
            field > map.apply(Some(Basis::Later), 0.7)
                && field < map.apply(Some(Basis::Opening), 0.7)
        );
        let out = out_of_fold(&samples);
        assert_eq!(out.len(), samples.len());
        assert!(out.iter().all(|c| (0.0..=1.0).contains(c)));
    }

    #[test]
    fn a_confidence_that_tells_right_from_wrong_gets_a_slope() {
        let samples: Vec<Sample> = (0..40)
            .map(|i| Sample {
                raw: f64::from(i) / 40.0,
                basis: None,
                right: i >= 20,
            })
            .collect();
        let map = fit_field(&samples);
        assert!(map.slope > 1.0, "{map:?}");
        assert!(map.apply(None, 0.9) > 0.8 && map.apply(None, 0.1) < 0.2);
        // Falling with the confidence: no slope, the rate alone.
        let inverted: Vec<Sample> = samples
            .iter()
            .map(|s| Sample {
                right: !s.right,
                ..*s
            })
            .collect();
        let map = fit_field(&inverted);
        assert_eq!(map.slope, 0.0);
        assert!((map.apply(None, 0.9) - 0.5).abs() < 0.05, "{map:?}");
        assert!(fit_field(&[]).intercept.is_finite());
    }
}
