//! E-mail addresses and IPv6 addresses, found from their separators (`@`,
//! `:`) outward. IPv4 addresses are digit groups (see `numbers`).

use crate::strength::CHECKED;
use crate::text::Text;
use crate::{Finding, Kind};

fn local_part(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-'".contains(&b)
}

fn domain_part(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b".-".contains(&b)
}

pub fn find(text: &Text, out: &mut Vec<Finding>) {
    let bytes = text.src.as_bytes();
    for at in memchr_all(text.src, '@') {
        let mut start = at;
        while start > 0 && local_part(bytes[start - 1]) {
            start -= 1;
        }
        while start < at && bytes[start] == b'.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && domain_part(bytes[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &text.src[at + 1..end];
        let tld_ok = domain
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
        if start < at && domain.contains('.') && tld_ok {
            out.push(Finding {
                start,
                end,
                kind: Kind::Email,
                confidence: 0.99,
                strength: CHECKED,
            });
        }
    }
    // IPv6: around each colon, a run of hex digits and colons with at least two colons that parses.
    let mut scanned = 0;
    for colon in memchr_all(text.src, ':') {
        if colon < scanned {
            continue;
        }
        let ipv6_byte = |b: u8| b == b':' || b == b'.' || b.is_ascii_hexdigit();
        let mut start = colon;
        while start > 0 && ipv6_byte(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = colon;
        while end < bytes.len() && ipv6_byte(bytes[end]) {
            end += 1;
        }
        scanned = end;
        let candidate = text.src[start..end].trim_end_matches('.');
        let bounded = (start == 0 || !bytes[start - 1].is_ascii_alphanumeric())
            && (end == bytes.len() || !bytes[end].is_ascii_alphanumeric());
        if bounded
            && candidate.matches(':').count() >= 2
            && candidate.parse::<std::net::Ipv6Addr>().is_ok()
        {
            out.push(Finding {
                start,
                end: start + candidate.len(),
                kind: Kind::IpAddress,
                confidence: 0.95,
                strength: CHECKED,
            });
        }
    }
}

/// Every offset of the ASCII character `needle`, found by the standard
/// library's word-at-a-time search.
fn memchr_all(src: &str, needle: char) -> impl Iterator<Item = usize> + '_ {
    let mut from = 0;
    std::iter::from_fn(move || {
        let at = from + src[from..].find(needle)?;
        from = at + 1;
        Some(at)
    })
}

#[cfg(test)]
mod tests {
    use crate::{Kind, Options, detect};

    #[test]
    fn emails_and_ipv6() {
        let s = "escribir a del-rioeduardo@example.org. o LeaVLind@superrito.com; host d894:62e8:9580:1c3a:2932:a212:214c:a4d y 37.122.178.243";
        let got: Vec<(&str, Kind)> = detect(s, "es", &Options::default())
            .into_iter()
            .map(|f| (&s[f.start..f.end], f.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("del-rioeduardo@example.org", Kind::Email),
                ("LeaVLind@superrito.com", Kind::Email),
                ("d894:62e8:9580:1c3a:2932:a212:214c:a4d", Kind::IpAddress),
                ("37.122.178.243", Kind::IpAddress),
            ]
        );
        assert!(detect("a las 10:30:15 horas", "es", &Options::default()).is_empty());
    }
}
