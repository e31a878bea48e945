//! Dates: numeric ones (`25/10/2021`, `2010-01-03`, `5/5/1945`) are judged
//! by [`numeric`] from the digit groups; dates in words (`21 de octubre de
//! 2020`, `1º de janeiro de 2020`, `March 3, 2021`, `3 March 2021`) are
//! found by [`find`].

use crate::lexicon::list;
use crate::strength::EXACT_SHAPE;
use crate::text::{Class, Text};
use crate::{Finding, Kind};

fn valid(day: u32, month: u32) -> bool {
    (1..=31).contains(&day) && (1..=12).contains(&month)
}

/// Whether digit groups joined by `seps` form a date; its confidence.
pub fn numeric(groups: &[&str], seps: &[char]) -> Option<f32> {
    if groups.len() != 3 || seps[0] != seps[1] || !matches!(seps[0], '/' | '-' | '.') {
        return None;
    }
    let n = [0, 1, 2].map(|i| groups[i].parse::<u32>().unwrap_or(0));
    match [0, 1, 2].map(|i| groups[i].len()) {
        // Year first: 2010-01-03.
        [4, 1..=2, 1..=2] if valid(n[2], n[1]) => Some(0.95),
        // Day or month first, then the year: 25/10/2021, 1/16/1986, 05.02.05.
        [1..=2, 1..=2, 4] if valid(n[0], n[1]) || valid(n[1], n[0]) => Some(0.95),
        [1..=2, 1..=2, 2] if seps[0] == '/' && (valid(n[0], n[1]) || valid(n[1], n[0])) => {
            Some(0.8)
        }
        _ => None,
    }
}

/// A time of day after the gap at `t` (`09:56`, `20:45:30.058091`): the token past it.
pub fn time_after(text: &Text, t: usize) -> Option<usize> {
    let two_digits = |i: usize| text.class(i) == Some(Class::Number) && text.str(i).len() == 2;
    if !text.is_gap(t)
        || !number_in(text, t + 1, 0..=23)
        || !text.is(t + 2, ":")
        || !two_digits(t + 3)
    {
        return None;
    }
    let mut end = t + 4;
    if text.is(end, ":") && two_digits(end + 1) {
        end += 2;
        if text.is(end, ".") && text.class(end + 1) == Some(Class::Number) {
            end += 2;
        }
    }
    Some(end)
}

fn number_in(text: &Text, t: usize, range: std::ops::RangeInclusive<u32>) -> bool {
    text.class(t) == Some(Class::Number)
        && text.str(t).parse::<u32>().is_ok_and(|n| range.contains(&n))
}

/// A day of the month, also as an ordinal written in one token (`1º`, `3rd`).
fn day_at(text: &Text, t: usize) -> bool {
    if number_in(text, t, 1..=31) {
        return true;
    }
    if text.class(t) != Some(Class::Alnum) {
        return false;
    }
    let s = text.str(t);
    let digits = s.trim_end_matches(|c: char| !c.is_ascii_digit());
    matches!(&s[digits.len()..], "º" | "o" | "st" | "nd" | "rd" | "th")
        && digits.parse::<u32>().is_ok_and(|n| (1..=31).contains(&n))
}

fn is_word(text: &Text, t: usize, words: &[&str]) -> bool {
    text.class(t) == Some(Class::Word) && words.iter().any(|w| text.str(t).eq_ignore_ascii_case(w))
}

/// `t` at a year (four digits) after `de `, `del `, `, ` or ` `: the token past it.
fn year_after(text: &Text, t: usize) -> Option<usize> {
    let mut i = t;
    if text.is(i, ",") {
        i += 1;
    }
    if !text.is_gap(i) {
        return None;
    }
    i += 1;
    if is_word(text, i, &["de", "del", "of"]) && text.is_gap(i + 1) {
        i += 2;
    }
    (text.class(i) == Some(Class::Number) && text.str(i).len() == 4).then_some(i + 1)
}

