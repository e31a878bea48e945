//! Dates as a contract writes them, read as ISO 8601 (`YYYY-MM-DD`):
//! `March 3, 2015`, `3rd day of March, 2015`, `3 March 2015`, `6/21/1999`
//! (month first, as US contracts write it), `2015-03-03`, `15 de enero de
//! 2021`, `15 de janeiro de 2021`. Impossible dates (`February 30`) are
//! left out.

use std::sync::LazyLock;

use regex::Regex;

const MONTHS: [(&str, u32); 47] = [
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("may", 5),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sept", 9),
    ("sep", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
    ("enero", 1),
    ("febrero", 2),
    ("marzo", 3),
    ("abril", 4),
    ("mayo", 5),
    ("junio", 6),
    ("julio", 7),
    ("agosto", 8),
    ("septiembre", 9),
    ("setiembre", 9),
    ("octubre", 10),
    ("noviembre", 11),
    ("diciembre", 12),
    ("janeiro", 1),
    ("fevereiro", 2),
    ("março", 3),
    ("maio", 5),
    ("junho", 6),
    ("julho", 7),
    ("setembro", 9),
    ("outubro", 10),
    ("novembro", 11),
    ("dezembro", 12),
];

fn month(name: &str) -> Option<u32> {
    let name = name.to_lowercase();
    MONTHS.iter().find(|(m, _)| *m == name).map(|(_, n)| *n)
}

/// The written forms, each with the order of its year, month and day groups.
static FORMS: LazyLock<Vec<(Regex, [usize; 3])>> = LazyLock::new(|| {
    let mut names: Vec<&str> = MONTHS.iter().map(|(m, _)| *m).collect();
    names.sort_by_key(|m| std::cmp::Reverse(m.len()));
    let month = names.join("|");
    let day = r"(\d{1,2})(?:st|nd|rd|th)?";
    let form = |pattern: String, order: [usize; 3]| {
        (
            Regex::new(&format!("(?i){pattern}")).expect("the date patterns are valid"),
            order,
        )
    };
    vec![
        // March 3, 2015
        form(
            format!(r"\b({month})\.?\s+{day},?\s+(\d{{4}})\b"),
            [3, 1, 2],
        ),
        // 3rd day of March, 2015; 3 March 2015
        form(
            format!(r"\b{day}\s+(?:day\s+of\s+)?({month})\.?,?\s+(\d{{4}})\b"),
            [3, 2, 1],
        ),
        // 15 de enero de 2021
        form(
            format!(r"\b(\d{{1,2}})\s+de\s+({month})\s+del?\s+(\d{{4}})\b"),
            [3, 2, 1],
        ),
        // 6/21/1999
        form(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b".into(), [3, 1, 2]),
        // 2015-03-03
        form(r"\b(\d{4})-(\d{2})-(\d{2})\b".into(), [1, 2, 3]),
    ]
});

/// The dates in `text`, as ISO 8601, each once, in the order they appear.
pub fn find(text: &str) -> Vec<String> {
    located(text).into_iter().map(|(_, date)| date).collect()
}

/// The dates in `text`, each once with the byte offset where it is first
/// written, in that order.
pub fn located(text: &str) -> Vec<(usize, String)> {
    let mut found: Vec<(usize, String)> = Vec::new();
    for (pattern, [y, m, d]) in FORMS.iter() {
        for captures in pattern.captures_iter(text) {
            let group = |i: usize| captures.get(i).map_or("", |g| g.as_str());
            let number = |s: &str| s.parse::<u32>().ok();
            let (Some(year), Some(day)) = (number(group(*y)), number(group(*d))) else {
                continue;
            };
            let Some(month) = number(group(*m)).or_else(|| month(group(*m))) else {
                continue;
            };
            if let Some(date) = iso(year, month, day) {
                let at = captures.get(0).map_or(0, |g| g.start());
                found.push((at, date));
            }
        }
    }
    found.sort();
    let mut dates: Vec<(usize, String)> = Vec::new();
    for (at, date) in found {
        if !dates.iter().any(|(_, d)| *d == date) {
            dates.push((at, date));
        }
    }
    dates
}

/// Whether `value` is written `YYYY-MM-DD`.
pub fn is_iso(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn iso(year: u32, month: u32, day: u32) -> Option<String> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    ((1900..2100).contains(&year) && (1..=days).contains(&day))
        .then(|| format!("{year:04}-{month:02}-{day:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_dates_become_iso_in_the_order_they_appear() {
        let text = "This Agreement is entered into as of March 3, 2015 (the \"Effective Date\"), \
                    amended on the 21st day of June, 1999 and on 6/21/1999; signed 2020-02-29. \
                    Se celebra el presente contrato el 15 de enero de 2021, em 1 de março de 2022. \
                    Not a date: February 30, 2015 or 13/40/2001; again March 3, 2015.";
        assert_eq!(
            find(text),
            [
                "2015-03-03",
                "1999-06-21",
                "2020-02-29",
                "2021-01-15",
                "2022-03-01"
            ]
        );
    }
}
