//! Digit groups: runs of numbers joined by `.`, `-`, `/`, single spaces and
//! parentheses (`(601) 325 3530`, `621.084.002-73`, `+57 310 432 6542`),
//! classified by check digits first, then by shape, then by the words before
//! them.

use crate::checksum;
use crate::dates;
use crate::lexicon::list;
use crate::strength::{CHECKED, CONTEXT, EXACT_SHAPE, SHAPE, STRUCTURE};
use crate::text::{Class, Text};
use crate::{Finding, Kind};

/// One run of digit groups.
struct Chain<'a> {
    start: usize,
    end: usize,
    /// First token of the chain (for the words before it).
    first: usize,
    /// Last token of the chain.
    last: usize,
    /// The text as written.
    s: &'a str,
    /// The digit groups.
    groups: Vec<&'a str>,
    /// The separator before each group after the first.
    seps: Vec<char>,
    plus: bool,
    paren: bool,
}

impl Chain<'_> {
    fn digits(&self) -> usize {
        self.groups.iter().map(|g| g.len()).sum()
    }

    /// The lengths of the groups.
    fn shape(&self) -> impl Iterator<Item = usize> + '_ {
        self.groups.iter().map(|g| g.len())
    }

    fn shape_is(&self, lengths: &[usize]) -> bool {
        self.shape().eq(lengths.iter().copied())
    }

    fn seps_are(&self, expected: &str) -> bool {
        self.seps.iter().copied().eq(expected.chars())
    }
}

pub fn find(text: &Text, out: &mut Vec<Finding>) {
    let mut t = 0;
    // The groups and separators of one chain, reused for the next.
    let mut buffers = (Vec::new(), Vec::new());
    while t < text.tokens.len() {
        if text.tokens[t].class != Class::Number || glued_to_letters(text, t) {
            t += 1;
            continue;
        }
        let (chain, next) = chain_at(text, t, buffers);
        classify(text, &chain, out);
        buffers = (chain.groups, chain.seps);
        t = next;
    }
}

/// A number token directly attached to letters (`45T`, `A-12`) is part of a code.
fn glued_to_letters(text: &Text, t: usize) -> bool {
    t > 0 && matches!(text.class(t - 1), Some(Class::Word | Class::Alnum))
}

/// The chain starting at the number `first`, read into the emptied
/// `groups` and `seps`; and the token past it.
fn chain_at<'a>(
    text: &Text<'a>,
    first: usize,
    (mut groups, mut seps): (Vec<&'a str>, Vec<char>),
) -> (Chain<'a>, usize) {
    let tok = &text.tokens;
    let lead_paren = first >= 1 && text.is(first - 1, "(");
    let mut paren = false;
    groups.clear();
    seps.clear();
    groups.push(text.str(first));
    let mut t = first + 1;
    let mut end_tok = first;
    let sep = |i: usize| -> Option<char> {
        let s = text.str(i);
        match tok[i].class {
            Class::Punct if matches!(s, "." | "-" | "/") => s.chars().next(),
            Class::Space if s == " " => Some(' '),
            _ => None,
        }
    };
    loop {
        // A date ends the chain: `2018-03-30 09:56` is a date and a time.
        if text.is_gap(t) && dates::numeric(&groups, &seps).is_some() {
            break;
        }
        // `.`, `-`, `/` or one space, then a number.
        if t + 1 < tok.len()
            && tok[t + 1].class == Class::Number
            && let Some(c) = sep(t)
        {
            groups.push(text.str(t + 1));
            seps.push(c);
            end_tok = t + 1;
            t += 2;
            continue;
        }
        // An extension ends a phone number: `-8831x7121`.
        if t + 1 < tok.len()
            && tok[t + 1].class == Class::Alnum
            && let Some(c) = sep(t).filter(|&c| c != ' ')
            && let Some(digits) = extension(text.str(t + 1))
        {
            groups.push(digits);
            seps.push(c);
            end_tok = t + 1;
            break;
        }
        // `(601) 325`: the area code closes the leading parenthesis.
        if lead_paren && !paren && groups.len() == 1 && text.is(t, ")") {
            let after = if text.is_gap(t + 1) { t + 2 } else { t + 1 };
            if text.class(after) == Some(Class::Number) {
                paren = true;
                groups.push(text.str(after));
                seps.push(')');
                end_tok = after;
                t = after + 1;
                continue;
            }
        }
        // `+52 (55) 1234`.
        if text.is_gap(t)
            && text.is(t + 1, "(")
            && text.class(t + 2) == Some(Class::Number)
            && text.is(t + 3, ")")
            && text.is_gap(t + 4)
            && text.class(t + 5) == Some(Class::Number)
        {
            paren = true;
            groups.extend([text.str(t + 2), text.str(t + 5)]);
            seps.extend(['(', ' ']);
            end_tok = t + 5;
            t += 6;
            continue;
        }
        break;
    }
    let mut start_tok = if lead_paren && paren && seps.first() == Some(&')') {
        first - 1
    } else {
        first
    };
    let mut plus = start_tok >= 1 && text.is(start_tok - 1, "+");
    if plus {
        start_tok -= 1;
    }
    // `+46 (0)8 425 241 05`: the country code before a trunk prefix.
    if paren
        && !plus
        && start_tok >= 3
        && text.is_gap(start_tok - 1)
        && text.class(start_tok - 2) == Some(Class::Number)
        && text.str(start_tok - 2).len() <= 3
        && text.is(start_tok - 3, "+")
    {
        groups.insert(0, text.str(start_tok - 2));
        seps.insert(0, ' ');
        plus = true;
        start_tok -= 3;
    }
    let (start, end) = (tok[start_tok].start(), tok[end_tok].end());
    (
        Chain {
            start,
            end,
            first: start_tok,
            last: end_tok,
            s: &text.src[start..end],
            groups,
            seps,
            plus,
            paren,
        },
        end_tok + 1,
    )
}

