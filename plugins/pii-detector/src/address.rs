//! Street addresses. A core is a street type and a house number (`Calle 6ª #
//! 6-8 Sur`, `Rua Augusta, 18`, `Callejón Arredondo 284`) or a house number,
//! a street name and a street suffix (`66 Glen Street`). The core is then
//! extended over what follows it: units (`Apto. 492`), postal codes, towns,
//! states (`Brito / PE`, `SLP 01018-4012`).

use crate::lexicon::{self, list};
use crate::strength::STRUCTURE;
use crate::text::{Class, Text};
use crate::{Finding, Kind};

const PARTICLES: &[&str] = &[
    "de", "del", "la", "las", "los", "da", "das", "do", "dos", "e", "y", "di", "van", "von", "d",
];
const DIRECTIONS: &[&str] = &[
    "Sur", "Norte", "Este", "Oeste", "Bis", "Sul", "Leste", "N", "S", "E", "W", "NE", "NW", "SE",
    "SW",
];

fn is_number_like(text: &Text, t: usize) -> bool {
    matches!(text.class(t), Some(Class::Number | Class::Alnum))
        && text.str(t).starts_with(|c: char| c.is_ascii_digit())
}

fn is_particle(text: &Text, t: usize) -> bool {
    text.class(t) == Some(Class::Word) && PARTICLES.contains(&text.str(t))
}

/// A unit word (`Apto`, `apartamento`, `Suite`) in any case.
fn is_unit(text: &Text, t: usize) -> bool {
    if text.has_flag(t, list::UNIT) {
        return true;
    }
    // Lower case: `apartamento`.
    let w = text.str(t);
    if text.class(t) != Some(Class::Word)
        || !w.starts_with(|c: char| c.is_ascii_lowercase())
        || w.len() > 16
    {
        return false;
    }
    let mut buf = [0u8; 16];
    buf[..w.len()].copy_from_slice(w.as_bytes());
    buf[0] = buf[0].to_ascii_uppercase();
    std::str::from_utf8(&buf[..w.len()]).is_ok_and(|title| lexicon::word(title) & list::UNIT != 0)
}

/// After a number: `-28`, `-31 Este`: the token past the house number.
fn house_number_end(text: &Text, mut t: usize) -> usize {
    if text.is(t, "-") && is_number_like(text, t + 1) {
        t += 2;
    }
    if text.is_gap(t) && DIRECTIONS.contains(&text.str(t + 1)) {
        t += 2;
    }
    t
}

/// A street type at `t`: the core's end (token past it), or `None`.
fn street_type_core(text: &Text, t: usize) -> Option<usize> {
    let mut i = t + 1;
    if text.is(i, ".") {
        i += 1;
    }
    if !text.is_gap(i) {
        return None;
    }
    i += 1;
    // The street's name or number, then the house number.
    for _ in 0..7 {
        let tok = i;
        if tok >= text.tokens.len() {
            return None;
        }
        // Colombian: `# 6-8`, `No. 45-10`, `N° 12-3`.
        let marker = if text.is(tok, "#") {
            Some(tok + 1)
        } else if matches!(
            text.str(tok),
            "No" | "no" | "Nº" | "N°" | "nº" | "n°" | "Núm" | "Nro"
        ) {
            Some(if text.is(tok + 1, ".") {
                tok + 2
            } else {
                tok + 1
            })
        } else {
            None
        };
        if let Some(m) = marker {
            let m = if text.is_gap(m) { m + 1 } else { m };
            return is_number_like(text, m).then(|| house_number_end(text, m + 1));
        }
        let word = text.class(tok) == Some(Class::Word)
            && (text.is_capitalised(tok) || is_particle(text, tok));
        // Brazilian: `Rua Augusta, 18`.
        if word
            && text.is(tok + 1, ",")
            && text.is_gap(tok + 2)
            && text.class(tok + 3) == Some(Class::Number)
        {
            return Some(tok + 4);
        }
        let number = is_number_like(text, tok);
        if !(word || number) {
            return None;
        }
        // `Callejón Arredondo 284`: a number after a name ends the core.
        if number
            && tok > t + 2
            && text.class(tok - 2) == Some(Class::Word)
            && !is_unit(text, tok - 2)
        {
            let end = house_number_end(text, tok + 1);
            if !(text.is(end, "#") || text.is_gap(end) && text.is(end + 1, "#")) {
                return Some(end);
            }
        }
        i = tok + 1;
        if text.is(i, ".") && text.str(tok).len() <= 4 {
            i += 1;
        }
        if !text.is_gap(i) {
            return None;
        }
        i += 1;
    }
    None
}

/// A house number at `t` then a name and a street suffix (`66 Glen Street`).
fn suffix_core(text: &Text, t: usize) -> Option<usize> {
    let mut i = t + 1;
    let mut words = 0;
    while words < 5 && text.is_gap(i) && (text.is_capitalised(i + 1) || is_number_like(text, i + 1))
    {
        i += 2;
        words += 1;
        if words >= 2 && text.has_flag(i - 1, list::STREET_SUFFIX) {
            return Some(if text.is(i, ".") { i + 1 } else { i });
        }
    }
    None
}

