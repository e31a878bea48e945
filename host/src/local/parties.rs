//! The parties a contract's opening defines: a name followed by the term
//! the contract will call it by, `Acme Supply, Inc., a Delaware
//! corporation ("Supplier")`, `IREYA B.V (the "Consultant")`. Where the
//! opening defines two or more such names that read as legal entities (a
//! company form such as `Inc.`, `LLC`, `B.V.`, `S.A.S.`, or a name in
//! capitals), they are the parties, in the order the contract gives them,
//! and the model is left only their roles to write (see
//! [`super::candidates`]); otherwise the model chooses among the names
//! the opening writes ([`super::names`]).
//!
//! Spanish and Portuguese preambles define their parties in words as often
//! as in brackets (`ANDINA SOLUCIONES S.A.S., quien en adelante se
//! denominará EL CONTRATANTE`; `doravante denominada CONTRATADA`); both are
//! read. The preamble is read up to its recitals (`WHEREAS`, `RECITALS`,
//! `NOW, THEREFORE`, `CONSIDERANDO`, `CLÁUSULAS`); a defined term that names a thing (`the
//! "Agreement"`, `the "Effective Date"`, `the "Territory"`) defines no
//! party.

use std::sync::LazyLock;

use regex::Regex;

use super::candidates::DOCUMENT_WORDS;
use super::names::normalise;

/// The opening searched, in bytes.
const OPENING_BYTES: usize = 5000;
/// Defined names read, at most, before those that are no entity are dropped.
const NAMES_READ: usize = 6;
/// Parties defined at most (the schema's own bound is checked again).
const MOST: usize = 4;

/// `("Supplier")`, `(the "Company")`, `(hereinafter referred to as "X")`,
/// `(en adelante "EL ARRENDADOR")`; or, in Spanish and Portuguese, without
/// brackets: `quien en adelante se denominará EL CONTRATANTE`,
/// `doravante denominada CONTRATADA`.
static DEFINED_TERM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"\(\s*(?:(?:the|this|hereinafter(?: (?:referred to|called))?(?: as)?(?: the)?|each|individually|collectively,?(?: the)?|herein(?:after)? (?:called|referred to as)(?: the)?|(?:que |quien )?(?:en adelante|doravante)(?: se)?(?: (?:denominará|denominado|denominada|llamará|llamado|llamada|designado|designada))?(?: como)?)\s+)?["“”'‘’]\s*([^"“”'‘’)]{1,60}?)\s*["“”'‘’]|,?\s+(?:(?:quien|que|el cual|la cual|o qual|a qual)\s+)?(?:en adelante|de aquí en adelante|doravante)\s*,?\s*(?:se\s+)?(?:denominará|denominado|denominada|llamará|llamado|llamada|designado|designada|simplemente)?\s*(?:como\s+)?["“]?((?:EL|LA|LOS|LAS|O|A|OS|AS)\s+[A-ZÁÉÍÓÚÑÇ]{2,}(?:\s+[A-ZÁÉÍÓÚÑÇ]{2,}){0,3}|[A-ZÁÉÍÓÚÑÇ]{3,}(?:\s+[A-ZÁÉÍÓÚÑÇ]{2,}){0,3})\b["”]?"#,
    )
    .expect("the defined-term pattern is valid")
});

/// Where the preamble ends.
static RECITALS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bWHEREAS\b|\bRECITALS\b|\bW I T N E S S E T H\b|\bWITNESSETH\b|\bNOW,? THEREFORE\b|\bBACKGROUND\b|\bCONSIDERANDO\b|\bANTECEDENTES\b|\bCONSIDERANDOS\b|\bCLÁUSULAS\b")
        .expect("the recitals pattern is valid")
});

/// What follows a name and describes it (`, a Delaware corporation`,
/// `having its office at`, an address in parentheses).
static DESCRIPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#",?\s+(?:a|an|having|with|located|whose|organized|organised|incorporated|existing|duly|which|that|acting|its|together|formerly|on behalf|each|being|as|registered|represented|hereinafter|in its|sociedad|domiciliad[oa]|identificad[oa]|mayor de edad|con domicilio|representad[oa]|constituid[oa]|empresa|persona|inscrit[oa]|NIT|C\.C|CNPJ|CPF|com sede|inscrita)\b|\s+\([^"“]"#)
        .expect("the description pattern is valid")
});

