//! One request's mapping between personal values and placeholders. It lives
//! in memory for the request only; dropping it overwrites every value it held
//! (`zeroize`), so nothing sensitive lingers in freed memory.
//!
//! Credentials (`[SECRET_N]`) are masked like any value but, unless the
//! policy says otherwise, never restored: a key the cloud saw only as a
//! placeholder is not put back into an answer that the client may log,
//! store or show. The placeholder stays in the answer instead.

use std::collections::HashMap;

use zeroize::{Zeroize, Zeroizing};

use crate::privacy::placeholder::{self, Kind};

#[derive(Default)]
pub struct Vault {
    /// placeholder → the kind and original value
    originals: HashMap<String, (Kind, Zeroizing<String>)>,
    /// (kind label, original value) → placeholder; wiped on drop
    issued: HashMap<(&'static str, String), String>,
    /// values issued per kind, for numbering
    counts: HashMap<&'static str, usize>,
    longest: usize,
    /// Whether `original` gives back credentials.
    restore_secrets: bool,
}

impl Vault {
    pub fn new() -> Vault {
        Vault::default()
    }

    /// A vault that restores credentials too (a policy's `restore_secrets`).
    pub fn restoring_secrets(mut self, restore: bool) -> Vault {
        self.restore_secrets = restore;
        self
    }

    /// The placeholder for `value`: the same one every time within this vault.
    pub fn pseudonymise(&mut self, kind: impl Into<Kind>, value: &str) -> String {
        let kind = kind.into();
        let label = placeholder::label(kind);
        let key = (label, value.to_string());
        if let Some(p) = self.issued.get(&key) {
            return p.clone();
        }
        let n = self.counts.entry(label).or_default();
        *n += 1;
        let p = placeholder::format(kind, *n);
        self.longest = self.longest.max(p.len());
        self.originals
            .insert(p.clone(), (kind, Zeroizing::new(value.to_string())));
        self.issued.insert(key, p.clone());
        p
    }

    /// The value behind a placeholder this vault issued and may restore.
    pub fn original(&self, placeholder: &str) -> Option<&str> {
        let secret = placeholder
            .strip_prefix('[')
            .is_some_and(|p| p.starts_with(placeholder::SECRET) && p[6..].starts_with('_'));
        if secret && !self.restore_secrets {
            return None;
        }
        self.originals.get(placeholder).map(|(_, v)| v.as_str())
    }

    /// Length in bytes of the longest placeholder issued (0 when none).
    pub fn longest_placeholder(&self) -> usize {
        self.longest
    }

    pub fn len(&self) -> usize {
        self.originals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.originals.is_empty()
    }

    /// Placeholders issued per kind label (`PERSON`: 2), for the audit log:
    /// counts, never values.
    pub fn counts_by_kind(&self) -> std::collections::BTreeMap<String, u32> {
        self.counts
            .iter()
            .map(|(label, n)| (label.to_lowercase(), *n as u32))
            .collect()
    }

    /// The values this vault holds, for checking that none of them leaves.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.originals.values().map(|(_, v)| v.as_str())
    }

    /// Where `text` holds a value this vault already masked (any ASCII
    /// case), with its kind: a name the detector found once, or a schema
    /// marked whole, is masked wherever else it appears. Values shorter than
    /// four bytes are left to the detector.
    pub fn known_in(&self, text: &str) -> Vec<(usize, usize, Kind)> {
        let haystack = text.to_ascii_lowercase();
        let mut found = Vec::new();
        for (kind, value) in self.originals.values() {
            if value.len() < 4 {
                continue;
            }
            let needle = value.to_ascii_lowercase();
            let mut from = 0;
            while let Some(at) = haystack[from..].find(needle.as_str()) {
                let start = from + at;
                found.push((start, start + needle.len(), *kind));
                from = start + needle.len();
            }
        }
        found
    }
}

impl Drop for Vault {
    fn drop(&mut self) {
        for ((_, mut value), _) in self.issued.drain() {
            value.zeroize();
        }
        // `originals` holds `Zeroizing` values, wiped as they drop.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::contract::PiiKind;

    #[test]
    fn secrets_are_restored_only_when_asked() {
        let mut v = Vault::new();
        let p = v.pseudonymise(Kind::Secret, "ghp_abc");
        assert_eq!(p, "[SECRET_1]");
        assert_eq!(v.original(&p), None);
        assert_eq!(v.values().collect::<Vec<_>>(), ["ghp_abc"]);
        let mut v = Vault::new().restoring_secrets(true);
        let p = v.pseudonymise(Kind::Secret, "ghp_abc");
        assert_eq!(v.original(&p), Some("ghp_abc"));
    }

    #[test]
    fn same_value_same_placeholder_and_numbering_per_kind() {
        let mut v = Vault::new();
        assert_eq!(v.pseudonymise(PiiKind::Person, "Ana"), "[PERSON_1]");
        assert_eq!(v.pseudonymise(PiiKind::Person, "Luis"), "[PERSON_2]");
        assert_eq!(v.pseudonymise(PiiKind::Person, "Ana"), "[PERSON_1]");
        assert_eq!(v.pseudonymise(PiiKind::TaxId, "900123456-7"), "[TAX_ID_1]");
        assert_eq!(v.original("[PERSON_2]"), Some("Luis"));
        assert_eq!(v.original("[PERSON_3]"), None);
        assert_eq!(v.longest_placeholder(), "[PERSON_1]".len());
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn values_already_masked_are_found_again_in_any_case() {
        let mut v = Vault::new();
        v.pseudonymise(PiiKind::Organisation, "Accuray Incorporated");
        v.pseudonymise(PiiKind::Person, "Ana");
        let text = "ACCURAY INCORPORATED and Accuray Incorporated; Ana is too short to trust.";
        let mut found = v.known_in(text);
        found.sort_by_key(|f| f.0);
        let kind = Kind::Pii(PiiKind::Organisation);
        assert_eq!(found, [(0, 20, kind), (25, 45, kind)]);
    }
}
