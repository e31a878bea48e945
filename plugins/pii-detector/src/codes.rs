//! Letter-and-digit codes: Mexican CURP (check digit) and RFC (structure and
//! homoclave), and IBANs (mod 97), written whole or in groups of four.

use crate::checksum;
use crate::strength::{CHECKED, STRUCTURE};
use crate::text::{Class, Text};
use crate::{Finding, Kind};

pub fn find(text: &Text, out: &mut Vec<Finding>) {
    let n = text.tokens.len();
    for t in 0..n {
        let tok = text.tokens[t];
        if tok.class != Class::Alnum || !text.str(t).starts_with(|c: char| c.is_ascii_uppercase()) {
            continue;
        }
        let s = text.str(t);
        let mut push = |end: usize, kind, confidence, strength| {
            out.push(Finding {
                start: tok.start(),
                end,
                kind,
                confidence,
                strength,
            });
        };
        match s.len() {
            18 if checksum::curp(s) => push(tok.end(), Kind::NationalId, 0.99, CHECKED),
            18 if s.is_ascii()
                && checksum::yymmdd(&s[4..10])
                && s[..4].bytes().all(|b| b.is_ascii_uppercase()) =>
            {
                // The shape of a CURP whose check digit fails: a typo of one.
                push(tok.end(), Kind::NationalId, 0.75, STRUCTURE)
            }
            12 | 13 if s.is_ascii() => match checksum::rfc(s) {
                Some(true) => push(tok.end(), Kind::TaxId, 0.97, CHECKED),
                Some(false) => push(tok.end(), Kind::TaxId, 0.85, STRUCTURE),
                None => {}
            },
            _ => {}
        }
        // IBAN, whole (`CO21RTTX9404389836403`) or grouped (`GB82 WEST 1234 5698 7654 32`).
        let b = s.as_bytes();
        if b.len() >= 4
            && b[..2].iter().all(u8::is_ascii_uppercase)
            && b[2..4].iter().all(u8::is_ascii_digit)
        {
            let mut end_tok = t;
            let mut compact = s.to_string();
            while compact.len() < 34
                && text.is_gap(end_tok + 1)
                && matches!(
                    text.class(end_tok + 2),
                    Some(Class::Alnum | Class::Number | Class::Word)
                )
                && text.str(end_tok + 2).len() <= 4
                && text
                    .str(end_tok + 2)
                    .bytes()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            {
                compact.push_str(text.str(end_tok + 2));
                end_tok += 2;
            }
            // The longest prefix of groups that validates.
            while end_tok > t && !checksum::iban(&compact) {
                compact.truncate(compact.len() - text.str(end_tok).len());
                end_tok -= 2;
            }
            if checksum::iban(&compact) {
                out.push(Finding {
                    start: tok.start(),
                    end: text.tokens[end_tok].end(),
                    kind: Kind::BankAccount,
                    confidence: 0.99,
                    strength: CHECKED,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Kind, found};

    #[test]
    fn curp_rfc_iban() {
        assert_eq!(
            found("CURP LEMX800125HCMZZJ01,"),
            vec![("LEMX800125HCMZZJ01", Kind::NationalId)]
        );
        assert_eq!(
            found("RFC QAMU220426HFJ)"),
            vec![("QAMU220426HFJ", Kind::TaxId)]
        );
        assert_eq!(
            found("IBAN GB82 WEST 1234 5698 7654 32 ok"),
            vec![("GB82 WEST 1234 5698 7654 32", Kind::BankAccount)]
        );
        assert_eq!(
            found("cuenta CO21RTTX9404389836403."),
            vec![("CO21RTTX9404389836403", Kind::BankAccount)]
        );
        assert!(found("modelo XK1234567890Z").is_empty());
    }
}
