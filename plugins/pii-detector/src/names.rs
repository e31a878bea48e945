//! Organisations and people.
//!
//! Organisations: a company suffix (`S.A.S.`, `Ltda.`, `S. de R.L.`, `Inc.`,
//! `and Sons`) after capitalised words, a prefix (`Grupo`, `Banco`) before
//! them, or a cue word (`la sociedad`, `a empresa`) before them; lists such
//! as `Zayas, Brito y Abreu` are one name.
//!
//! A name an agreement defines for an organisation right after naming it
//! (`ACCURAY INCORPORATED, a Delaware corporation (\"Accuray\")`) is that
//! organisation too, wherever the text uses it: a defined term whose first
//! word is one of the organisation's.
//!
//! People: runs of capitalised words (with particles: `Davi Lucas da Costa`)
//! scored by the given-name and surname lists, by cues before them (`Sr.`,
//! `representada por`, `Hola`) and after them (`, identificado con`, `, CPF`).

use crate::lexicon::{ORG_SUFFIXES, list};
use crate::strength::{CONTEXT, NAME, STRUCTURE};
use crate::text::{APOSTROPHE, Class, Text};
use crate::{Finding, Kind};

/// Text just after a person's name that says it was one.
const AFTER_PERSON: &[&str] = &[
    ", identificad",
    ", mayor de edad",
    ", con c.c",
    ", con cédula",
    ", cpf",
    " (curp",
    ", portador",
    ", inscrit",
    ", c.c",
    " identificad",
    ", nacid",
    ", born",
    ", residente",
    ", domiciliad",
    ", brasileir",
    ", colombian",
    ", mexican",
    ", casad",
    ", solter",
    ", quien",
    ", who",
    " (rfc",
    ", rg",
    ", mayor",
    ", vecin",
];

/// Text just after an organisation's name that says it was one: a company's
/// tax number or the word for a company.
const AFTER_ORG: &[&str] = &[
    ", sociedad",
    ", sociedade",
    ", empresa",
    ", compañía",
    ", company",
    ", nit",
    ", cnpj",
];

/// A word that may be part of a name: capitalised and not a function word.
fn name_like(text: &Text, t: usize) -> bool {
    text.is_name_like(t)
}

/// A single capital letter, as in `Katrine N Jessen` or `John F. Kennedy`: the token past it.
fn initial(text: &Text, t: usize) -> Option<usize> {
    (text.is_capitalised(t) && text.str(t).chars().nth(1).is_none())
        .then(|| if text.is(t + 1, ".") { t + 2 } else { t + 1 })
}

/// Whether a company suffix may start at token `t`. A suffix ends before a
/// letter or digit, so its first word is the whole token, or the token up
/// to an apostrophe (`Corporation's`); or it starts with `&`.
fn may_start_suffix(text: &Text, t: usize) -> bool {
    text.has_flag(t, list::SUFFIX_START | APOSTROPHE) || text.is(t, "&")
}

/// A company suffix starting at token `t`: the byte offset past it.
fn suffix_at(text: &Text, t: usize) -> Option<usize> {
    if !may_start_suffix(text, t) {
        return None;
    }
    let tok = *text.tokens.get(t)?;
    let rest = &text.src.as_bytes()[tok.start()..];
    let suffixes = ORG_SUFFIXES.get(usize::from(rest[0]))?;
    suffixes
        .iter()
        .filter(|s| rest.starts_with(s.as_bytes()))
        .map(|s| tok.start() + s.len())
        .filter(|&end| !text.src[end..].starts_with(|c: char| c.is_alphanumeric()))
        .max()
}

/// A particle inside a name (`da`, `van`).
fn is_particle(text: &Text, t: usize) -> bool {
    text.has_flag(t, list::NAME_PARTICLE)
}

/// A word joining a list of names: `and`, `y`, `e`, `&`.
fn is_connector(text: &Text, t: usize) -> bool {
    text.has_flag(t, list::NAME_CONNECTOR) || text.is(t, "&")
}

