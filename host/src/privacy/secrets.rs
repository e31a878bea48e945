//! Credentials, found by the host itself in every text that leaves the
//! machine, before and whatever the anonymiser plugin finds: a key pasted
//! into a prompt is one of the commonest accidental leaks, so masking it is
//! not left to a plugin a policy may swap out.
//!
//! Two kinds of evidence:
//! - well-known formats (cloud keys, source-forge and chat tokens, payment,
//!   model-provider keys, JWTs, private key blocks, passwords in URLs,
//!   connection strings and assignments), from `secret_rules.toml`, each
//!   rule run only on text that holds one of its keywords;
//! - a long random-looking token (mixed letters and digits, high Shannon
//!   entropy) within a few words after a word that names a credential
//!   ("api key", "token", "contraseña", "senha"). UUIDs, digests in prose
//!   without such a word and base64 data in `data:` URLs are not secrets.
//!
//! What is found becomes a `[SECRET_N]` placeholder, which the vault does
//! not restore unless the policy asks (see `vault`).

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use regex::Regex;

/// A credential in a text: its byte range, and the rule that found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub rule: &'static str,
}

/// Every credential in `text`, in no particular order; ranges may overlap.
pub fn find(text: &str) -> Vec<Found> {
    let mut found = RULES.find(text);
    found.extend(random_tokens(text));
    found.sort_by_key(|f| (f.start, f.end));
    found.dedup_by_key(|f| (f.start, f.end));
    found
}

#[derive(serde::Deserialize)]
struct RuleFile {
    rule: Vec<RuleSpec>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    #[serde(default, rename = "from")]
    _from: Option<String>,
    regex: String,
    #[serde(default)]
    group: usize,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    mixed: bool,
}

struct Rule {
    id: &'static str,
    regex: Regex,
    group: usize,
    mixed: bool,
}

struct Rules {
    rules: Vec<Rule>,
    /// Every rule's keywords, any case; the pattern's index maps to its rule.
    keywords: AhoCorasick,
    keyword_rule: Vec<usize>,
}

static RULES: LazyLock<Rules> = LazyLock::new(|| {
    Rules::parse(include_str!("secret_rules.toml")).expect("the shipped secret rules are valid")
});

impl Rules {
    fn parse(text: &str) -> Result<Rules, String> {
        let file: RuleFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut rules = Vec::new();
        let mut words = Vec::new();
        let mut keyword_rule = Vec::new();
        for (i, spec) in file.rule.into_iter().enumerate() {
            let regex = Regex::new(&spec.regex).map_err(|e| format!("{}: {e}", spec.id))?;
            if spec.group >= regex.captures_len() {
                return Err(format!("{}: no group {}", spec.id, spec.group));
            }
            if spec.keywords.is_empty() {
                return Err(format!("{}: a rule needs keywords", spec.id));
            }
            for word in spec.keywords {
                words.push(word);
                keyword_rule.push(i);
            }
            rules.push(Rule {
                id: Box::leak(spec.id.into_boxed_str()),
                regex,
                group: spec.group,
                mixed: spec.mixed,
            });
        }
        let keywords = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(&words)
            .map_err(|e| e.to_string())?;
        Ok(Rules {
            rules,
            keywords,
            keyword_rule,
        })
    }

    fn find(&self, text: &str) -> Vec<Found> {
        let mut wanted = vec![false; self.rules.len()];
        for m in self.keywords.find_overlapping_iter(text) {
            wanted[self.keyword_rule[m.pattern().as_usize()]] = true;
        }
        let mut found = Vec::new();
        for (rule, _) in self.rules.iter().zip(&wanted).filter(|(_, w)| **w) {
            for captures in rule.regex.captures_iter(text) {
                if let Some(m) = captures.get(rule.group)
                    && !m.is_empty()
                    && (!rule.mixed || mixed(m.as_str()))
                {
                    found.push(Found {
                        start: m.start(),
                        end: m.end(),
                        rule: rule.id,
                    });
                }
            }
        }
        found
    }
}

/// A letter and a digit or symbol: a password rather than a word.
fn mixed(value: &str) -> bool {
    value.chars().any(char::is_alphabetic) && value.chars().any(|c| !c.is_alphabetic())
}

/// Words after which a random-looking token is taken for a credential.
const CREDENTIAL_WORDS: &[&str] = &[
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "credential",
    "auth",
    "bearer",
    "signature",
    "clave",
    "llave",
    "contraseña",
    "credencial",
    "senha",
    "chave",
    "credenciais",
];

/// How far before a token its credential word may stand, in bytes.
const CONTEXT_BYTES: usize = 48;

static CREDENTIAL_WORD: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .build(CREDENTIAL_WORDS)
        .expect("credential words")
});

fn token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-')
}

/// Long random-looking tokens shortly after a credential word.
fn random_tokens(text: &str) -> Vec<Found> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !token_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && token_byte(bytes[i]) {
            i += 1;
        }
        let token = &text[start..i];
        if looks_random(token) && !in_data_url(text, start) && after_credential_word(text, start) {
            found.push(Found {
                start,
                end: i,
                rule: "random-token-after-credential-word",
            });
        }
    }
    found
}

fn looks_random(token: &str) -> bool {
    let token = token.trim_end_matches('=');
    let hex = token.bytes().all(|b| b.is_ascii_hexdigit());
    let has_digit = token.bytes().any(|b| b.is_ascii_digit());
    let has_letter = token.bytes().any(|b| b.is_ascii_alphabetic());
    if !(has_digit && has_letter) || is_uuid(token) {
        return false;
    }
    if hex {
        token.len() >= 32 && entropy(token) >= 3.0
    } else {
        token.len() >= 20 && entropy(token) >= 3.5
    }
}

fn is_uuid(token: &str) -> bool {
    let parts: Vec<&str> = token.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Shannon entropy of the token's bytes, in bits per byte.
fn entropy(token: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in token.bytes() {
        counts[b as usize] += 1;
    }
    let n = token.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

fn in_data_url(text: &str, start: usize) -> bool {
    let before = &text[..start];
    before.ends_with(";base64,") && before.rfind("data:").is_some()
}

fn after_credential_word(text: &str, start: usize) -> bool {
    let mut from = start.saturating_sub(CONTEXT_BYTES);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    CREDENTIAL_WORD.find(&text[from..start]).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(text: &str) -> Vec<&str> {
        let mut found = find(text);
        found.sort_by_key(|f| f.start);
        found.iter().map(|f| &text[f.start..f.end]).collect()
    }

    #[test]
    fn the_shipped_rules_compile() {
        assert!(RULES.rules.len() > 20);
    }

    #[test]
    fn assignments_mask_the_value_only() {
        assert_eq!(masked("password=Hunter2024!"), ["Hunter2024!"]);
        assert_eq!(masked("la contraseña: Bogota#2025"), ["Bogota#2025"]);
        assert_eq!(
            masked("postgres://app:s3cr3tPass@db.internal:5432/prod"),
            ["s3cr3tPass"]
        );
    }

    #[test]
    fn random_tokens_need_a_credential_word() {
        let hash = "9fceb02d0ae598e95dc970b74767f19372d61af8";
        assert_eq!(
            masked(&format!("fixed in commit {hash} yesterday")),
            [] as [&str; 0]
        );
        assert_eq!(masked(&format!("the api key is {hash}")), [hash]);
        assert_eq!(
            masked("request 123e4567-e89b-12d3-a456-426614174000 token"),
            [] as [&str; 0]
        );
        let image = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ";
        assert_eq!(masked(&format!("token icon {image}")), [] as [&str; 0]);
    }
}
