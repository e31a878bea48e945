//! Placeholders: `[KIND_N]`, the kind in capitals and a number that counts
//! values of that kind within one request (`[PERSON_1]`, `[TAX_ID_2]`,
//! `[SECRET_1]`).

use crate::plugins::contract::PiiKind;

/// What a placeholder stands for: personal data of one of the contract's
/// kinds, or a credential, which the host finds itself (`secrets`) and
/// which the contract's `pii-kind` has no case for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pii(PiiKind),
    Secret,
}

impl From<PiiKind> for Kind {
    fn from(kind: PiiKind) -> Kind {
        Kind::Pii(kind)
    }
}

/// The label of a kind inside a placeholder.
pub fn label(kind: impl Into<Kind>) -> &'static str {
    let kind = match kind.into() {
        Kind::Secret => return SECRET,
        Kind::Pii(kind) => kind,
    };
    match kind {
        PiiKind::Person => "PERSON",
        PiiKind::Organisation => "ORGANISATION",
        PiiKind::Email => "EMAIL",
        PiiKind::Phone => "PHONE",
        PiiKind::NationalId => "NATIONAL_ID",
        PiiKind::TaxId => "TAX_ID",
        PiiKind::BankAccount => "BANK_ACCOUNT",
        PiiKind::Card => "CARD",
        PiiKind::Address => "ADDRESS",
        PiiKind::Date => "DATE",
        PiiKind::IpAddress => "IP_ADDRESS",
        PiiKind::Other => "OTHER",
    }
}

/// The label of credentials: `[SECRET_1]`.
pub const SECRET: &str = "SECRET";

/// The kind a schema mark names (`"x-sluice-pii": "person"`), in the
/// contract's spelling, or `secret`.
pub fn kind_named(name: &str) -> Option<Kind> {
    if name == "secret" {
        return Some(Kind::Secret);
    }
    Some(Kind::Pii(match name {
        "person" => PiiKind::Person,
        "organisation" | "organization" => PiiKind::Organisation,
        "email" => PiiKind::Email,
        "phone" => PiiKind::Phone,
        "national-id" => PiiKind::NationalId,
        "tax-id" => PiiKind::TaxId,
        "bank-account" => PiiKind::BankAccount,
        "card" => PiiKind::Card,
        "address" => PiiKind::Address,
        "date" => PiiKind::Date,
        "ip-address" => PiiKind::IpAddress,
        "other" => PiiKind::Other,
        _ => return None,
    }))
}

pub fn format(kind: impl Into<Kind>, n: usize) -> String {
    format!("[{}_{n}]", label(kind))
}

/// The length of a placeholder-shaped token at the start of `s`
/// (`[`, capitals and underscores, `_`, digits, `]`), whether or not any
/// vault issued it.
pub fn shaped_len(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let mut i = 1;
    while i < s.len() && (s[i].is_ascii_uppercase() || s[i] == b'_') {
        i += 1;
    }
    let letters = i - 1;
    let digits_start = i;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    let shaped =
        letters >= 2 && s[digits_start - 1] == b'_' && i > digits_start && s.get(i) == Some(&b']');
    shaped.then_some(i + 1)
}

/// Whether `s` could still grow into a placeholder: `[`, then capitals and
/// underscores, then digits, with no `]` yet.
pub fn could_start(s: &[u8]) -> bool {
    if s.first() != Some(&b'[') {
        return false;
    }
    let mut digits = false;
    for &b in &s[1..] {
        match b {
            b'A'..=b'Z' | b'_' if !digits => {}
            b'0'..=b'9' => digits = true,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(format(PiiKind::TaxId, 2), "[TAX_ID_2]");
        assert_eq!(shaped_len(b"[TAX_ID_2] rest"), Some(10));
        assert_eq!(shaped_len(b"[PERSON 1]"), None);
        assert_eq!(shaped_len(b"[PERSON_]"), None);
        assert!(could_start(b"[PERS"));
        assert!(could_start(b"[PERSON_1"));
        assert!(!could_start(b"[PERSON_1]"));
        assert!(!could_start(b"[a"));
        assert_eq!(
            kind_named("national-id"),
            Some(Kind::Pii(PiiKind::NationalId))
        );
        assert_eq!(kind_named("secret"), Some(Kind::Secret));
        assert_eq!(kind_named("shoe-size"), None);
    }
}
