//! Places: cities, regions and countries from the gazetteer
//! (`data/places.txt`, `data/regions.txt`), and postal codes. The contract's
//! `pii-kind` has no case for a place and cannot gain one compatibly, so a
//! place is reported as an `address`: it is where someone lives, was born or
//! was treated, a piece of an address even when written alone.
//!
//! A name that is only a place (`Valladolid`, `Ciudad Real`) is reported
//! wherever it stands. One that is also a person's name or a common word
//! (`Mercedes`, `Victoria`, `Madrid`) only where the text says place: after
//! a place cue (`en`, `Localidad:`, `natural de`), after a postal code
//! (`28006 Madrid`), or beside another place (`Vigo (Pontevedra)`,
//! `Terrassa, Barcelona`, `Madrid. España`). Postal codes are reported after
//! the words that name them (`CP: 28035`, `C.P.`, `CEP`) and before a place.

use crate::lexicon::{self, list};
use crate::strength::NAME;
use crate::text::{APOSTROPHE, CAPITALISED, Class, Text};
use crate::{Finding, Kind};

/// The most words a place name runs to (`Santa Cruz de la Sierra`).
const MOST_WORDS: usize = 6;

/// Bits that make a place name ambiguous: any list but the places' own and
/// `not_names` (which holds countries and peoples).
const OTHER_LISTS: u32 =
    !(list::PLACE | list::PLACE_START | list::NOT_NAME | CAPITALISED | APOSTROPHE);

pub fn find(text: &Text, out: &mut Vec<Finding>) {
    let n = text.tokens.len();
    let mut t = 0;
    while t < n {
        if text.class(t) == Some(Class::Number) && named_postal_code(text, t) {
            push(text, out, t, t + 1, 0.85);
            t += 1;
            continue;
        }
        if !text.has_flag(t, list::PLACE | list::PLACE_START) || !text.is_capitalised(t) {
            t += 1;
            continue;
        }
        let Some(end) = place_at(text, t) else {
            t += 1;
            continue;
        };
        let code_before = code_before(text, t);
        let said = code_before.is_some() || cue_before(text, t) || place_beside(text, t, end);
        if said || !ambiguous(text, t, end) {
            // The code apart: a street address before may have taken it.
            if let Some(code) = code_before {
                push(text, out, code, code + 1, 0.85);
            }
            push(text, out, t, end, if said { 0.85 } else { 0.75 });
        }
        t = end;
    }
}

fn push(text: &Text, out: &mut Vec<Finding>, start: usize, end: usize, confidence: f32) {
    out.push(Finding {
        start: text.tokens[start].start(),
        end: text.tokens[end - 1].end(),
        kind: Kind::Address,
        confidence,
        strength: NAME,
    });
}

/// The longest place name starting at the capitalised word `t`: the token
/// past it. Its words are apart by a single space, a hyphen or `. `
/// (`St. Louis`); lower-case words of three letters or fewer may stand
/// inside (`Arganda del Rey`).
fn place_at(text: &Text, t: usize) -> Option<usize> {
    let mut best = text.has_flag(t, list::PLACE).then_some(t + 1);
    if !text.has_flag(t, list::PLACE_START) {
        return best;
    }
    let start = text.tokens[t].start();
    let (mut i, mut words) = (t + 1, 1);
    while words < MOST_WORDS {
        let w = if text.is_gap(i) || text.is(i, "-") {
            i + 1
        } else if text.is(i, ".") && text.is_gap(i + 1) {
            i + 2
        } else {
            break;
        };
        let capital = text.is_capitalised(w);
        if text.class(w) != Some(Class::Word) || !(capital || text.str(w).len() <= 3) {
            break;
        }
        if capital && lexicon::is_place(&text.src[start..text.tokens[w].end()]) {
            best = Some(w + 1);
        }
        i = w + 1;
        words += 1;
    }
    best
}

/// Whether the place name `t..end` may be something else: a word of another
/// list (a name, a common word) alone, or words that are all names, the
/// first a given name (`Santa Lucía` is a place, `José María` a person).
fn ambiguous(text: &Text, t: usize, end: usize) -> bool {
    if end == t + 1 {
        return text.has_flag(t, OTHER_LISTS);
    }
    text.has_flag(t, list::GIVEN_NAME)
        && (t..end)
            .filter(|&w| text.is_capitalised(w))
            .all(|w| text.has_flag(w, list::GIVEN_NAME | list::SURNAME))
}

/// Another place just before (`Terrassa, [Barcelona]`, `Vigo ([Pontevedra])`,
/// `Madrid. ([España])`) or just after (`[Madrid]. España`, `[Vigo]
/// (Pontevedra)`), with `,`, `.` or a parenthesis between, and maybe a space.
fn place_beside(text: &Text, t: usize, end: usize) -> bool {
    let is_place = |w: usize| text.is_capitalised(w) && text.has_flag(w, list::PLACE);
    let between = |from: usize, to: usize| {
        let mark = |i: usize| matches!(text.str(i), "," | "." | "(" | ")");
        to > from
            && to - from <= 3
            && (from..to).any(mark)
            && (from..to).all(|i| text.is_gap(i) || mark(i))
    };
    let after = (end..end + 4).find(|&i| text.class(i) == Some(Class::Word));
    let before = text.word_before(t);
    after.is_some_and(|a| between(end, a) && is_place(a))
        || before.is_some_and(|b| between(b + 1, t) && is_place(b))
}