/// A legal entity's form, in any case.
static ENTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:inc|incorporated|corp|corporation|company|co|llc|lp|llp|ltd|limited|plc|gmbh|ag|sa|bv|nv|sas|ltda|bank|trust|university|holdings?|group|association|fund|srl|spa|pte|pty|l\.p|s\.a|b\.v|n\.v)\b")
        .expect("the entity pattern is valid")
});

/// Defined terms that name a thing, not a party.
const THINGS: [&str; 20] = [
    "agreement",
    "effective date",
    "parties",
    "party",
    "term",
    "territory",
    "products",
    "product",
    "services",
    "contract",
    "closing",
    "closing date",
    "execution date",
    "commencement date",
    "plan",
    "notes",
    "shares",
    "offering",
    "fdic",
    "sec",
];

/// Small words inside a name.
const JOINS: [&str; 18] = [
    "of", "de", "del", "la", "and", "&", "the", "d/b/a", "dba", "f/k/a", "y", "e", "für", "van",
    "der", "du", "des", "et",
];

/// The parties the opening of `document` defines, in its order, when it
/// defines at least two; else none.
pub fn defined(document: &str) -> Vec<String> {
    let opening = &document[..document.floor_char_boundary(OPENING_BYTES.min(document.len()))];
    let mut text = opening.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(end) = RECITALS.find_at(&text, 0).filter(|m| m.start() > 200) {
        text.truncate(end.start());
    }
    let mut names: Vec<String> = Vec::new();
    let mut last = 0;
    for term in DEFINED_TERM.captures_iter(&text) {
        let whole = term.get(0).expect("a match");
        let defined = term.get(1).or(term.get(2)).map_or("", |m| m.as_str());
        let before = &text[last..whole.start()];
        last = whole.end();
        let lower = defined.trim().to_lowercase();
        if THINGS.contains(&lower.as_str())
            || ["agreement", "date", "contrato", "fecha", "inmueble"]
                .iter()
                .any(|thing| lower.contains(thing))
            || lower.bytes().any(|b| b.is_ascii_digit())
        {
            continue;
        }
        let name = tidy(&name_before(before));
        let key = normalise(&name);
        if name.chars().count() < 2
            || name.chars().count() > 100
            || key == "the"
            || key == "this"
            || !names_someone(&name)
            || names.iter().any(|n| normalise(n) == key)
        {
            continue;
        }
        names.push(name);
    }
    let entities: Vec<String> = names
        .into_iter()
        .take(NAMES_READ)
        .filter(|n| ENTITY.is_match(n) || (in_capitals(n) && n.split(' ').count() >= 2))
        .take(MOST)
        .collect();
    if entities.len() >= 2 {
        entities
    } else {
        Vec::new()
    }
}

/// A name as its run caught it, without what is not part of it: what
/// ends before a closing bracket or quote (`Seller, "Arizona") and AHF
/// Holding, Inc.` is `AHF Holding, Inc.`; `LOGO APPEARS HERE] ACME CO` is
/// `ACME CO`), an address before `and` (`235 East 42nd Street, New York
/// 10017 and Exact Sciences Corporation`), an enumerator (`(1) BICYCLETX
/// LIMITED`) and joins at either end (`The Bon-Ton Stores, Inc. and`).
fn tidy(name: &str) -> String {
    let name = match name.rfind([')', ']', '>', '"', '”']) {
        Some(at) => &name[at + 1..],
        None => name,
    };
    let name = ENUMERATOR.replace(name.trim(), "");
    let mut words: Vec<&str> = name.split_whitespace().collect();
    if words
        .first()
        .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        && let Some(and) = words.iter().rposition(|w| w.eq_ignore_ascii_case("and"))
    {
        words.drain(..=and);
    }
    let join = |w: &&str| JOINS.contains(&w.trim_matches([',', ':', ';']).to_lowercase().as_str());
    // `The Deerskin Companies, Inc.` starts with its own article.
    while words
        .first()
        .is_some_and(|w| join(w) && !w.starts_with('T'))
    {
        words.remove(0);
    }
    while words.last().is_some_and(join) {
        words.pop();
    }
    words
        .join(" ")
        .trim_matches([',', ';', ':', ' '])
        .to_string()
}

