//! `test-anonymiser`: a deliberately small detector (e-mail addresses and long
//! digit runs) that exercises the `anonymiser` world in tests. It is not the
//! production PII detector.
//!
//! Settings: `min_digits` (default 6): the shortest digit run reported as an id.

wit_bindgen::generate!({ path: "../../wit", world: "anonymiser" });

use exports::sluice::policy::detection::Guest;
use sluice::policy::host::config;
use sluice::policy::types::{PiiKind, Span};

struct Detector;

fn is_email_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-".contains(&b)
}

impl Guest for Detector {
    fn detect(text: String, _lang: String) -> Vec<Span> {
        let min_digits: usize = config("min_digits")
            .and_then(|v| v.parse().ok())
            .unwrap_or(6);
        let bytes = text.as_bytes();
        let mut spans = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'@' {
                let mut start = i;
                while start > 0 && is_email_char(bytes[start - 1]) {
                    start -= 1;
                }
                let mut end = i + 1;
                while end < bytes.len() && is_email_char(bytes[end]) {
                    end += 1;
                }
                while end > i + 1 && bytes[end - 1] == b'.' {
                    end -= 1;
                }
                if start < i && text[i + 1..end].contains('.') {
                    spans.retain(|s: &Span| (s.end as usize) <= start);
                    spans.push(Span {
                        start: start as u32,
                        end: end as u32,
                        kind: PiiKind::Email,
                        confidence: 0.99,
                    });
                    i = end;
                    continue;
                }
            }
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_digit()
                        || (bytes[i] == b'.'
                            && i + 1 < bytes.len()
                            && bytes[i + 1].is_ascii_digit()))
                {
                    i += 1;
                }
                let digits = text[start..i].bytes().filter(u8::is_ascii_digit).count();
                if digits >= min_digits {
                    spans.push(Span {
                        start: start as u32,
                        end: i as u32,
                        kind: PiiKind::NationalId,
                        confidence: 0.8,
                    });
                }
                continue;
            }
            i += 1;
        }
        spans
    }
}

export!(Detector);
