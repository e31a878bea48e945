//! `pii-detector`: finds personal data in Spanish, Portuguese and English
//! text for the `anonymiser` world. It returns typed spans (UTF-8 byte
//! offsets, a kind, a confidence); the host replaces them and keeps the
//! mapping.
//!
//! Recognisers share one tokenisation of the text ([`text`]):
//! - [`numbers`]: digit groups → identifiers validated by their check digits
//!   (NIT, CPF, CNPJ, CLABE, cards), numeric dates, IPv4, SSNs, and, by the
//!   words before them, cédulas, bank accounts, phone numbers;
//! - [`codes`]: letter-and-digit codes (CURP, RFC, IBAN);
//! - [`contact`]: e-mail addresses and IPv6;
//! - [`dates`]: dates written in words;
//! - [`address`]: street addresses;
//! - [`places`]: cities, regions, countries and postal codes, reported as
//!   `address` (the contract's `pii-kind` has no case for a place);
//! - [`names`]: organisations and people.
//!
//! Overlaps are settled by [`resolve`]: the stronger evidence wins.
//!
//! Settings (`config`): `kinds`, a comma-separated list of the kinds to report
//! (default: all), `min_confidence` (default 0.5), and `locations` (`true`
//! or `false`, default `true`): whether places found alone are reported.
//!
//! Every call runs in a fresh instance, so nothing is built at start: word
//! lists are one static hash table ([`lexicon`]), looked up once per word
//! when the text is tokenised, and the recognisers are plain scans that read
//! the tokens' list bits.

pub mod address;
pub mod checksum;
pub mod codes;
pub mod contact;
pub mod dates;
pub mod lexicon;
pub mod names;
pub mod numbers;
pub mod places;
pub mod text;
mod word_hash;

use text::Text;

/// What a finding is; mirrors the contract's `pii-kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Person,
    Organisation,
    Email,
    Phone,
    NationalId,
    TaxId,
    BankAccount,
    Card,
    Address,
    Date,
    IpAddress,
    Other,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::Person,
        Kind::Organisation,
        Kind::Email,
        Kind::Phone,
        Kind::NationalId,
        Kind::TaxId,
        Kind::BankAccount,
        Kind::Card,
        Kind::Address,
        Kind::Date,
        Kind::IpAddress,
        Kind::Other,
    ];

    /// The contract's name for the kind (`national-id`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::Organisation => "organisation",
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::NationalId => "national-id",
            Kind::TaxId => "tax-id",
            Kind::BankAccount => "bank-account",
            Kind::Card => "card",
            Kind::Address => "address",
            Kind::Date => "date",
            Kind::IpAddress => "ip-address",
            Kind::Other => "other",
        }
    }
}

/// One piece of personal data found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Finding {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
    pub confidence: f32,
    /// How strong the evidence is when findings overlap: check digits beat
    /// shapes, shapes beat context, context beats capitalisation.
    pub strength: u8,
}

/// Evidence strengths for [`Finding::strength`].
pub mod strength {
    pub const CHECKED: u8 = 9;
    pub const EXACT_SHAPE: u8 = 8;
    pub const CONTEXT: u8 = 7;
    pub const STRUCTURE: u8 = 6;
    pub const SHAPE: u8 = 5;
    pub const NAME: u8 = 4;
    pub const GUESS: u8 = 2;
}

/// What to report.
#[derive(Clone, Debug)]
pub struct Options {
    pub kinds: Vec<Kind>,
    pub min_confidence: f32,
    /// Whether places are reported (`address` findings of a city, a region,
    /// a country or a postal code alone); a street address always is.
    pub locations: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            kinds: Kind::ALL.to_vec(),
            min_confidence: 0.5,
            locations: true,
        }
    }
}

