//! Calibrated confidence: per field, a monotone map from the local model's
//! raw confidence in a value (the geometric mean of its tokens'
//! probabilities, `local::field_confidence`) to how often values with that
//! confidence were right on labelled documents.
//!
//! `sluice calibrate` fits the maps (isotonic regression, [`fit`]) against a
//! labels file ([`labels`]) and writes them beside the policy as
//! `<policy>.calibration.json`; the policy loads it with itself, so a bad
//! file refuses the policy's new version and the old one keeps serving, and
//! an edit is picked up like an edit of the policy. Answers, the audit log
//! and routers see the calibrated value beside the raw one.
//!
//! - [`fit`]: the isotonic fit, AUROC, expected calibration error, the
//!   reliability table.
//! - [`labels`]: the labels file and the grading of a record against it.

pub mod fit;
pub mod labels;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The format this host writes and reads.
pub const FORMAT: &str = "sluice-calibration/1";

/// One policy's calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub format: String,
    /// What it was fitted on.
    pub fitted_on: FittedOn,
    /// Per field: `(raw confidence, calibrated)` breakpoints, raw strictly
    /// increasing, calibrated non-decreasing, both in [0, 1]; between them
    /// the map is linear, beyond them flat.
    pub fields: BTreeMap<String, Vec<(f64, f64)>>,
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
        let calibration: Calibration = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if calibration.format != FORMAT {
            return Err(format!(
                "format {:?}, this host reads {FORMAT:?}",
                calibration.format
            ));
        }
        for (field, points) in &calibration.fields {
            if points.is_empty() {
                return Err(format!("field {field}: no points"));
            }
            let in_range = |v: f64| (0.0..=1.0).contains(&v);
            if !points.iter().all(|&(x, y)| in_range(x) && in_range(y)) {
                return Err(format!("field {field}: a point outside [0, 1]"));
            }
            if !points
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
            {
                return Err(format!(
                    "field {field}: points must rise (raw strictly, calibrated not falling)"
                ));
            }
        }
        Ok(calibration)
    }

    /// The calibrated confidence of `field` at `raw`, if it is calibrated.
    pub fn apply(&self, field: &str, raw: f64) -> Option<f64> {
        self.fields.get(field).map(|points| fit::apply(points, raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calibration_file_is_checked_on_load() {
        let good = r#"{"format": "sluice-calibration/1", "fitted_on": {"documents": 4, "labels": "l.csv"},
                       "fields": {"governing_law": [[0.2, 0.1], [0.9, 0.8]]}}"#;
        let calibration = Calibration::parse(good).unwrap();
        let at = calibration.apply("governing_law", 0.55).unwrap();
        assert!((at - 0.45).abs() < 1e-9, "{at}");
        assert_eq!(calibration.apply("parties", 0.5), None);
        for (bad, says) in [
            (good.replace("/1", "/9"), "this host reads"),
            (good.replace("[0.9, 0.8]", "[0.1, 0.8]"), "must rise"),
            (good.replace("0.8]", "1.8]"), "outside [0, 1]"),
            (good.replace("\"fitted_on\"", "\"fitted\""), "unknown field"),
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
}
