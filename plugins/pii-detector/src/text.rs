//! The text as tokens: one pass that every recogniser shares. Offsets are
//! UTF-8 byte offsets into the original text.

use crate::lexicon::{self, list};

/// What a token is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Letters only (any script), possibly with inner apostrophes.
    Word,
    /// ASCII digits only.
    Number,
    /// Letters and digits mixed (`45T`, `LEMX800125HCMZZJ01`).
    Alnum,
    /// A run of whitespace.
    Space,
    /// Any other single character.
    Punct,
}

#[derive(Clone, Copy, Debug)]
pub struct Token {
    pub start: usize,
    pub end: usize,
    pub class: Class,
}

/// Bits of [`Text::flags`] beyond the word lists' ([`list`]).
pub const CAPITALISED: u16 = 1;

pub struct Text<'a> {
    pub src: &'a str,
    pub tokens: Vec<Token>,
    /// Per token: [`CAPITALISED`] and the [`list`] bits of capitalised
    /// words, looked up once; zero for every other token.
    flags: Vec<u16>,
}

impl<'a> Text<'a> {
    pub fn new(src: &'a str) -> Text<'a> {
        let bytes = src.as_bytes();
        let mut tokens: Vec<Token> = Vec::with_capacity(src.len() / 3);
        let mut i = 0;
        while i < bytes.len() {
            let (c, len) = char_at(src, i);
            let start = i;
            i += len;
            let class = match c {
                _ if c.is_whitespace() => Class::Space,
                '0'..='9' => Class::Number,
                _ if c.is_alphanumeric() => Class::Word,
                _ => {
                    tokens.push(Token {
                        start,
                        end: i,
                        class: Class::Punct,
                    });
                    continue;
                }
            };
            let mut class = class;
            while i < bytes.len() {
                let (n, len) = char_at(src, i);
                let joins = if class == Class::Space {
                    n.is_whitespace()
                } else {
                    n.is_alphanumeric()
                        || is_mark(n)
                        // An apostrophe inside a word: O'Brien, D'Angelo.
                        || (n == '\''
                            && class == Class::Word
                            && char_at(src, i + 1).0.is_alphabetic())
                };
                if !joins {
                    break;
                }
                if class != Class::Space {
                    class = match (class, n.is_ascii_digit()) {
                        (Class::Number, false) if n.is_alphabetic() => Class::Alnum,
                        (Class::Word, true) => Class::Alnum,
                        (c, _) => c,
                    };
                }
                i += len;
            }
            tokens.push(Token {
                start,
                end: i,
                class,
            });
        }
        let flags = tokens.iter().map(|t| word_flags(t, src)).collect();
        Text { src, tokens, flags }
    }

    pub fn has_flag(&self, t: usize, bit: u16) -> bool {
        self.flags.get(t).is_some_and(|f| f & bit != 0)
    }

    /// The text of token `t`; empty past the end.
    pub fn str(&self, t: usize) -> &'a str {
        self.tokens
            .get(t)
            .map_or("", |tok| &self.src[tok.start..tok.end])
    }

    pub fn class(&self, t: usize) -> Option<Class> {
        self.tokens.get(t).map(|t| t.class)
    }

    pub fn is(&self, t: usize, s: &str) -> bool {
        t < self.tokens.len() && self.str(t) == s
    }

    /// Whether token `t` is a word that starts with a capital letter.
    pub fn is_capitalised(&self, t: usize) -> bool {
        self.has_flag(t, CAPITALISED)
    }

    /// A capitalised word that is not a function word: it may be part of a name.
    pub fn is_name_like(&self, t: usize) -> bool {
        self.flags
            .get(t)
            .is_some_and(|f| f & (CAPITALISED | list::STOP_WORD) == CAPITALISED)
    }

    /// Whether token `t` is a single space (not a line break).
    pub fn is_gap(&self, t: usize) -> bool {
        t < self.tokens.len() && self.tokens[t].class == Class::Space && self.str(t) == " "
    }

    /// The next non-space token at or after `t`.
    pub fn skip_space(&self, mut t: usize) -> usize {
        while t < self.tokens.len() && self.tokens[t].class == Class::Space {
            t += 1;
        }
        t
    }

    /// Up to `n` words (or codes) before token `t`, nearest first, not
    /// crossing a `;` or a line break.
    pub fn words_before(&self, t: usize, n: usize) -> impl Iterator<Item = &'a str> + '_ {
        (0..t.min(self.tokens.len()))
            .rev()
            .take_while(move |&i| !self.ends_clause(i))
            .filter(move |&i| matches!(self.tokens[i].class, Class::Word | Class::Alnum))
            .take(n)
            .map(move |i| self.str(i))
    }

    /// A `;` or a line break.
    fn ends_clause(&self, i: usize) -> bool {
        match self.tokens[i].class {
            Class::Punct => self.str(i) == ";",
            Class::Space => self.str(i).contains('\n'),
            _ => false,
        }
    }

    /// Whether a sentence starts at token `t` (first token, or after `.`, `!`, `?`, `:` or a line break).
    pub fn starts_sentence(&self, t: usize) -> bool {
        let mut i = t;
        while i > 0 {
            i -= 1;
            let tok = self.tokens[i];
            match tok.class {
                Class::Space if self.str(i).contains('\n') => return true,
                Class::Space => {}
                Class::Punct => {
                    return matches!(
                        self.str(i),
                        "." | "!" | "?" | ":" | "¿" | "¡" | "\"" | "“" | "(" | "-" | "*" | "•"
                    );
                }
                _ => return false,
            }
        }
        true
    }
}

fn word_flags(tok: &Token, src: &str) -> u16 {
    let word = &src[tok.start..tok.end];
    if tok.class != Class::Word || !word.starts_with(char::is_uppercase) {
        return 0;
    }
    CAPITALISED | lexicon::word(word)
}

/// The character at byte `i` and its length (`\0` past the end); ASCII without decoding.
fn char_at(src: &str, i: usize) -> (char, usize) {
    match src.as_bytes().get(i) {
        None => ('\0', 0),
        Some(&b) if b < 0x80 => (b as char, 1),
        Some(_) => src[i..]
            .chars()
            .next()
            .map_or(('\0', 1), |c| (c, c.len_utf8())),
    }
}

/// Combining marks, which belong to the letter before them.
fn is_mark(c: char) -> bool {
    ('\u{0300}'..='\u{036F}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_byte_offsets_and_classes() {
        let text = Text::new("José O'Neil, C.C. 45T-31 ñ");
        let got: Vec<(&str, Class)> = (0..text.tokens.len())
            .map(|i| (text.str(i), text.tokens[i].class))
            .collect();
        assert_eq!(
            got,
            vec![
                ("José", Class::Word),
                (" ", Class::Space),
                ("O'Neil", Class::Word),
                (",", Class::Punct),
                (" ", Class::Space),
                ("C", Class::Word),
                (".", Class::Punct),
                ("C", Class::Word),
                (".", Class::Punct),
                (" ", Class::Space),
                ("45T", Class::Alnum),
                ("-", Class::Punct),
                ("31", Class::Number),
                (" ", Class::Space),
                ("ñ", Class::Word),
            ]
        );
        assert!(text.is_capitalised(0));
        assert!(text.starts_sentence(0));
        assert!(!text.starts_sentence(2));
        assert_eq!(
            text.words_before(10, 3).collect::<Vec<_>>(),
            vec!["C", "C", "O'Neil"]
        );
    }
}