impl Options {
    /// Read the settings; an unknown kind or a bad number is an error naming it.
    pub fn parse(
        kinds: Option<&str>,
        min_confidence: Option<&str>,
        locations: Option<&str>,
    ) -> Result<Options, String> {
        let mut options = Options::default();
        if let Some(list) = kinds {
            options.kinds = list
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| {
                    Kind::ALL
                        .into_iter()
                        .find(|kind| kind.name() == k)
                        .ok_or_else(|| {
                            format!("unknown kind {k:?} in `kinds`; known: {}", kind_names())
                        })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(value) = min_confidence {
            options.min_confidence = value
                .trim()
                .parse::<f32>()
                .ok()
                .filter(|v| (0.0..=1.0).contains(v))
                .ok_or_else(|| {
                    format!("`min_confidence` must be a number in [0, 1], not {value:?}")
                })?;
        }
        if let Some(value) = locations {
            options.locations = match value.trim() {
                "true" => true,
                "false" => false,
                _ => return Err(format!("`locations` must be true or false, not {value:?}")),
            };
        }
        Ok(options)
    }
}

fn kind_names() -> String {
    Kind::ALL.map(Kind::name).join(", ")
}

/// Find personal data in `src` (`lang` is a hint: `es`, `pt`, `en`).
pub fn detect(src: &str, lang: &str, options: &Options) -> Vec<Finding> {
    let text = Text::new(src);
    let mut found = Vec::new();
    numbers::find(&text, &mut found);
    codes::find(&text, &mut found);
    contact::find(&text, &mut found);
    dates::find(&text, &mut found);
    address::find(&text, &mut found);
    if options.locations {
        places::find(&text, &mut found);
    }
    names::find(&text, lang, &mut found);
    let mut kept = resolve(found);
    kept.retain(|f| options.kinds.contains(&f.kind) && f.confidence >= options.min_confidence);
    kept
}

/// Keep the strongest of overlapping findings (then the longest, then the
/// one found first), in text order.
///
/// Most findings overlap nothing. In text order, findings fall into
/// clusters, each starting where nothing before it reaches; only within a
/// cluster are findings ranked, and a finding is kept if it overlaps none
/// kept before it.
pub fn resolve(mut found: Vec<Finding>) -> Vec<Finding> {
    // Stable: equal spans stay in the order they were found.
    found.sort_by_key(|f| (f.start, f.end));
    let mut kept: Vec<Finding> = Vec::with_capacity(found.len());
    let mut rest = found.as_mut_slice();
    while let Some(first) = rest.first() {
        let mut reach = first.end;
        let n = 1 + rest[1..]
            .iter()
            .take_while(|f| {
                let inside = f.start < reach;
                reach = reach.max(f.end);
                inside
            })
            .count();
        let (cluster, tail) = rest.split_at_mut(n);
        if let [single] = cluster {
            kept.push(*single);
        } else {
            cluster.sort_by_key(|f| (std::cmp::Reverse((f.strength, f.end - f.start)), f.start));
            let from = kept.len();
            for f in cluster.iter() {
                if kept[from..]
                    .iter()
                    .all(|k| k.end <= f.start || f.end <= k.start)
                {
                    kept.push(*f);
                }
            }
            kept[from..].sort_by_key(|k| k.start);
        }
        rest = tail;
    }
    kept
}

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ path: "../../wit", world: "anonymiser" });

    use super::{Kind, Options};
    use exports::sluice::policy::detection::Guest;
    use sluice::policy::host::{Level, config, log};
    use sluice::policy::types::{PiiKind, Span};

    struct Detector;

    fn pii_kind(kind: Kind) -> PiiKind {
        match kind {
            Kind::Person => PiiKind::Person,
            Kind::Organisation => PiiKind::Organisation,
            Kind::Email => PiiKind::Email,
            Kind::Phone => PiiKind::Phone,
            Kind::NationalId => PiiKind::NationalId,
            Kind::TaxId => PiiKind::TaxId,
            Kind::BankAccount => PiiKind::BankAccount,
            Kind::Card => PiiKind::Card,
            Kind::Address => PiiKind::Address,
            Kind::Date => PiiKind::Date,
            Kind::IpAddress => PiiKind::IpAddress,
            Kind::Other => PiiKind::Other,
        }
    }

    impl Guest for Detector {
        fn detect(text: String, lang: String) -> Vec<Span> {
            let options = match Options::parse(
                config("kinds").as_deref(),
                config("min_confidence").as_deref(),
                config("locations").as_deref(),
            ) {
                Ok(options) => options,
                // A bad setting must not weaken detection: report everything.
                Err(message) => {
                    log(Level::Error, &format!("{message}; detecting every kind"));
                    Options::default()
                }
            };
            super::detect(&text, &lang, &options)
                .into_iter()
                .map(|f| Span {
                    start: f.start as u32,
                    end: f.end as u32,
                    kind: pii_kind(f.kind),
                    confidence: f.confidence,
                })
                .collect()
        }
    }

    export!(Detector);
}

/// What `detect` finds in `s` with the default settings, as (text, kind).
#[cfg(test)]
pub(crate) fn found(s: &str) -> Vec<(&str, Kind)> {
    detect(s, "es", &Options::default())
        .into_iter()
        .map(|f| (&s[f.start..f.end], f.kind))
        .collect()
}

/// The texts of one kind that `detect` finds in `s`.
#[cfg(test)]
pub(crate) fn found_kind(s: &str, kind: Kind) -> Vec<&str> {
    found(s)
        .into_iter()
        .filter(|f| f.1 == kind)
        .map(|f| f.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every prefix and suffix of real sentences: no slicing or indexing panics.
    #[test]
    fn never_panics_on_any_cut_of_real_text() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/eval/pii/latam_dev.jsonl"
        );
        let text = std::fs::read_to_string(dir).expect("the eval set beside the project");
        for line in text.lines().step_by(10) {
            for (i, _) in line.char_indices() {
                detect(&line[..i], "es", &Options::default());
                detect(&line[i..], "es", &Options::default());
            }
        }
    }

    /// `resolve` keeps what ranking every finding and keeping each one that
    /// overlaps none kept before it keeps, on random findings.
    #[test]
    fn resolve_matches_ranking_all_findings() {
        fn ranked(mut found: Vec<Finding>) -> Vec<Finding> {
            found.sort_by_key(|f| (std::cmp::Reverse((f.strength, f.end - f.start)), f.start));
            let mut kept: Vec<Finding> = Vec::new();
            for f in found {
                if kept.iter().all(|k| k.end <= f.start || f.end <= k.start) {
                    kept.push(f);
                }
            }
            kept.sort_by_key(|k| k.start);
            kept
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as usize
        };
        for round in 0..2000 {
            let found: Vec<Finding> = (0..next(40))
                .map(|_| {
                    let start = next(200);
                    Finding {
                        start,
                        end: start + 1 + next(12),
                        kind: Kind::ALL[next(12)],
                        confidence: 0.5,
                        strength: next(4) as u8,
                    }
                })
                .collect();
            assert_eq!(resolve(found.clone()), ranked(found), "round {round}");
        }
    }

    #[test]
    fn settings_choose_kinds_and_threshold() {
        let options = Options::parse(Some("email, phone"), Some("0.9"), None).unwrap();
        let found = detect(
            "Juan Pérez, juan@example.com, tel +57 310 432 6542",
            "es",
            &options,
        );
        assert_eq!(
            found.iter().map(|f| f.kind).collect::<Vec<_>>(),
            vec![Kind::Email, Kind::Phone]
        );
        assert!(
            Options::parse(Some("email,shoe-size"), None, None)
                .unwrap_err()
                .contains("shoe-size")
        );
        assert!(Options::parse(None, Some("2"), None).is_err());
    }
}