/// The token index whose start is `offset` (or the first after it).
fn token_at(text: &Text, offset: usize) -> usize {
    text.tokens.partition_point(|t| t.start() < offset)
}

/// Walk back from token `t` (the last name word) over an organisation's name:
/// capitalised words joined by spaces, hyphens, particles, and lists
/// (`García, Ruiz and Castro`). Returns the first token.
fn org_start(text: &Text, t: usize) -> usize {
    let mut start = t;
    for _ in 0..8 {
        let s = start;
        // `Valencia-Caicedo`
        if s >= 2 && text.is(s - 1, "-") && name_like(text, s - 2) {
            start = s - 2;
            continue;
        }
        if s >= 2 && text.is_gap(s - 1) && name_like(text, s - 2) {
            start = s - 2;
            continue;
        }
        // `García, Ruiz`
        if s >= 3 && text.is_gap(s - 1) && text.is(s - 2, ",") && name_like(text, s - 3) {
            start = s - 3;
            continue;
        }
        // `Bristol and West`, `Zayas, Brito y Abreu`, `Banco de Bogotá`
        if s >= 4 && text.is_gap(s - 1) && text.is_gap(s - 3) && name_like(text, s - 4) {
            let w = s - 2;
            let single_before = !(s >= 6 && text.is_gap(s - 5) && name_like(text, s - 6));
            let list_ahead = is_connector(text, w) && (single_before || comma_before(text, s - 4));
            if list_ahead || is_particle(text, w) && !text.is(w, "y") && !text.is(w, "e") {
                start = s - 4;
                continue;
            }
        }
        break;
    }
    start
}

/// Whether the word at `t` is itself preceded by `Name, ` (a list).
fn comma_before(text: &Text, t: usize) -> bool {
    t >= 3 && text.is_gap(t - 1) && text.is(t - 2, ",") && name_like(text, t - 3)
}

/// Capitalised words from `t` forward (with particles, hyphens, lists when
/// `lists`): the token past the run.
fn run_end(text: &Text, t: usize, lists: bool) -> usize {
    let mut end = t + 1;
    loop {
        if (text.is(end, "-") || text.is_gap(end)) && name_like(text, end + 1) {
            end += 2;
        } else if text.is_gap(end)
            && text.is_gap(end + 2)
            && name_like(text, end + 3)
            && joins(text, end + 1, lists)
        {
            end += 4;
        } else if lists
            && text.is(end, ",")
            && text.is_gap(end + 1)
            && name_like(text, end + 2)
            && list_continues(text, end + 2)
        {
            end += 3;
        } else {
            return end;
        }
    }
}

/// Whether the lower-case word `t` joins two parts of a name: particles
/// always, `and`/`y`/`e`/`&` only in a list of names.
fn joins(text: &Text, t: usize, lists: bool) -> bool {
    if is_connector(text, t) {
        lists
    } else {
        is_particle(text, t)
    }
}

/// From a list item at `t`, whether `y`/`and`/`e` follows within the list.
fn list_continues(text: &Text, t: usize) -> bool {
    let end = run_end(text, t, false);
    (text.is_gap(end) && is_connector(text, end + 1))
        || (text.is(end, ",") && text.is_gap(end + 1) && name_like(text, end + 2))
}