pub fn find(text: &Text, out: &mut Vec<Finding>) {
    let n = text.tokens.len();
    let mut t = 0;
    while t < n {
        let tok = text.tokens[t];
        // 21 de octubre [de 2020] | 1º de janeiro | 3 March 2021
        if matches!(tok.class, Class::Number | Class::Alnum) && day_at(text, t) {
            let mut i = t + 1;
            if matches!(text.class(i), Some(Class::Word | Class::Punct))
                && matches!(text.str(i), "º" | "°" | "o" | "st" | "nd" | "rd" | "th")
            {
                i += 1;
            }
            let mut m = None;
            if text.is_gap(i)
                && is_word(text, i + 1, &["de", "of"])
                && text.is_gap(i + 2)
                && text.has_flag(i + 3, list::MONTH)
            {
                m = Some(i + 3);
            } else if text.is_gap(i) && text.has_flag(i + 1, list::MONTH) {
                m = Some(i + 1);
            }
            if let Some(m) = m {
                let end_tok = year_after(text, m + 1).unwrap_or(m + 1);
                let confidence = if end_tok > m + 1 { 0.95 } else { 0.75 };
                out.push(Finding {
                    start: tok.start(),
                    end: text.tokens[end_tok - 1].end(),
                    kind: Kind::Date,
                    confidence,
                    strength: EXACT_SHAPE,
                });
                t = end_tok;
                continue;
            }
        }
        // March 3, 2021 | Mar. 3rd 2021 | octubre de 2020
        if text.has_flag(t, list::MONTH) {
            let mut i = t + 1;
            if text.is(i, ".") {
                i += 1;
            }
            if text.is_gap(i) && day_at(text, i + 1) {
                let mut j = i + 2;
                if matches!(text.str(j.min(n - 1)), "st" | "nd" | "rd" | "th") && j < n {
                    j += 1;
                }
                if let Some(end_tok) = year_after(text, j) {
                    out.push(Finding {
                        start: tok.start(),
                        end: text.tokens[end_tok - 1].end(),
                        kind: Kind::Date,
                        confidence: 0.95,
                        strength: EXACT_SHAPE,
                    });
                    t = end_tok;
                    continue;
                }
            }
            if let Some(end_tok) = year_after(text, t + 1).filter(|_| text.str(t).len() > 3) {
                out.push(Finding {
                    start: tok.start(),
                    end: text.tokens[end_tok - 1].end(),
                    kind: Kind::Date,
                    confidence: 0.6,
                    strength: EXACT_SHAPE,
                });
                t = end_tok;
                continue;
            }
        }
        t += 1;
    }
}

#[cfg(test)]
mod tests {
    use crate::{Kind, found_kind};

    fn dates(s: &str) -> Vec<&str> {
        found_kind(s, Kind::Date)
    }

    #[test]
    fn dates_in_three_languages() {
        assert_eq!(
            dates("firmado el 21 de octubre de 2020 por"),
            vec!["21 de octubre de 2020"]
        );
        assert_eq!(
            dates("vence el 15 de enero de 2024 y"),
            vec!["15 de enero de 2024"]
        );
        assert_eq!(
            dates("em 1º de janeiro de 2020, por"),
            vec!["1º de janeiro de 2020"]
        );
        assert_eq!(
            dates("on March 3, 2021 and 3 March 2021."),
            vec!["March 3, 2021", "3 March 2021"]
        );
        assert_eq!(
            dates("el 25/10/2021 y el 2010-01-03"),
            vec!["25/10/2021", "2010-01-03"]
        );
        assert!(dates("el 45/10/2021").is_empty());
        assert_eq!(
            dates("at 2018-03-30 09:56:50.532667 and 2020-01-02 10:30."),
            vec!["2018-03-30 09:56:50.532667", "2020-01-02 10:30"]
        );
    }
}
