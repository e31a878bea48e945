//! Street addresses. A core is one of:
//! - a street type and a house number (`Calle 6ª # 6-8 Sur`, `Rua Augusta,
//!   18`, `Callejón Arredondo 284`, `82 rue Beauvau`);
//! - a house number, a street name and a street suffix (`66 Glen Street`);
//! - a street name that ends like one (`Auenweg`, `Västerviksgatan`,
//!   `Lumbyholmvej`) and a house number;
//! - a building number, then a street name and its house number (`637
//!   Strojírenská 1006`, `5433 Jõe põik 97`), or such a name after words that
//!   announce an address (`lives on`, `the corner of`);
//! - a post-office box (`P.O. Box 63`, `PSC 1708, Box 0531`).
//!
//! The core is then extended over what follows it, on the same line or the
//! next ones: units (`Apto. 492`, `Suite 926`), postal codes, towns, states
//! and countries (`Brito / PE`, `SLP 01018-4012`, `KALIX`, `Sweden 53765`).

use crate::lexicon::{self, list};
use crate::strength::STRUCTURE;
use crate::text::{Class, Text};
use crate::{Finding, Kind};

fn is_number_like(text: &Text, t: usize) -> bool {
    matches!(text.class(t), Some(Class::Number | Class::Alnum))
        && text.str(t).starts_with(|c: char| c.is_ascii_digit())
}

fn is_particle(text: &Text, t: usize) -> bool {
    let w = text.str(t);
    text.has_flag(t, list::STREET_PARTICLE)
        // `d'Ouchy`, `l'Église`
        || text.class(t) == Some(Class::Word)
            && (w.starts_with("d'") || w.starts_with("l'"))
            && w.len() > 3
}

/// Endings of street names written as one word (German, Dutch, Nordic).
const NAME_ENDINGS: &[&str] = &[
    "weg", "straße", "strasse", "str", "gasse", "allee", "platz", "damm", "ring", "ufer", "straat",
    "laan", "gracht", "plein", "gatan", "gata", "vägen", "vej", "veien", "vegen", "vegur", "gade",
    "gyden", "stræde", "stíg", "katu", "tie", "utca", "ulica",
];

/// Ship names of US military post (`USNS Sidorova`, then `FPO AP 46755`).
const SHIPS: &[&str] = &["USNS", "USNV", "USS", "USCGC"];

/// A unit word (`Apto`, `apartamento`, `Suite`) in any case.
fn is_unit(text: &Text, t: usize) -> bool {
    in_list_any_case(text, t, list::UNIT)
}

/// A street type (`Rue`, `rue`, `Avenida`) in any case.
fn is_street_type(text: &Text, t: usize) -> bool {
    in_list_any_case(text, t, list::STREET_TYPE)
}