/// `(1)`, `2.`, `(b)` before a name.
static ENUMERATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:\(\d{1,2}\)|\d{1,2}[.)]|\([a-z]\))\s+")
        .expect("the enumerator pattern is valid")
});

/// Whether a name can name someone: no bracket left in it (`Company
/// Name<<`), and a word besides legal forms, joins and numbers (not
/// `Company`, `Bank`, `Inc.`, `NO. 2`).
fn names_someone(name: &str) -> bool {
    let stray = name.contains(['(', ')', '<', '>', '[', ']']);
    let meaningful = name.split_whitespace().any(|word| {
        let bare = word
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        !bare.is_empty()
            && !ENTITY.is_match(&bare)
            && !JOINS.contains(&bare.as_str())
            && !bare.bytes().all(|b| b.is_ascii_digit())
            && !["no", "name"].contains(&bare.as_str())
    });
    !stray && meaningful
}

/// The name that ends where its description starts: the run of
/// capitalised words before the first description that follows one.
fn name_before(before: &str) -> String {
    let head = DESCRIPTION
        .find_iter(before)
        .map(|d| &before[..d.start()])
        .find(|head| !trailing_run(head).is_empty())
        .unwrap_or(before);
    trailing_run(head)
}

/// Words that introduce the parties, not part of a name; like the words
/// that name the document ([`super::candidates::DOCUMENT_WORDS`]), a run
/// stops before them (`Exhibit 10.7 CONSULTING AGREEMENT Aduro Biotech,
/// Inc.` is `Aduro Biotech, Inc.`).
const INTRODUCING: [&str; 4] = ["between", "among", "entre", "dated"];

/// The capitalised words (and the small words between them) that end
/// `text`, after the last word that names the document.
fn trailing_run(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut start = words.len();
    while start > 0
        && capitalised_or_join(words[start - 1])
        && !names_the_document(words[start - 1])
    {
        start -= 1;
    }
    let mut run = &words[start..];
    while let Some(first) = run.first() {
        let bare = first.trim_matches([',', '.']).to_lowercase();
        if JOINS.contains(&bare.as_str()) && !first.starts_with(char::is_uppercase) {
            run = &run[1..];
        } else {
            break;
        }
    }
    run.join(" ")
        .trim_matches([' ', ',', ';', ':', '"', '“', '”', '\''])
        .to_string()
}

fn capitalised_or_join(word: &str) -> bool {
    let bare = word.trim_matches([',', '.', ';', ':', '(', ')', '"', '“', '”', '\'']);
    bare.starts_with(|c: char| c.is_uppercase() || c.is_ascii_digit())
        || JOINS.contains(&bare.to_lowercase().as_str())
        || bare == "-"
        || bare == "–"
}

fn names_the_document(word: &str) -> bool {
    let bare = word
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    DOCUMENT_WORDS.contains(&bare.as_str()) || INTRODUCING.contains(&bare.as_str())
}

