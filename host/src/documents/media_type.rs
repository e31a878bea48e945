//! Which kind of document a file is: the media type the caller declared,
//! else the one its first bytes show. A file name alone never decides.

/// Office Open XML word-processing documents (`.docx`).
pub const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
pub const PDF: &str = "application/pdf";
pub const EMAIL: &str = "message/rfc822";
pub const HTML: &str = "text/html";
pub const TEXT: &str = "text/plain";

/// Declared types that say nothing about the content: sniffed instead.
const GENERIC: &[&str] = &[
    "application/octet-stream",
    "binary/octet-stream",
    "application/x-download",
];

/// A declared media type without its parameters, lowercase; `None` when
/// it is not `type/subtype` or says nothing (`application/octet-stream`).
pub fn declared(media_type: &str) -> Option<String> {
    let essence = media_type.split(';').next()?.trim().to_ascii_lowercase();
    let well_formed = essence
        .split_once('/')
        .is_some_and(|(kind, sub)| !kind.is_empty() && !sub.is_empty());
    (well_formed && !GENERIC.contains(&essence.as_str())).then_some(essence)
}

/// The media type of `bytes` from their first bytes: PDF, DOCX (a zip whose
/// first entry belongs to a Word document), HTML, an e-mail (its first
/// line a header), else plain text when they are UTF-8.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let head = &body[start..body.len().min(start + 1024)];
    if bytes.starts_with(b"%PDF-") {
        return Some(PDF);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        let window = &bytes[..bytes.len().min(64 << 10)];
        let word = [&b"word/"[..], b"[Content_Types].xml"]
            .iter()
            .any(|name| contains(window, name));
        return word.then_some(DOCX);
    }
    let lower = head.to_ascii_lowercase();
    if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
        return Some(HTML);
    }
    if looks_like_email(body) {
        return Some(EMAIL);
    }
    std::str::from_utf8(bytes).is_ok().then_some(TEXT)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// An mbox `From ` line, or a first line that is one of the headers every
/// message carries near its top, followed by more header lines.
fn looks_like_email(bytes: &[u8]) -> bool {
    const HEADERS: &[&str] = &[
        "return-path",
        "received",
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "delivered-to",
        "x-",
        "reply-to",
        "sender",
        "cc",
        "content-type",
    ];
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let mut lines = text.lines();
    let Some(first) = lines.next() else {
        return false;
    };
    if first.starts_with("From ") {
        return true;
    }
    let header = |line: &str| {
        line.split_once(':').is_some_and(|(name, _)| {
            let name = name.to_ascii_lowercase();
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && HEADERS
                    .iter()
                    .any(|h| name == *h || (h.ends_with('-') && name.starts_with(h)))
        })
    };
    header(first) && lines.take(8).filter(|l| header(l)).count() >= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_drop_parameters_and_generic_ones_are_sniffed() {
        assert_eq!(
            declared("Application/PDF; name=x.pdf").as_deref(),
            Some(PDF)
        );
        assert_eq!(declared("application/octet-stream"), None);
        assert_eq!(declared(" "), None);
        assert_eq!(declared("pdf"), None);
    }

    #[test]
    fn sniffs_each_kind_from_its_first_bytes() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some(PDF));
        assert_eq!(sniff(b"\xEF\xBB\xBF  <!DOCTYPE html><p>x"), Some(HTML));
        assert_eq!(sniff(b"<html lang=es>"), Some(HTML));
        assert_eq!(
            sniff(b"Return-Path: <a@b.co>\nReceived: by x\nSubject: hola\n\nbody"),
            Some(EMAIL)
        );
        assert_eq!(sniff(b"From: a@b.co\nTo: c@d.co\n\nhola"), Some(EMAIL));
        // A contract that opens with a heading and a colon is not an e-mail.
        assert_eq!(sniff(b"CONTRATO: suministro\nEntre las partes"), Some(TEXT));
        assert_eq!(
            sniff(b"PK\x03\x04....[Content_Types].xml....word/document.xml"),
            Some(DOCX)
        );
        assert_eq!(sniff(b"PK\x03\x04....just/a/zip.bin"), None);
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00]), None);
    }
}