/// One more piece after the core: the token past it, or `None`.
fn extension(text: &Text, t: usize) -> Option<usize> {
    let mut i = t;
    if text.is_gap(i) && text.is(i + 1, ",") {
        i += 1;
    }
    let comma = text.is(i, ",");
    if comma {
        i += 1;
    }
    if !text.is_gap(i) {
        // `Suite 258` directly after the street, on the same line.
        return None;
    }
    i += 1;
    // `/ PE`
    if !comma
        && text.is(i, "/")
        && text.is_gap(i + 1)
        && text.str(i + 2).len() == 2
        && text.str(i + 2).chars().all(|c| c.is_ascii_uppercase())
    {
        return Some(i + 3);
    }
    // `Apto. 492`, `Torre 4 apartamento 653`, `Suite 925`.
    if is_unit(text, i) {
        let mut j = i + 1;
        if text.is(j, ".") {
            j += 1;
        }
        if text.is_gap(j) {
            j += 1;
        }
        if text.is(j, "#") {
            j += 1;
        }
        if is_number_like(text, j) {
            return Some(j + 1);
        }
        return None;
    }
    if !comma {
        return None;
    }
    // `22856-531 Brito`, `058391`, `SLP 01018-4012`
    let mut j = i;
    if text.class(j) == Some(Class::Word)
        && text.str(j).len() <= 4
        && text.str(j).chars().all(|c| c.is_ascii_uppercase())
        && text.is_gap(j + 1)
        && text.class(j + 2) == Some(Class::Number)
    {
        j += 2;
    }
    if text.class(j) == Some(Class::Number) && (4..=8).contains(&text.str(j).len()) {
        j += 1;
        if text.is(j, "-") && text.class(j + 1) == Some(Class::Number) {
            j += 2;
        }
        return Some(place_words(text, j).unwrap_or(j));
    }
    // `Granada`, `San Jaqueline los bajos`, `Valle del Cauca`
    if text.is_capitalised(i) {
        return place_words(text, i - 1);
    }
    None
}

/// A town or state name starting after the gap at `t`: capitalised words,
/// with lower-case words inside; it must end at punctuation or the text's end.
fn place_words(text: &Text, t: usize) -> Option<usize> {
    let mut i = t;
    let mut words = 0;
    while words < 6 && text.is_gap(i) && text.class(i + 1) == Some(Class::Word) {
        if words == 0 && !text.is_capitalised(i + 1) {
            return None;
        }
        i += 2;
        words += 1;
        while text.is(i, "-") && text.class(i + 1) == Some(Class::Word) {
            i += 2;
        }
    }
    let ends_clean = i >= text.tokens.len()
        || matches!(text.class(i), Some(Class::Punct))
        || text.class(i) == Some(Class::Break)
        || (text.is_gap(i) && text.is(i + 1, "/"));
    (words > 0 && ends_clean).then_some(i)
}

pub fn find(text: &Text, out: &mut Vec<Finding>) {
    let n = text.tokens.len();
    let mut t = 0;
    while t < n {
        let core = if text.has_flag(t, list::STREET_TYPE) {
            street_type_core(text, t)
        } else if text.tokens[t].class == Class::Number
            && (t == 0 || text.class(t - 1) != Some(Class::Punct))
        {
            suffix_core(text, t)
        } else {
            None
        };
        let Some(mut end) = core else {
            t += 1;
            continue;
        };
        let mut pieces = 0;
        while pieces < 8 {
            match extension(text, end) {
                Some(next) => {
                    end = next;
                    pieces += 1;
                }
                None => break,
            }
        }
        let confidence = if pieces > 0 { 0.9 } else { 0.8 };
        out.push(Finding {
            start: text.tokens[t].start,
            end: text.tokens[end - 1].end,
            kind: Kind::Address,
            confidence,
            strength: STRUCTURE,
        });
        t = end;
    }
}

#[cfg(test)]
mod tests {
    use crate::{Kind, found_kind};

    fn addresses(s: &str) -> Vec<&str> {
        found_kind(s, Kind::Address)
    }

    #[test]
    fn colombian_brazilian_mexican_and_english_addresses() {
        for (sentence, address) in [
            (
                "con domicilio en Carrera 142Y Sur # 45T-31 Este, 058391, Granada, Antioquia, se obliga a pagar",
                "Carrera 142Y Sur # 45T-31 Este, 058391, Granada, Antioquia",
            ),
            (
                "en Cr. 5 Bis Y # 64-8 Este, Apto. 492, 520792, Cuaspud Carlosama, Nariño.",
                "Cr. 5 Bis Y # 64-8 Este, Apto. 492, 520792, Cuaspud Carlosama, Nariño",
            ),
            (
                "residente em Feira Rocha, 18, Betânia, 22856-531 Brito / PE, declara",
                "Feira Rocha, 18, Betânia, 22856-531 Brito / PE",
            ),
            (
                "fiscal en Callejón Arredondo 284 Interior 634, San Jaqueline los bajos, SLP 01018-4012.",
                "Callejón Arredondo 284 Interior 634, San Jaqueline los bajos, SLP 01018-4012",
            ),
            (
                "The bus station is on Via Pasquale Scura 127",
                "Via Pasquale Scura 127",
            ),
            (
                "He lives at 66 Glen Street Suite 258, Boston.",
                "66 Glen Street Suite 258, Boston",
            ),
        ] {
            assert_eq!(addresses(sentence), vec![address], "{sentence}");
        }
        assert!(addresses("la Calle es ancha y el Avenida no").is_empty());
    }
}