/// The digits of `3395x2111` before the extension mark.
fn extension(token: &str) -> Option<&str> {
    let (digits, ext) = token.split_once(['x', 'X'])?;
    let numeric = |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    (numeric(digits) && numeric(ext) && digits.len() >= 3).then_some(digits)
}

fn push(out: &mut Vec<Finding>, chain: &Chain, kind: Kind, confidence: f32, strength: u8) {
    out.push(Finding {
        start: chain.start,
        end: chain.end,
        kind,
        confidence,
        strength,
    });
}

fn classify(text: &Text, c: &Chain, out: &mut Vec<Finding>) {
    let digits = c.digits();
    let groups = c.groups.len();
    let plain = groups == 1;
    let before = text.flags_before(c.first, 4);
    let near = |cue: &str| {
        text.words_before(c.first, 2)
            .any(|w| text.str(w).eq_ignore_ascii_case(cue))
    };
    let dashed_check = c.seps.last() == Some(&'-') && c.groups.last().is_some_and(|g| g.len() == 1);

    // Identifiers whose check digits hold.
    if digits == 14 && (plain || c.shape_is(&[2, 3, 3, 4, 2])) && checksum::cnpj(c.s) {
        return push(out, c, Kind::TaxId, 0.99, CHECKED);
    }
    if digits == 11 && c.shape_is(&[3, 3, 3, 2]) && c.seps_are("..-") && checksum::cpf(c.s) {
        return push(out, c, Kind::NationalId, 0.99, CHECKED);
    }
    if digits == 11 && plain && checksum::cpf(c.s) && near("cpf") {
        return push(out, c, Kind::NationalId, 0.95, CHECKED);
    }
    if (dashed_check || near("nit")) && (8..=11).contains(&digits) && checksum::nit(c.s) {
        return push(
            out,
            c,
            Kind::TaxId,
            if dashed_check { 0.97 } else { 0.9 },
            CHECKED,
        );
    }
    if digits == 18 && plain && checksum::clabe(c.s) {
        return push(out, c, Kind::BankAccount, 0.97, CHECKED);
    }
    let last = c.groups[groups - 1].len();
    let card_groups = plain
        || c.shape().all(|g| g == 4 || g <= 4 && g == last)
        || c.shape_is(&[4, 6, 5])
        || c.shape_is(&[4, 6, 4]);
    if (12..=19).contains(&digits) && card_groups && !c.plus && !c.paren && checksum::luhn(c.s) {
        return push(
            out,
            c,
            Kind::Card,
            if digits >= 15 { 0.95 } else { 0.85 },
            CHECKED,
        );
    }
    // Shapes that say what they are.
    if c.shape_is(&[4]) && c.s.len() == 4 {
        return; // a year or a short number
    }
    if let Some(confidence) = dates::numeric(&c.groups, &c.seps) {
        // `2018-03-30 09:56:50.532667`: with its time.
        let end = dates::time_after(text, c.last + 1).map_or(c.end, |t| text.tokens[t - 1].end());
        out.push(Finding {
            start: c.start,
            end,
            kind: Kind::Date,
            confidence,
            strength: EXACT_SHAPE,
        });
        return;
    }
    if groups == 4 && c.seps_are("...") && c.s.parse::<std::net::Ipv4Addr>().is_ok() {
        return push(out, c, Kind::IpAddress, 0.95, EXACT_SHAPE);
    }
    if c.shape_is(&[3, 2, 4]) && c.seps_are("--") {
        let issued = checksum::ssn_issued(c.s);
        return push(
            out,
            c,
            Kind::NationalId,
            if issued { 0.9 } else { 0.7 },
            EXACT_SHAPE,
        );
    }
    let money = text.flags_before(c.first, 1) & list::MONEY_CUE != 0
        || c.s.contains(',')
        || text.src[..c.start].ends_with('$');
    if money {
        return;
    }
    // Identifiers told by the words before them.
    if before & list::ACCOUNT_CUE != 0 && (6..=22).contains(&digits) {
        return push(out, c, Kind::BankAccount, 0.9, CONTEXT);
    }
    // `C` is the cédula's `C.C.`, but `C/` is a street and `C.P.` a postal code.
    let postal = |w: usize| text.is(w + 1, "/") || text.is(w + 1, ".") && text.is(w + 2, "P");
    let id_cue = before & list::ID_CUE != 0
        && text
            .words_before(c.first, 4)
            .any(|w| text.has_flag(w, list::ID_CUE) && !postal(w));
    if id_cue && (5..=12).contains(&digits) && !c.plus {
        return push(out, c, Kind::NationalId, 0.9, CONTEXT);
    }
    if before & list::TAX_CUE != 0 && (8..=14).contains(&digits) {
        // Named as a tax number but its check digits fail: still someone's number.
        return push(out, c, Kind::TaxId, 0.7, CONTEXT);
    }
    // Phone numbers: 7 to 15 digits in a phone-like layout.
    let thousands =
        c.seps.iter().all(|&s| s == '.') && c.shape().skip(1).all(|g| g == 3) && groups > 1;
    let cue = before & list::PHONE_CUE != 0;
    // `Mobile: 33 93 31`: short local numbers in groups, when named.
    let short_named = digits == 6 && cue && groups >= 3 && c.seps_are("  ");
    if ((7..=15).contains(&digits) || short_named) && !thousands {
        let layout = c.plus
            || c.paren
            || (groups >= 2 && c.shape().all(|g| g >= 2))
            || (10..=13).contains(&digits);
        if layout || cue {
            let confidence = match (c.plus || c.paren, cue) {
                (true, true) => 0.97,
                (true, false) | (false, true) => 0.9,
                (false, false) => 0.75,
            };
            return push(out, c, Kind::Phone, confidence, SHAPE);
        }
    }
    // Dotted thousands (`1.165.012.888`) are how cédulas are written; amounts were excluded above.
    if thousands && (6..=10).contains(&digits) && c.groups[0].len() <= 3 {
        push(out, c, Kind::NationalId, 0.6, STRUCTURE)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Kind, found as kinds};

    #[test]
    fn identifiers_by_check_digit() {
        assert_eq!(
            kinds("NIT 925129366-1."),
            vec![("925129366-1", Kind::TaxId)]
        );
        assert_eq!(
            kinds("CPF 621.084.002-73"),
            vec![("621.084.002-73", Kind::NationalId)]
        );
        assert_eq!(
            kinds("CNPJ 05.935.376/0001-01,"),
            vec![("05.935.376/0001-01", Kind::TaxId)]
        );
        assert_eq!(
            kinds("CLABE 019096710598210228 a"),
            vec![("019096710598210228", Kind::BankAccount)]
        );
        assert_eq!(
            kinds("tarjeta 4111 1111 1111 1111."),
            vec![("4111 1111 1111 1111", Kind::Card)]
        );
    }

    #[test]
    fn phones_in_local_and_international_forms() {
        for phone in [
            "+57 310 432 6542",
            "(601) 325 3530",
            "+55 11 8073-2847",
            "+52 55 4644 9199",
            "+34 612 345 678",
            "(555) 123-4567",
            "+1 212 555 0188",
            "+46 (0)8 425 241 05",
            "442-067-8831x7121",
            "(919)541-9876x3514",
            "333.433.3395x2111",
        ] {
            assert_eq!(
                kinds(&format!("llamar al {phone}.")),
                vec![(phone, Kind::Phone)],
                "{phone}"
            );
        }
    }

    #[test]
    fn numbers_told_by_context() {
        assert_eq!(
            kinds("con C.C. 1.165.012.888 y"),
            vec![("1.165.012.888", Kind::NationalId)]
        );
        assert_eq!(
            kinds("cédula 47264595,"),
            vec![("47264595", Kind::NationalId)]
        );
        assert_eq!(
            kinds("cuenta de ahorros 253-397980-89 del"),
            vec![("253-397980-89", Kind::BankAccount)]
        );
        for (text, id) in [
            ("Médico: Ana Ruiz  NºCol: 28 28 20943.", "28 28 20943"),
            ("Servicio: Urgencias.\nEpisodio: 10541765.", "10541765"),
            ("número de colegiado 282820943", "282820943"),
        ] {
            assert_eq!(
                crate::found_kind(text, Kind::NationalId),
                vec![id],
                "{text}"
            );
        }
        assert!(crate::found_kind("C/ Casanova 101, 08011", Kind::NationalId).is_empty());
        assert!(kinds("por valor de $3.000.000 pesos").is_empty());
        assert!(kinds("la Ley 1581 de 2012").is_empty());
        assert_eq!(kinds("Mobile: 33 93 31"), vec![("33 93 31", Kind::Phone)]);
        assert!(kinds("scores 33 93 31").is_empty());
    }
}