/// A place cue just before `t` (`en`, `Provincia:`), or before `de`
/// (`natural de`, `procedente de`), or heading the field the place fills
/// (`País de nacimiento:`).
fn cue_before(text: &Text, t: usize) -> bool {
    let cue = |w: usize| text.has_flag(w, list::PLACE_CUE);
    let Some(w1) = text.word_before(t) else {
        return false;
    };
    let w2 = text.word_before(w1);
    let field = text.tokens[w1].end() < text.tokens[t].start()
        && text.src[text.tokens[w1].end()..text.tokens[t].start()].starts_with(':');
    cue(w1)
        || matches!(text.str(w1), "de" | "do" | "da" | "of") && w2.is_some_and(cue)
        || field && text.words_before(w1, 2).any(cue)
}

/// A postal code just before the place at `t` (`28006 Madrid`, `33006,
/// Oviedo`): its token.
fn code_before(text: &Text, t: usize) -> Option<usize> {
    let mut code = t.checked_sub(2)?;
    if text.is(code, ",") {
        code = code.checked_sub(1)?;
    }
    // Five digits: four are more often a year or a quantity (`1000 Mercedes`).
    (text.is_gap(t - 1) && text.str(code).len() == 5 && postal_code(text, code)).then_some(code)
}

/// Four or five digits that may be a postal code: not part of a longer
/// group of numbers (a phone number, a date).
fn postal_code(text: &Text, t: usize) -> bool {
    text.class(t) == Some(Class::Number)
        && (4..=5).contains(&text.str(t).len())
        && !(t >= 2 && text.class(t - 2) == Some(Class::Number) && !text.is(t - 1, ","))
        && !(t >= 1 && matches!(text.str(t - 1), "/" | "-" | "." | "+"))
}

/// A postal code after the words that name it: `CP: 28035`, `C.P. 08025`,
/// `CEP 22856-531`, `código postal 11001`.
fn named_postal_code(text: &Text, t: usize) -> bool {
    if !(4..=5).contains(&text.str(t).len()) || text.is(t + 1, "/") {
        return false;
    }
    let Some(w) = text.word_before(t) else {
        return false;
    };
    let (w1, w2) = (text.str(w), text.word_before(w).map_or("", |w| text.str(w)));
    text.tokens[t].start() - text.tokens[w].end() <= 3
        && (matches!(
            w1,
            "CP" | "cp" | "Cp" | "CEP" | "postal" | "Postal" | "ZIP" | "Zip" | "zip"
        ) || w1 == "P" && w2 == "C")
}

#[cfg(test)]
mod tests {
    use crate::{Kind, Options, detect, found_kind};

    fn places(s: &str) -> Vec<&str> {
        found_kind(s, Kind::Address)
    }

    #[test]
    fn places_by_name_and_by_context() {
        for (text, want) in [
            (
                "Localidad/ Provincia: Terrassa, Barcelona.",
                &["Terrassa", "Barcelona"][..],
            ),
            (
                "Ronda del Sur, 10. 09200 Miranda de Ebro",
                &["Ronda del Sur, 10", "09200", "Miranda de Ebro"],
            ),
            (
                "C/ Pizarro, s/n 36204 Vigo (Pontevedra) España",
                &["C/ Pizarro, s/n 36204", "Vigo", "Pontevedra", "España"],
            ),
            ("Paciente natural de Toledo, sin antecedentes", &["Toledo"]),
            (
                "Localidad/ Provincia: Ciudad Real.\nCP: 13002.",
                &["Ciudad Real", "13002"],
            ),
            ("País de nacimiento: México.", &["México"]),
            ("Vino desde Nueva York en 1990", &["Nueva York"]),
            ("She moved to Valladolid last year", &["Valladolid"]),
            ("C.P. 08025 Barcelona", &["08025", "Barcelona"]),
        ] {
            assert_eq!(places(text), want, "{text}");
        }
    }

    #[test]
    fn names_and_words_that_are_places_too_need_context() {
        for text in [
            "Mercedes llamó ayer",
            "Victoria de los aliados",
            "La señora Paz García vino",
            "Real decreto de 2010",
            "Buena evolución",
            "tomó 1000 Mercedes",
        ] {
            assert!(places(text).is_empty(), "{text}: {:?}", places(text));
        }
    }

    #[test]
    fn locations_can_be_turned_off() {
        let off = Options::parse(None, None, Some("false")).unwrap();
        assert!(detect("Vive en Valladolid, España", "es", &off).is_empty());
        assert!(Options::parse(None, None, Some("maybe")).is_err());
    }
}