/// Whether the word at `t`, capitalised or in lower case, is in the list `bit`.
fn in_list_any_case(text: &Text, t: usize, bit: u32) -> bool {
    if text.has_flag(t, bit) {
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
    std::str::from_utf8(&buf[..w.len()]).is_ok_and(|title| lexicon::word(title) & bit != 0)
}

/// A one-word street name by its ending (`Auenweg`, `Søndergade`).
fn has_street_ending(text: &Text, t: usize) -> bool {
    let w = text.str(t);
    text.is_capitalised(t)
        && NAME_ENDINGS.iter().any(|e| {
            w.len() >= e.len() + 3
                && w.is_char_boundary(w.len() - e.len())
                && w[w.len() - e.len()..].eq_ignore_ascii_case(e)
        })
}

/// A house number: digits, maybe with a letter (`12A`), up to five digits,
/// not followed by more digit groups (a phone number).
fn house_number(text: &Text, t: usize) -> bool {
    let s = text.str(t);
    is_number_like(text, t)
        && s.len() <= 5
        && s.bytes().filter(|b| !b.is_ascii_digit()).count() <= 1
        && !(text.is_gap(t + 1) && text.class(t + 2) == Some(Class::Number))
        && !text.is(t + 1, "-")
}

/// Words of a street name from `t` (capitalised words, particles, lower-case
/// street words), then a house number: the token past it.
fn named_number_core(text: &Text, t: usize, lenient: bool) -> Option<usize> {
    let mut i = t;
    let mut words = 0;
    while words < 4 {
        let lower_street = text.has_flag(i, list::STREET_WORD);
        let named = if words == 0 {
            text.is_name_like(i)
                || is_street_type(text, i)
                || lower_street
                || lenient && text.is_capitalised(i)
        } else {
            text.is_name_like(i) || is_particle(text, i) || lower_street
        };
        if !named || text.class(i) != Some(Class::Word) {
            return None;
        }
        i += 1;
        if text.is(i, ".") {
            i += 1;
        }
        words += 1;
        if !text.is_gap(i) {
            return None;
        }
        if house_number(text, i + 1) {
            return Some(i + 2);
        }
        i += 1;
    }
    None
}

/// A post-office box at `t`: `P.O. Box 63`, `PO Box 7`, `Postbox 108`,
/// `Unit 4670 Box 6562`, `PSC 1708, Box 0531`.
fn po_box(text: &Text, t: usize) -> Option<usize> {
    let mut i = t;
    match text.str(t) {
        "P" if text.is(t + 1, ".") && text.is(t + 2, "O") && text.is(t + 3, ".") => i += 4,
        "PO" => i += 1,
        "Unit" | "PSC" if text.is_gap(t + 1) && text.class(t + 2) == Some(Class::Number) => {
            i += 3;
            if text.is(i, ",") {
                i += 1;
            }
        }
        "Postbox" | "Postfach" | "Apartado" => return box_number(text, t + 1),
        _ => return None,
    }
    if !text.is_gap(i) || !text.is(i + 1, "Box") {
        return None;
    }
    box_number(text, i + 2)
}

/// ` 108` after a box word: the token past the number.
fn box_number(text: &Text, t: usize) -> Option<usize> {
    (text.is_gap(t) && text.class(t + 1) == Some(Class::Number)).then_some(t + 2)
}

/// After a number: `-28`, `-31 Este`: the token past the house number.
fn house_number_end(text: &Text, mut t: usize) -> usize {
    if text.is(t, "-") && is_number_like(text, t + 1) {
        t += 2;
    }
    if text.is_gap(t) && text.has_flag(t + 1, list::DIRECTION) {
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
    if text.is_gap(i) {
        i += 1;
    } else if !text.is(t, "/") {
        // Only `C/` may be written onto the name: `C/Irunlarrea 3`.
        return None;
    }
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
        // Brazilian: `Rua Augusta, 18`; Spanish: `Avda. Valdecilla, s/n`.
        if word && text.is(tok + 1, ",") && text.is_gap(tok + 2) {
            if text.class(tok + 3) == Some(Class::Number) {
                return Some(tok + 4);
            }
            if let Some(end) = no_number(text, tok + 3) {
                return Some(end);
            }
        }
        if word && text.is_gap(tok + 1) && tok > t + 1 {
            if let Some(end) = no_number(text, tok + 2) {
                return Some(end);
            }
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

/// `s/n` (`sin número`, no house number) at `t`: the token past it.
fn no_number(text: &Text, t: usize) -> Option<usize> {
    (matches!(text.str(t), "s" | "S")
        && text.is(t + 1, "/")
        && matches!(text.str(t + 2), "n" | "N"))
    .then_some(t + 3)
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

/// A core starting at the word `t`.
fn word_core(text: &Text, t: usize) -> Option<usize> {
    if text.is(t, "c") && text.is(t + 1, "/") {
        return street_type_core(text, t + 1);
    }
    if !text.is_capitalised(t) {
        return None;
    }
    if text.has_flag(t, list::STREET_TYPE) {
        return street_type_core(text, t);
    }
    // `C/ Pintor Baeza, 11`, `c/ Doctor Esquerdo 46`, `C/. Camino Sur`.
    if matches!(text.str(t), "C" | "c") && text.is(t + 1, "/") {
        return street_type_core(text, t + 1);
    }
    if let Some(end) = po_box(text, t) {
        return Some(end);
    }
    // The house number first: it is cheaper to check than the endings.
    let i = if text.is(t + 1, ".") { t + 2 } else { t + 1 };
    if text.is_gap(i) && house_number(text, i + 1) && has_street_ending(text, t) {
        return Some(i + 2);
    }
    // `USNS Sidorova`
    if SHIPS.contains(&text.str(t)) && text.is_gap(t + 1) && text.is_capitalised(t + 2) {
        return Some(t + 3);
    }
    if let Some(end) = named_suffix_core(text, t) {
        return Some(end);
    }
    // Cheap shape first, then the words before it.
    let core = named_number_core(text, t, true)?;
    if text.flags_before(t, 6) & list::ADDRESS_CUE != 0 {
        return Some(core);
    }
    // `Ποσειδώνος 54 street`
    let core = named_number_core(text, t, false)?;
    (text.is_gap(core) && matches!(text.str(core + 1), "street" | "St")).then_some(core)
}

/// Street names without a house number, ending in a street suffix written
/// out (`Smit Mills Street`, `Sari Gardens St.` has `Gardens`): up to three
/// name words, then the suffix, which must not be a name as well (`Tom
/// Hill`) unless it can only be a street (`Street`, `Road`).
fn named_suffix_core(text: &Text, t: usize) -> Option<usize> {
    if !text.is_name_like(t) {
        return None;
    }
    let mut i = t + 1;
    for _ in 0..3 {
        if !text.is_gap(i) || !text.is_capitalised(i + 1) {
            return None;
        }
        let w = i + 1;
        if text.has_flag(w, list::STREET_SUFFIX)
            && text.str(w).len() >= 4
            && (!text.has_flag(w, list::SURNAME | list::GIVEN_NAME)
                || matches!(
                    text.str(w),
                    "Street" | "Road" | "Avenue" | "Boulevard" | "Lane"
                ))
        {
            return Some(w + 1);
        }
        if !text.is_name_like(w) {
            return None;
        }
        i = w + 1;
    }
    None
}

/// A core starting at the number `t`: a building number before a street
/// (`083 254 Damvergi Street`, `782 Avda. de Andalucía 77`), or the house
/// number of `66 Glen Street`.
fn number_core(text: &Text, t: usize, lead: bool) -> Option<usize> {
    if text.str(t).len() > 6 {
        return None;
    }
    if let Some(end) = suffix_core(text, t) {
        return Some(end);
    }
    if !text.is_gap(t + 1) {
        return None;
    }
    let next = t + 2;
    if text.class(next) == Some(Class::Number) {
        return lead.then(|| number_core(text, next, false)).flatten();
    }
    if text.class(next) != Some(Class::Word) {
        return None;
    }
    if is_street_type(text, next)
        && let Some(end) = street_type_core(text, next)
    {
        return Some(end);
    }
    // `82 rue Beauvau`: a street type after the house number.
    if is_street_type(text, next)
        && text.is_gap(next + 1)
        && (text.is_capitalised(next + 2) || is_particle(text, next + 2))
    {
        let mut end = next + 3;
        while text.is_gap(end) && (text.is_capitalised(end + 1) || is_particle(text, end + 1)) {
            end += 2;
        }
        return Some(end);
    }
    po_box(text, next).or_else(|| named_number_core(text, next, true))
}

/// One more piece after the core: the token past it, or `None`. Pieces
/// follow a space, a comma or a line break (`\n Apt. 171\n KALIX\n Sweden`).
fn extension(text: &Text, t: usize) -> Option<usize> {
    let mut i = t;
    // `Baross tér 36. Suite 216`
    if text.is(i, ".") && text.is_gap(i + 1) && is_unit(text, i + 2) {
        i += 1;
    }
    if text.is_gap(i) && text.is(i + 1, ",") {
        i += 1;
    }
    let comma = text.is(i, ",");
    if comma {
        i += 1;
    }
    let new_line = text.class(i) == Some(Class::Break);
    if !(text.is_gap(i) || new_line) {
        return None;
    }
    i += 1;
    // Line prefixes such as `??? ` or `}}` or `> `.
    if new_line {
        let mut j = i;
        while j < i + 3 && text.class(j) == Some(Class::Punct) && !text.is(j, "(") {
            j += 1;
        }
        if j > i && text.is_gap(j) {
            j += 1;
        }
        i = j;
    }
    // `/ PE`
    if !comma
        && !new_line
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
    // `22856-531 Brito`, `058391`, `SLP 01018-4012`, `DPO AA 17229`, `KY 25606`
    let mut j = i;
    let mut codes = 0;
    while codes < 2
        && text.class(j) == Some(Class::Word)
        && (2..=4).contains(&text.str(j).len())
        && text.str(j).chars().all(|c| c.is_ascii_uppercase())
        && text.is_gap(j + 1)
        && text.class(j + 2) != Some(Class::Punct)
    {
        j += 2;
        codes += 1;
    }
    if codes > 0 && !comma && !new_line && text.class(j) != Some(Class::Number) {
        return None;
    }
    if postal_code(text, j) {
        j += 1;
        if text.is(j, "-") && text.class(j + 1) == Some(Class::Number) {
            j += 2;
        }
        return Some(place_words(text, j).unwrap_or(j));
    }
    // `Granada`, `San Jaqueline los bajos`, `Valle del Cauca`, `KALIX`,
    // `Czech Republic 45098`; after the unit, without a comma too.
    if comma || new_line || codes == 0 {
        return place_words_at(text, i);
    }
    None
}

/// A postal code at `t`: four to eight digits that end a line or a clause,
/// not the first group of a phone number.
fn postal_code(text: &Text, t: usize) -> bool {
    text.class(t) == Some(Class::Number)
        && (4..=8).contains(&text.str(t).len())
        && !(text.is_gap(t + 1) && text.class(t + 2) == Some(Class::Number))
        && !(text.is(t + 1, "-") && text.str(t + 2).len() > 4)
}

/// A town or state name starting after the gap at `t`: capitalised words,
/// with lower-case words inside; it must end at punctuation or the text's end.
fn place_words(text: &Text, t: usize) -> Option<usize> {
    if text.is_gap(t) || text.class(t) == Some(Class::Break) {
        place_words_at(text, t + 1)
    } else {
        None
    }
}

/// Like [`place_words`], from the first word `t`.
fn place_words_at(text: &Text, t: usize) -> Option<usize> {
    if !text.is_capitalised(t) {
        return None;
    }
    let mut i = t - 1;
    let mut words = 0;
    while words < 6 && (text.is_gap(i) || words == 0) && text.class(i + 1) == Some(Class::Word) {
        i += 2;
        words += 1;
        while text.is(i, "-") && text.class(i + 1) == Some(Class::Word) {
            i += 2;
        }
    }
    let ends_clean = i >= text.tokens.len()
        || matches!(text.class(i), Some(Class::Punct))
        || (text.is_gap(i) && postal_code(text, i + 1))
        || text.class(i) == Some(Class::Break)
        || (text.is_gap(i) && text.is(i + 1, "/"));
    (words > 0 && ends_clean).then_some(i)
}

pub fn find(text: &Text, out: &mut Vec<Finding>) {
    let n = text.tokens.len();
    let mut t = 0;
    while t < n {
        let core = match text.tokens[t].class {
            Class::Word => word_core(text, t),
            Class::Number if t == 0 || text.class(t - 1) != Some(Class::Punct) => {
                number_core(text, t, true)
            }
            _ => None,
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
            start: text.tokens[t].start(),
            end: text.tokens[end - 1].end(),
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
            (
                "Domicilio: C/ Virgen de la Cabeza, 62,3 A.",
                "C/ Virgen de la Cabeza, 62",
            ),
            (
                "Urología. c/ Doctor Esquerdo 46. Madrid",
                "c/ Doctor Esquerdo 46",
            ),
            ("está en C/Irunlarrea 3, bajo", "C/Irunlarrea 3"),
            (
                "Servicio. Avda. Valdecilla, s/n 39008 Santander",
                "Avda. Valdecilla, s/n 39008 Santander",
            ),
            ("Ctra. del Canyet s/n - bajo", "Ctra. del Canyet s/n"),
        ] {
            assert_eq!(addresses(sentence), vec![address], "{sentence}");
        }
        assert!(addresses("la Calle es ancha y el Avenida no").is_empty());
    }

    #[test]
    fn international_forms_over_several_lines() {
        for (sentence, address) in [
            (
                "Send it to 3039 Västerviksgatan 32\\n Apt. 171\\n KALIX\\n Sweden 53765",
                "3039 Västerviksgatan 32\\n Apt. 171\\n KALIX\\n Sweden 53765",
            ),
            ("The bus stops on Auenweg 85", "Auenweg 85"),
            (
                "Helena\n\n637 Strojírenská 1006\n Suite 026\n Svratka\n Czech Republic 45098\n(73) 4746-3459",
                "637 Strojírenská 1006\n Suite 026\n Svratka\n Czech Republic 45098",
            ),
            (
                "it is 563 Baross tér 36. Suite 216 Izsófalva",
                "563 Baross tér 36. Suite 216 Izsófalva",
            ),
            (
                "to 5738 21 rue de Groussay, RODEZ, France 57932?",
                "5738 21 rue de Groussay, RODEZ, France 57932",
            ),
            (
                "He lives on the north side of Na Sadech 1729.",
                "Na Sadech 1729",
            ),
            ("at the corner of P.O. Box 63 and", "P.O. Box 63"),
            (
                "Unit 4670 Box 6562\nDPO AA 17229",
                "Unit 4670 Box 6562\nDPO AA 17229",
            ),
            (
                "at USNS Sidorova FPO AP 46755",
                "USNS Sidorova FPO AP 46755",
            ),
            ("shows on Smit Mills Street were", "Smit Mills Street"),
        ] {
            assert_eq!(addresses(sentence), vec![address], "{sentence}");
        }
        for sentence in [
            "see Guilty Pleasures: 5 Musicians Of The 70s You Hate",
            "I met Tom Hill yesterday",
            "Windows 10 is installed",
            "Chapter 5 of 12",
        ] {
            assert!(addresses(sentence).is_empty(), "{sentence}");
        }
    }
}