fn organisations(text: &Text, out: &mut Vec<Finding>) -> Vec<(usize, usize)> {
    let n = text.tokens.len();
    let mut spans = Vec::new();
    let mut t = 0;
    while t < n {
        let tok = text.tokens[t];
        // Suffix: walk back.
        if t >= 2 && may_start_suffix(text, t) {
            let joined = if text.is_narrow_gap(t - 1)
                && (name_like(text, t - 2) || text.is(t - 2, ")"))
            {
                Some(t - 2)
            } else if t >= 3 && text.is_gap(t - 1) && text.is(t - 2, ",") && name_like(text, t - 3)
            {
                Some(t - 3)
            } else {
                None
            };
            if let Some((last, mut end)) = joined.and_then(|last| Some((last, suffix_at(text, t)?)))
            {
                // `Ortega Ltd S.A.`: suffixes in a row.
                loop {
                    let next = token_at(text, end);
                    match (text.is_gap(next), suffix_at(text, next + 1)) {
                        (true, Some(e)) => end = e,
                        _ => break,
                    }
                }
                let start = org_start(text, last);
                let start = text.tokens[skip_stop_words(text, start, last)].start();
                found(out, &mut spans, (start, end), 0.9, STRUCTURE);
                t = token_at(text, end);
                continue;
            }
        }
        // A suffix written onto the last word: `Maxell HoldingsLtd.`, `IPSInc.`.
        if tok.class == Class::Word
            && text.is_capitalised(t)
            && let Some(mut end) = glued_suffix(text.str(t)).map(|_| tok.end())
        {
            if text.is(t + 1, ".") {
                end += 1;
            }
            let start = text.tokens[skip_stop_words(text, org_start(text, t), t)].start();
            found(out, &mut spans, (start, end), 0.85, STRUCTURE);
            t = token_at(text, end);
            continue;
        }
        // Named as a company just after: `Zayas, Brito y Abreu, NIT`,
        // `Muñoz-Patiño, sociedad con`.
        if name_like(text, t) && !(t >= 2 && (text.is(t - 1, "-") || name_like(text, t - 2))) {
            let end_tok = run_end(text, t, true);
            let end = text.tokens[end_tok - 1].end();
            let after = &text.src.as_bytes()[end..];
            let named = AFTER_ORG.iter().any(|c| {
                after.len() >= c.len() && after[..c.len()].eq_ignore_ascii_case(c.as_bytes())
            });
            if named {
                found(out, &mut spans, (tok.start(), end), 0.8, CONTEXT);
                t = end_tok;
                continue;
            }
        }
        // Prefix (`Grupo Éxito`) or cue (`la sociedad Zayas, Brito y Abreu`).
        if text.is_capitalised(t) {
            // The name after a prefix, maybe after particles: `Facultad de
            // Medicina`, `Complejo Hospitalario de la Bahía`.
            let mut named = t + 2;
            while text.is_gap(named - 1) && is_particle(text, named) && text.is_gap(named + 1) {
                named += 2;
            }
            let prefix = text.has_flag(t, list::ORG_PREFIX)
                && text.is_gap(t + 1)
                && text.is_capitalised(named);
            let cue = !prefix && text.flags_before(t, 1) & list::ORG_CUE != 0 && name_like(text, t);
            if prefix || cue {
                let mut end_tok = run_end(text, if prefix { named } else { t }, true);
                let mut end = text.tokens[end_tok - 1].end();
                if text.is_gap(end_tok)
                    && let Some(e) = suffix_at(text, end_tok + 1)
                {
                    end = e;
                    end_tok = token_at(text, e);
                }
                let confidence = if prefix { 0.8 } else { 0.75 };
                found(out, &mut spans, (tok.start(), end), confidence, CONTEXT);
                t = end_tok;
                continue;
            }
        }
        t += 1;
    }
    spans
}

/// An organisation at `span`, reported and remembered for the person pass.
fn found(
    out: &mut Vec<Finding>,
    spans: &mut Vec<(usize, usize)>,
    (start, end): (usize, usize),
    confidence: f32,
    strength: u8,
) {
    out.push(Finding {
        start,
        end,
        kind: Kind::Organisation,
        confidence,
        strength,
    });
    spans.push((start, end));
}

/// Company suffixes that lists of companies write onto the name.
const GLUED: &[&str] = &["Ltd", "Inc", "Limited", "LTD", "INC", "LIMITED"];

