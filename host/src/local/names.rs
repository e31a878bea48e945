//! The names a contract's opening writes, as candidates for its parties:
//! every run of capitalised words (`Hanover Direct, Inc.`, `IREYA B.V`,
//! `Gregory P. Spivy`, `ANDINA SOLUCIONES S.A.S.`), joined by the small
//! words names hold (`of`, `de`, `&`), and every part of such a run, since
//! a run often carries a title or an address with the name
//! (`AGREEMENT Hanover Direct, Inc.`). A parenthesis, a quote or a
//! semicolon ends a run: `("Distributor")` is a defined term, not part of
//! the name before it. The model then chooses among names the contract
//! writes instead of writing one of its own.

/// Small words inside a name (`Bank of America`, `Banco de Bogotá`).
const JOINS: [&str; 15] = [
    "of", "de", "del", "la", "las", "los", "and", "&", "the", "y", "e", "für", "van", "der",
    "d/b/a",
];
/// Words in a part at most.
const LONGEST: usize = 8;
/// Characters trimmed from a name's ends.
const TRIM: &[char] = &[',', ';', ':', '(', ')', '"', '“', '”', '\'', '’', '[', ']'];

/// The runs and their parts in the first `bytes` of `document`, in the
/// order they first appear, each once.
pub fn find(document: &str, bytes: usize) -> Vec<String> {
    let opening = &document[..document.floor_char_boundary(bytes.min(document.len()))];
    let mut out: Vec<String> = Vec::new();
    for run in runs(opening) {
        for start in 0..run.len() {
            for end in start + 1..=run.len().min(start + LONGEST) {
                let words = &run[start..end];
                // `The Deerskin Companies, Inc.` starts with a capitalised join.
                let first_joins = is_join(words[0]) && !capitalised(words[0]);
                if first_joins || is_join(words[words.len() - 1]) {
                    continue;
                }
                let name = words.join(" ").trim_matches(TRIM).to_string();
                // `Beta LLC.` may end a sentence or an abbreviation: offer both.
                let bare = name.strip_suffix('.').map(str::to_string);
                for name in std::iter::once(name).chain(bare) {
                    if name.chars().count() >= 2 && !out.contains(&name) {
                        out.push(name);
                    }
                }
            }
        }
    }
    out
}

/// Maximal runs of capitalised words (and joins between them).
fn runs(text: &str) -> Vec<Vec<&str>> {
    let mut out = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    fn close<'t>(run: &mut Vec<&'t str>, out: &mut Vec<Vec<&'t str>>) {
        while run.last().is_some_and(|w| is_join(w)) {
            run.pop();
        }
        if !run.is_empty() {
            out.push(std::mem::take(run));
        }
    }
    for word in text.split_whitespace() {
        // A clause number (`1.`, `10.5`) ends a run and names nothing.
        if word
            .trim_end_matches('.')
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            close(&mut run, &mut out);
            continue;
        }
        let opens = word.starts_with(['(', '"', '“', '[']);
        if opens {
            close(&mut run, &mut out);
        }
        let core = word.trim_matches(TRIM);
        let capitalised = capitalised(core);
        if opens && !capitalised {
            continue;
        }
        if capitalised || (!run.is_empty() && is_join(core)) {
            run.push(word.trim_start_matches(['(', '"', '“', '[']));
            let tail = word.trim_end_matches([',', '.']);
            if tail.ends_with([')', ';', ':', '"', '”', ']']) {
                close(&mut run, &mut out);
            }
        } else {
            close(&mut run, &mut out);
        }
    }
    close(&mut run, &mut out);
    out
}

/// Upper/lower case, punctuation and spacing do not count: lower case,
/// letters and digits only, single spaces (`ACME, INC.` is `acme inc`).
pub fn normalise(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn capitalised(word: &str) -> bool {
    word.trim_matches(TRIM)
        .chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
}

fn is_join(word: &str) -> bool {
    JOINS.contains(&word.trim_matches(TRIM).to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_capitalised_words_and_their_parts_are_names() {
        let opening = "SITE DEVELOPMENT AND HOSTING AGREEMENT 1. This Agreement is made between Hanover Direct, Inc., a Delaware corporation (\"Hanover\"), and The Deerskin Companies, Inc. (\"Deerskin\"); Gregory P. Spivy signs as agent of Bank of America.";
        let names = find(opening, 4000);
        for name in [
            "Hanover Direct, Inc.",
            "The Deerskin Companies, Inc.",
            "Deerskin Companies, Inc.",
            "Gregory P. Spivy",
            "Bank of America",
            "SITE DEVELOPMENT AND HOSTING AGREEMENT",
        ] {
            assert!(names.contains(&name.to_string()), "{name} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("Hanover\"")), "{names:?}");
        assert!(
            !names.iter().any(|n| n.contains("1.")),
            "a clause number ends a run: {names:?}"
        );
        assert!(names.contains(&"Bank of America.".to_string()));
        assert!(
            !names
                .iter()
                .any(|n| n.ends_with(" of") || n.starts_with("of ")),
            "{names:?}"
        );
        assert!(
            names.contains(&"Hanover".to_string()),
            "a defined term is a name of its own"
        );

        let spanish = "CONTRATO entre ANDINA SOLUCIONES S.A.S., sociedad domiciliada en Bogotá, y Carlos Restrepo";
        let names = find(spanish, 4000);
        assert!(
            names.contains(&"ANDINA SOLUCIONES S.A.S.".to_string()),
            "{names:?}"
        );
        assert!(names.contains(&"Carlos Restrepo".to_string()), "{names:?}");
        assert!(find(spanish, 10).iter().all(|n| n.len() <= 10));
    }
}
