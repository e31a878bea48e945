//! Dated page furniture: the running headers and footers a paginated
//! document repeats with a date in them, such as a filing stamp (`Source:
//! ACME CORP, 10-K, 3/6/2020`). Their date is the day the document was
//! filed or printed, not the day it was signed, so no date is read there.
//!
//! A line is such furniture when it writes a date and the same text
//! (spaces aside) stands alone on a line at least twice, the first and the
//! last time pages apart (signature blocks repeat too, but close
//! together); the same text is furniture wherever else it stands, such as
//! glued to the end of a line. A title repeated as a page header writes no
//! date and stays.

use std::borrow::Cow;
use std::collections::HashMap;

use super::dates;

/// Bytes between a line's first and last appearance for them to be on
/// different pages: more than one signature block spans.
const PAGES_APART: usize = 1500;
/// Shorter lines (`Date: 3/6/2020` under a signature) say nothing worth hiding.
const SHORTEST: usize = 20;

/// `document` with its dated furniture blanked to spaces of the same
/// length, so byte offsets still point at the same text; borrowed when
/// there is none.
pub fn blank(document: &str) -> Cow<'_, str> {
    let mut seen: HashMap<String, (usize, usize, &str)> = HashMap::new();
    for (start, end) in lines(document) {
        let line = document[start..end].trim();
        let key = key(line);
        if key.len() >= SHORTEST {
            seen.entry(key)
                .and_modify(|(_, last, _)| *last = start)
                .or_insert((start, start, line));
        }
    }
    let mut texts: Vec<&str> = seen
        .into_values()
        .filter(|&(first, last, line)| last - first >= PAGES_APART && !dates::find(line).is_empty())
        .map(|(_, _, line)| line)
        .collect();
    if texts.is_empty() {
        return Cow::Borrowed(document);
    }
    texts.sort_unstable();
    let mut out = document.as_bytes().to_vec();
    for text in texts {
        for (at, _) in document.match_indices(text) {
            out[at..at + text.len()].fill(b' ');
        }
    }
    Cow::Owned(String::from_utf8(out).expect("whole UTF-8 runs became ASCII spaces"))
}

/// Each line's byte range, without its line break.
fn lines(document: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for line in document.split_inclusive('\n') {
        let text = line.trim_end_matches(['\n', '\r']);
        out.push((start, start + text.len()));
        start += line.len();
    }
    out
}

fn key(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dated_line_repeated_pages_apart_is_blanked_wherever_it_stands() {
        let stamp = "Source: ACME CORP, 10-K, 3/6/2020";
        let page = "The parties agree as follows. ".repeat(60);
        let document = format!(
            "SUPPLY AGREEMENT\ndated March 1, 2019\nCONTENTS 1. Supply. 2 {stamp}\n{page}\n{stamp}\n\
             SUPPLY AGREEMENT\n{page}\n  {stamp}  \nSUPPLY AGREEMENT\n"
        );
        let blanked = blank(&document);
        assert_eq!(blanked.len(), document.len());
        assert!(!blanked.contains("Source:"), "{blanked}");
        assert!(blanked.contains("CONTENTS 1. Supply. 2 "));
        assert_eq!(dates::find(&blanked), ["2019-03-01"]);
        // A header without a date is not furniture: the title stays.
        assert_eq!(blanked.matches("SUPPLY AGREEMENT").count(), 3);
        let at = document.find("dated").unwrap();
        assert_eq!(&blanked[at..at + 5], "dated");
    }

    #[test]
    fn signature_blocks_and_short_lines_stay() {
        let block = "By: /s/ Jane Roe, Chief Executive Officer, March 1, 2019\nDate: 3/1/2019\n";
        let document = format!("{block}{block}\n{}\nDate: 3/1/2019\n", "x ".repeat(1000));
        assert!(matches!(blank(&document), Cow::Borrowed(_)));
    }
}