/// The suffix at the end of a word such as `HoldingsLtd` or `IPSInc`, after
/// at least three letters of name.
fn glued_suffix(word: &str) -> Option<&'static str> {
    // Each ends in `d` or `c`, of either case.
    if !word.ends_with(['d', 'c', 'D', 'C']) {
        return None;
    }
    GLUED.iter().copied().find(|g| {
        word.len() >= g.len() + 3
            && word.ends_with(g)
            && word.is_char_boundary(word.len() - g.len())
    })
}

/// Drop leading function words (`El`, `La`) from a run that starts at `start`.
fn skip_stop_words(text: &Text, mut start: usize, last: usize) -> usize {
    while start < last && !text.is_name_like(start) {
        start += 1;
        while start < last && text.tokens[start].class != Class::Word {
            start += 1;
        }
    }
    start
}

/// `shapes`: whether capitalised words that no list holds may be taken for a
/// name by their shape alone, as in English, which capitalises little else.
fn people(text: &Text, orgs: &[(usize, usize)], shapes: bool, out: &mut Vec<Finding>) {
    let n = text.tokens.len();
    let mut t = 0;
    let (mut words, mut known) = (Vec::with_capacity(6), Vec::with_capacity(6));
    // The organisations not yet passed; `t` only moves forward.
    let mut orgs = orgs.iter().peekable();
    while t < n {
        if !text.is_capitalised(t) {
            t += 1;
            continue;
        }
        let at = text.tokens[t].start();
        while orgs.next_if(|&&(_, end)| end <= at).is_some() {}
        if orgs.peek().is_some_and(|&&(start, _)| start <= at) {
            t += 1;
            continue;
        }
        // A title or greeting before the name is a cue, not part of it.
        if text.has_flag(t, list::TITLE) || text.has_flag(t, list::STOP_WORD) {
            t += 1;
            continue;
        }
        // The run: name words, particles between them, initials.
        words.clear();
        words.push(t);
        let mut end = t + 1;
        loop {
            let next = if (text.is(end, "-")
                || text.is_gap(end) && initial(text, end + 1).is_none())
                && name_like(text, end + 1)
            {
                Some((end + 1, end + 2))
            } else if text.is_gap(end)
                && let Some(past) =
                    initial(text, end + 1).filter(|&p| text.is_gap(p) && name_like(text, p + 1))
            {
                Some((past + 1, past + 2))
            } else if text.is_gap(end)
                && text.is_gap(end + 2)
                && name_like(text, end + 3)
                && is_particle(text, end + 1)
                && !is_connector(text, end + 1)
            {
                Some((end + 3, end + 4))
            } else {
                None
            };
            match next {
                Some((word, past)) if words.len() < 6 => {
                    words.push(word);
                    end = past;
                }
                _ => break,
            }
        }
        known.clear();
        known.extend(words.iter().map(|&w| {
            (
                text.has_flag(w, list::GIVEN_NAME),
                text.has_flag(w, list::SURNAME),
            )
        }));
        let sentence_start = text.starts_sentence(t);
        // A sentence's first word is capitalised whatever it is: a frequent
        // word there (`Reply`, `Buena`, `Will`) counts as a name only when
        // another word of the run is one (`Rosa Martínez`) or a cue says so.
        if sentence_start
            && text.has_flag(t, list::COMMON)
            && !known[1..].iter().any(|k| k.0 || k.1)
        {
            known[0] = (false, false);
        }
        // `True`, `Page`, `Context Manager Types`: every word of the run is
        // also a frequent word, and nothing around it says person.
        let all_common = words.iter().all(|&w| text.has_flag(w, list::COMMON));
        let given_first = known[0].0;
        let any_known = known.iter().filter(|k| k.0 || k.1).count();
        // Places, peoples, days; words in capitals that are no known name.
        let not_name = words.iter().any(|&w| text.has_flag(w, list::NOT_NAME));
        let shouted = words.iter().zip(&known).any(|(&w, k)| {
            !(k.0 || k.1) && text.str(w).len() > 1 && !text.str(w).chars().any(char::is_lowercase)
        }) || words.len() == 1 && roman_numeral(text.str(t));
        let w1 = text.word_before(t);
        // `Sr.`, `Hola`, and kinship words: `su hija María`.
        let cue_before = w1.is_some_and(|w| text.has_flag(w, list::PERSON_CUE | list::RELATIVE))
            // `My name is Szonja Tot`
            || w1.is_some_and(|w| text.str(w).eq_ignore_ascii_case("is"))
                && w1
                    .and_then(|w| text.word_before(w))
                    .is_some_and(|w| text.str(w).eq_ignore_ascii_case("name"))
            || (t >= 2 && text.has_flag(t - 2, list::TITLE))
            || (t >= 3 && text.is(t - 2, ".") && text.has_flag(t - 3, list::TITLE));
        let after = &text.src.as_bytes()[text.tokens[end - 1].end()..];
        // Every cue after starts with `, ` or a space: most runs are done at the first byte.
        let cue_after = matches!(after.first(), Some(b',' | b' '))
            && AFTER_PERSON.iter().any(|c| {
                let c = c.as_bytes();
                after.len() >= c.len()
                    && after[2].eq_ignore_ascii_case(&c[2])
                    && after[..c.len()].eq_ignore_ascii_case(c)
            });
        // `Tamara shouted`, `Arya: What`, `Manlio's address`: a name at the
        // start of a sentence that does not start a capitalised phrase.
        let speaks = text.is(end, ":")
            || text.is(end, "'")
            || text.is(end, "’")
            || text.is(end, ",")
            || text.is_gap(end)
                && text.class(end + 1) == Some(Class::Word)
                && text.str(end + 1).starts_with(|c: char| c.is_lowercase());
        // A name alone on its line (`Leigha Mackay\n\n425 ...`).
        let own_line = (t == 0 || text.class(t - 1) == Some(Class::Break))
            && (end >= n || text.class(end) == Some(Class::Break));
        let confidence: f32 = match words.len() {
            _ if shouted || not_name && !cue_before => 0.0,
            1 => {
                let (g, s) = known[0];
                match (g || s, cue_before || cue_after) {
                    (true, true) => 0.85,
                    (false, true) => 0.7,
                    (true, false) if all_common => 0.0,
                    (true, false) if !sentence_start && g => 0.6,
                    (true, false) if !sentence_start => 0.5,
                    (true, false) if g && speaks => 0.6,
                    _ => 0.0,
                }
            }
            _ => match (given_first, any_known, cue_before || cue_after) {
                (true, k, _) if k >= 2 => 0.92,
                (true, _, true) => 0.9,
                (true, _, false) => 0.75,
                (false, k, true) if k >= 1 => 0.85,
                (false, _, true) => 0.7,
                (false, k, false) if k == words.len() => 0.6,
                (false, k, false) if k >= 1 && !sentence_start => 0.55,
                // The shape of a name: capitalised words that no list holds.
                (false, _, false) if shapes && !all_common && (!sentence_start || own_line) => 0.5,
                _ => 0.0,
            },
        };
        if confidence > 0.0 {
            out.push(Finding {
                start: text.tokens[t].start(),
                end: text.tokens[end - 1].end(),
                kind: Kind::Person,
                confidence,
                strength: if cue_before || cue_after {
                    CONTEXT - 1
                } else {
                    NAME
                },
            });
        }
        t = end;
    }
}