fn in_capitals(name: &str) -> bool {
    name.chars().any(char::is_uppercase) && !name.chars().any(char::is_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parties_a_preamble_defines_are_found_in_order() {
        let preamble = "Exhibit 10.2 INTELLECTUAL PROPERTY AGREEMENT This INTELLECTUAL PROPERTY AGREEMENT (this \"Agreement\"), dated as of December 31, 2018 (the \"Effective Date\") is entered into by and between Armstrong Flooring, Inc., a Delaware corporation (\"Seller\") and AFI Licensing LLC, a Delaware limited liability company (\"Licensing\") and AHF Holding, Inc. (formerly known as Tarzan HoldCo, Inc.), a Delaware corporation (\"Buyer\"). WHEREAS, Seller and Buyer have entered into that certain Stock Purchase Agreement (the \"Purchase Agreement\").";
        assert_eq!(
            defined(preamble),
            [
                "Armstrong Flooring, Inc.",
                "AFI Licensing LLC",
                "AHF Holding, Inc."
            ]
        );
        let curly = "THIS AGREEMENT is made between ADURO BIOTECH, INC. (“Aduro”), and IREYA B.V (the “Consultant”).";
        assert_eq!(defined(curly), ["ADURO BIOTECH, INC.", "IREYA B.V"]);
        // A title in capitals just before the first name is not part of it.
        let titled = "Exhibit 10.7 CONSULTING AGREEMENT Aduro Biotech, Inc. (\"Aduro\") and IREYA B.V (\"Consultant\").";
        assert_eq!(defined(titled), ["Aduro Biotech, Inc.", "IREYA B.V"]);
        // Spanish and Portuguese preambles name the terms in words.
        let spanish = "CONTRATO DE PRESTACIÓN DE SERVICIOS\nEntre los suscritos, ANDINA SOLUCIONES S.A.S., sociedad domiciliada en Bogotá, quien en adelante se denominará EL CONTRATANTE, y CAFETALES DEL SUR LTDA., quien en adelante se denominará EL CONTRATISTA, se celebra el presente contrato.";
        assert_eq!(
            defined(spanish),
            ["ANDINA SOLUCIONES S.A.S.", "CAFETALES DEL SUR LTDA."]
        );
        let bracketed = "Entre MINERA DEL CAUCA S.A. (en adelante \"LA COMPAÑÍA\") y Transportes Rápidos Ltda. (en adelante \"EL TRANSPORTADOR\") se acuerda:";
        assert_eq!(
            defined(bracketed),
            ["MINERA DEL CAUCA S.A.", "Transportes Rápidos Ltda."]
        );
        let portuguese = "Pelo presente instrumento, ALFA SERVIÇOS LTDA., inscrita no CNPJ 12.345.678/0001-90, doravante denominada CONTRATANTE, e BETA SISTEMAS S.A., doravante denominada CONTRATADA, têm entre si justo e contratado:";
        assert_eq!(
            defined(portuguese),
            ["ALFA SERVIÇOS LTDA.", "BETA SISTEMAS S.A."]
        );
    }

    #[test]
    fn without_two_defined_entities_there_are_none() {
        // One defined party, and a defined person: the model chooses.
        let one = "This Agreement is between Hanover Direct, Inc. (\"Hanover\") and Gregory Spivy (\"Consultant\").";
        assert_eq!(defined(one), Vec::<String>::new());
        // A person and a company: one entity, so the model chooses.
        let lease = "CONTRATO DE ARRENDAMIENTO entre Carlos Restrepo, mayor de edad, identificado con C.C. 79.845.123, quien en adelante se denominará EL ARRENDATARIO, e INVERSIONES ANDINAS S.A.S., NIT 900.123.456-7, en adelante \"EL ARRENDADOR\".";
        assert_eq!(defined(lease), Vec::<String>::new());
        // Generic words are no names; enumerators, a trailing `and`, what
        // a stray bracket ends and an address before `and` are not part of one.
        let generic = "This Agreement is made by (1) BICYCLETX LIMITED (the \"Company\") and Company and (the \"Consultant\") and The Bon-Ton Stores, Inc. and (\"Seller\") and CNET, Inc. (\"CNET\") and Company (\"Company\").";
        assert_eq!(
            defined(generic),
            [
                "BICYCLETX LIMITED",
                "The Bon-Ton Stores, Inc.",
                "CNET, Inc."
            ]
        );
        assert_eq!(
            tidy("Seller, \"Arizona\") and AHF Holding, Inc."),
            "AHF Holding, Inc."
        );
        assert_eq!(tidy("LOGO APPEARS HERE] ENTERPRISE CO"), "ENTERPRISE CO");
        assert_eq!(
            tidy("235 East 42nd Street, New York 10017 and Exact Sciences Corporation"),
            "Exact Sciences Corporation"
        );
        assert_eq!(
            tidy("the Company\") AND: HOCHSCHILD MINING LIMITED"),
            "HOCHSCHILD MINING LIMITED"
        );
        assert_eq!(
            tidy("695014 B.C. Ltd. dba Galaxy Telecom"),
            "695014 B.C. Ltd. dba Galaxy Telecom"
        );
        assert!(
            !names_someone("Inc.") && !names_someone("NO. 2") && !names_someone("Company Name<<")
        );
        // Terms that name things define no party.
        let things = "This Supply Agreement (the \"Agreement\") dated May 1, 2020 (the \"Effective Date\") covers the Products (the \"Products\").";
        assert_eq!(defined(things), Vec::<String>::new());
    }
}