/// A Roman numeral in capitals (`II`, `IV`: a stage, a grade, a cranial
/// nerve), which the name lists hold as initials or short names.
fn roman_numeral(w: &str) -> bool {
    w.len() > 1 && w.bytes().all(|b| b"IVXLCDM".contains(&b))
}

/// `lang` is the caller's hint: names by shape alone only in English.
pub fn find(text: &Text, lang: &str, out: &mut Vec<Finding>) {
    let mut orgs = organisations(text, out);
    aliases(text.src, &mut orgs, out);
    people(text, &orgs, !matches!(lang, "es" | "pt"), out);
}

/// How far after an organisation's name its defined term may come, in bytes.
const ALIAS_WITHIN: usize = 400;

/// Defined terms of the organisations found (`(\"Accuray\")`, `(the
/// \u{201c}Siemens\u{201d})`) and every later use of them.
fn aliases(src: &str, orgs: &mut Vec<(usize, usize)>, out: &mut Vec<Finding>) {
    let named: Vec<(usize, usize)> = orgs.clone();
    let mut terms: Vec<&str> = Vec::new();
    for (i, &(start, end)) in named.iter().enumerate() {
        let name_words: Vec<String> = src[start..end]
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 3)
            .map(str::to_lowercase)
            .collect();
        let next_org = named.get(i + 1).map_or(src.len(), |n| n.0);
        let limit = src.floor_char_boundary((end + ALIAS_WITHIN).min(next_org).max(end));
        let window = &src[end..limit];
        for (open, _) in window.match_indices('(') {
            let inside = &window[open + 1..];
            let inside = inside.split(')').next().unwrap_or(inside);
            for quoted in inside
                .split(['"', '\u{201c}', '\u{201d}'])
                .skip(1)
                .step_by(2)
            {
                let term = quoted.trim();
                let first = term.split_whitespace().next().unwrap_or("").to_lowercase();
                let capitalised = term.starts_with(|c: char| c.is_uppercase());
                if capitalised
                    && term.len() >= 3
                    && name_words.contains(&first)
                    && !terms.contains(&term)
                {
                    terms.push(term);
                }
            }
        }
    }
    for term in terms {
        let mut from = 0;
        while let Some(at) = src[from..].find(term) {
            let start = from + at;
            let end = start + term.len();
            from = end;
            let bounded = !src[..start].ends_with(|c: char| c.is_alphanumeric())
                && !src[end..].starts_with(|c: char| c.is_alphanumeric());
            let inside_a_name = orgs.iter().any(|&(s, e)| s <= start && end <= e);
            if bounded && !inside_a_name {
                found(out, orgs, (start, end), 0.8, CONTEXT);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Kind, found};

    #[test]
    fn cues_after_a_person_start_with_a_comma_or_a_space_and_go_on() {
        for cue in super::AFTER_PERSON {
            assert!(cue.len() >= 3 && cue.starts_with([',', ' ']), "{cue}");
        }
    }

    #[test]
    fn a_defined_term_of_an_organisation_is_the_organisation() {
        let text = "entered into by and between ACCURAY  INCORPORATED, a Delaware corporation with its offices at 1310 Chesapeake Terrace (\"Accuray\"), and SIEMENS AKTIENGESELLSCHAFT, a corporation (\"Siemens\"). Accuray appoints Siemens as Distributor (the \"Distributor\").";
        let orgs: Vec<&str> = found(text)
            .into_iter()
            .filter(|(_, k)| *k == Kind::Organisation)
            .map(|(t, _)| t)
            .collect();
        for name in [
            "ACCURAY  INCORPORATED",
            "SIEMENS AKTIENGESELLSCHAFT",
            "Accuray",
            "Siemens",
        ] {
            assert!(orgs.contains(&name), "{name}: {orgs:?}");
        }
        assert!(!orgs.iter().any(|o| o.contains("Distributor")), "{orgs:?}");
    }

    #[test]
    fn organisations_by_suffix_prefix_and_cue() {
        assert_eq!(
            found("legal de Jiménez Group S. de R.L., NIT"),
            vec![("Jiménez Group S. de R.L.", Kind::Organisation)]
        );
        assert_eq!(
            found("A empresa García, Ruiz and Castro Ltda., inscrita"),
            vec![("García, Ruiz and Castro Ltda.", Kind::Organisation)]
        );
        assert_eq!(
            found("La sociedad Zayas, Brito y Abreu declara"),
            vec![("Zayas, Brito y Abreu", Kind::Organisation)]
        );
        assert_eq!(
            found("firmó con Osorio and Sons ayer"),
            vec![("Osorio and Sons", Kind::Organisation)]
        );
        assert_eq!(
            found("pagado por Grupo Éxito hoy"),
            vec![("Grupo Éxito", Kind::Organisation)]
        );
        assert_eq!(
            found("spent a year at ASAHI KOGYOSHA CO.LTD. as"),
            vec![("ASAHI KOGYOSHA CO.LTD.", Kind::Organisation)]
        );
        assert_eq!(
            found("works at Maxell HoldingsLtd. now"),
            vec![("Maxell HoldingsLtd.", Kind::Organisation)]
        );
        assert!(found("an UNLIMITED plan").is_empty());
    }

    #[test]
    fn people_by_lists_and_cues() {
        assert_eq!(
            found("Entre los suscritos, Alirio Salazar Martínez, mayor de edad"),
            vec![("Alirio Salazar Martínez", Kind::Person)]
        );
        assert_eq!(
            found("representada por Davi Lucas da Costa, CPF"),
            vec![("Davi Lucas da Costa", Kind::Person)]
        );
        assert_eq!(
            found("Hola Patricia, te escribo"),
            vec![("Patricia", Kind::Person)]
        );
        assert_eq!(
            found("I met Brodie Walker there"),
            vec![("Brodie Walker", Kind::Person)]
        );
        assert_eq!(
            found("Please call Katrine N Jessen now"),
            vec![("Katrine N Jessen", Kind::Person)]
        );
        assert!(found("El presente Contrato de Arrendamiento se firma").is_empty());
    }

    #[test]
    fn common_words_starting_a_sentence_are_not_names() {
        let people = |s| crate::found_kind(s, Kind::Person);
        for (text, want) in [
            ("Reply with just the name.", &[][..]),
            ("Buena evolución postoperatoria.", &[]),
            ("Informe clínico: Varón de 64 años.", &[]),
            ("Estadio II de la clasificación", &[]),
            ("Paz García vino ayer.", &["Paz García"]),
            ("It returns True when the Context Manager Types match.", &[]),
            ("firmado por Andrés el lunes", &["Andrés"]),
            ("Hola Luz, te escribo", &["Luz"]),
            ("acompañada de su madre Carmen y", &["Carmen"]),
            ("Nombre:  Pedro.\nApellidos: Rivera.", &["Pedro", "Rivera"]),
            (
                "Médico: Estefanía Romero Selas  NºCol",
                &["Estefanía Romero Selas"],
            ),
        ] {
            assert_eq!(people(text), want, "{text}");
        }
        assert_eq!(
            found("quien obra en nombre de Muñoz-Patiño, sociedad con NIT"),
            vec![("Muñoz-Patiño", Kind::Organisation)]
        );
        assert_eq!(
            found("Remitido por la Facultad de Medicina de Málaga."),
            vec![("Facultad de Medicina de Málaga", Kind::Organisation)]
        );
    }

    #[test]
    fn people_by_shape_cues_and_speech() {
        let en = |s| {
            crate::detect(s, "en", &crate::Options::default())
                .into_iter()
                .filter(|f| f.kind == Kind::Person)
                .map(|f| &s[f.start..f.end])
                .collect::<Vec<_>>()
        };
        assert_eq!(
            en("a huge fan of Hatsuho Yoneda today"),
            vec!["Hatsuho Yoneda"]
        );
        assert_eq!(en("My name is Szonja Tot"), vec!["Szonja Tot"]);
        assert_eq!(en("Tamara shouted at him"), vec!["Tamara"]);
        assert_eq!(en("Voleta Mailly\n425 Main Street"), vec!["Voleta Mailly"]);
        assert!(en("The White Stripes played in Spain").is_empty());
        assert!(en("we sold PRESS NEXT units").is_empty());
        assert!(en("Sales rose in the Czech Republic").is_empty());
        // Capitalised headings are not names in Spanish text.
        assert!(found("servicio de Medicina Interna del hospital").is_empty());
    }
}
