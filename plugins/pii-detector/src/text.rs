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
    /// A run of whitespace on one line.
    Space,
    /// A run of whitespace with a line break, real or escaped (`\\n`).
    Break,
    /// Any other single character.
    Punct,
}

/// A token: its byte offsets are `u32`, which keeps tokens small (texts
/// past 4 GiB are not supported; a component's memory cannot hold them).
#[derive(Clone, Copy, Debug)]
pub struct Token {
    start: u32,
    end: u32,
    pub class: Class,
    /// [`CAPITALISED`] and the [`list`] bits of a word, looked up once;
    /// zero for every other token.
    flags: u32,
    /// The nearest word or code before this token in its clause, or [`NONE`].
    word_before: u32,
}

impl Token {
    pub fn start(&self) -> usize {
        self.start as usize
    }

    pub fn end(&self) -> usize {
        self.end as usize
    }
}

/// Bits of [`Token::flags`] beyond the word lists' ([`list`]): a word that
/// starts with a capital letter, a word with an apostrophe inside (`O'Neil`,
/// `Corporation's`).
pub const CAPITALISED: u32 = 1;
pub const APOSTROPHE: u32 = 1 << 31;

/// No token.
const NONE: u32 = u32::MAX;

pub struct Text<'a> {
    pub src: &'a str,
    pub tokens: Vec<Token>,
}

impl<'a> Text<'a> {
    pub fn new(src: &'a str) -> Text<'a> {
        assert!(u32::try_from(src.len()).is_ok(), "texts up to 4 GiB");
        let bytes = src.as_bytes();
        // Prose runs at 0.31-0.39 tokens a byte (0.36 in Spanish contract
        // text with its identifiers): room for half a token a byte spares
        // the copy that growing past a third cost on most texts.
        let mut tokens: Vec<Token> = Vec::with_capacity(src.len() / 2 + 1);
        let mut i = 0;
        let mut word_before = NONE;
        while i < bytes.len() {
            let start = i;
            let b = bytes[i];
            let mut seen = Seen::default();
            let (end, class) = if b < 0x80 {
                match ASCII[b as usize] {
                    A_LETTER => word_end(src, i + 1, Class::Word, &mut seen),
                    A_DIGIT => word_end(src, i + 1, Class::Number, &mut seen),
                    A_SPACE => space_end(src, i + 1, b == b'\n'),
                    _ if escaped_break(bytes, i) => space_end(src, i, true),
                    _ => (i + 1, Class::Punct),
                }
            } else {
                let (c, len) = char_at(src, i);
                if c.is_whitespace() {
                    space_end(src, i + len, false)
                } else if c.is_alphanumeric() {
                    word_end(src, i + len, Class::Word, &mut seen)
                } else {
                    (i + len, Class::Punct)
                }
            };
            i = end;
            let flags = match class {
                Class::Word => {
                    let word = &src[start..i];
                    let capital = if b < 0x80 {
                        b.is_ascii_uppercase()
                    } else {
                        word.starts_with(char::is_uppercase)
                    };
                    let bits = lexicon::classify(word, capital, seen.capital);
                    let bits = if seen.apostrophe {
                        APOSTROPHE | bits
                    } else {
                        bits
                    };
                    if capital { CAPITALISED | bits } else { bits }
                }
                _ => 0,
            };
            tokens.push(Token {
                start: start as u32,
                end: i as u32,
                class,
                flags,
                word_before,
            });
            // `;` and line breaks end a clause.
            match class {
                Class::Word | Class::Alnum => word_before = tokens.len() as u32 - 1,
                Class::Break => word_before = NONE,
                Class::Punct if b == b';' => word_before = NONE,
                _ => {}
            }
        }
        Text { src, tokens }
    }

    pub fn has_flag(&self, t: usize, bit: u32) -> bool {
        self.tokens.get(t).is_some_and(|tok| tok.flags & bit != 0)
    }

    /// The text of token `t`; empty past the end.
    pub fn str(&self, t: usize) -> &'a str {
        self.tokens
            .get(t)
            .map_or("", |tok| &self.src[tok.start()..tok.end()])
    }

    pub fn class(&self, t: usize) -> Option<Class> {
        self.tokens.get(t).map(|t| t.class)
    }

    /// Whether token `t` is `s` (compared as bytes: token offsets are
    /// character boundaries already).
    pub fn is(&self, t: usize, s: &str) -> bool {
        self.tokens
            .get(t)
            .is_some_and(|tok| self.src.as_bytes()[tok.start()..tok.end()] == *s.as_bytes())
    }

    /// Whether token `t` is a word that starts with a capital letter.
    pub fn is_capitalised(&self, t: usize) -> bool {
        self.has_flag(t, CAPITALISED)
    }

    /// A capitalised word that is not a function word: it may be part of a name.
    pub fn is_name_like(&self, t: usize) -> bool {
        self.tokens
            .get(t)
            .is_some_and(|tok| tok.flags & (CAPITALISED | list::STOP_WORD) == CAPITALISED)
    }

    /// Whether token `t` is a single space (not a line break).
    pub fn is_gap(&self, t: usize) -> bool {
        self.tokens.get(t).is_some_and(|tok| {
            tok.class == Class::Space
                && tok.end - tok.start == 1
                && self.src.as_bytes()[tok.start()] == b' '
        })
    }

    /// Whether token `t` is one or two spaces: text extracted from a laid-out
    /// page doubles spaces inside a name (`ACCURAY  INCORPORATED`).
    pub fn is_narrow_gap(&self, t: usize) -> bool {
        self.tokens.get(t).is_some_and(|tok| {
            tok.class == Class::Space
                && (1..=2).contains(&(tok.end - tok.start))
                && self.src.as_bytes()[tok.start()..tok.end()]
                    .iter()
                    .all(|&b| b == b' ')
        })
    }

    /// The next non-space token at or after `t`.
    pub fn skip_space(&self, mut t: usize) -> usize {
        while t < self.tokens.len() && matches!(self.tokens[t].class, Class::Space | Class::Break) {
            t += 1;
        }
        t
    }

    /// The nearest word (or code) before token `t`, not crossing a `;` or a
    /// line break.
    pub fn word_before(&self, t: usize) -> Option<usize> {
        let w = self.tokens.get(t)?.word_before;
        (w != NONE).then_some(w as usize)
    }

    /// Up to `n` words (or codes) before token `t`, nearest first, not
    /// crossing a `;` or a line break.
    pub fn words_before(&self, t: usize, n: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.word_before(t), |&w| self.word_before(w)).take(n)
    }

    /// The [`list`] bits of the `n` words before token `t`, together.
    pub fn flags_before(&self, t: usize, n: usize) -> u32 {
        self.words_before(t, n)
            .fold(0, |bits, w| bits | self.tokens[w].flags)
    }

    /// Whether a sentence starts at token `t` (first token, or after `.`, `!`, `?`, `:` or a line break).
    pub fn starts_sentence(&self, t: usize) -> bool {
        let mut i = t;
        while i > 0 {
            i -= 1;
            let tok = self.tokens[i];
            match tok.class {
                Class::Break => return true,
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

/// Byte classes of ASCII for the tokeniser.
const A_OTHER: u8 = 0;
const A_LETTER: u8 = 1;
const A_DIGIT: u8 = 2;
const A_SPACE: u8 = 3;

static ASCII: [u8; 128] = {
    let mut table = [A_OTHER; 128];
    let mut b = 0;
    while b < 128 {
        table[b] = match b as u8 {
            b'a'..=b'z' | b'A'..=b'Z' => A_LETTER,
            b'0'..=b'9' => A_DIGIT,
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => A_SPACE,
            _ => A_OTHER,
        };
        b += 1;
    }
    table
};

/// A line break written as an escape (`\\n`, `\\r`), as in text copied out
/// of JSON or logs; it reads as whitespace.
fn escaped_break(bytes: &[u8], i: usize) -> bool {
    bytes[i] == b'\\' && matches!(bytes.get(i + 1), Some(b'n' | b'r'))
}

/// The end of a word or number (`class`) that continues at `i`: letters,
/// digits, combining marks, and apostrophes between letters (O'Brien). A
/// word that holds ASCII digits is [`Class::Alnum`]; a number that holds
/// anything but digits and apostrophes too.
#[inline(always)]
fn word_end(src: &str, mut i: usize, class: Class, seen: &mut Seen) -> (usize, Class) {
    let bytes = src.as_bytes();
    let (mut digits, mut others) = (false, false);
    // In registers while scanning; `seen` is written once at the end.
    let (mut capital, mut apostrophe) = (false, false);
    while i < bytes.len() {
        // Lower-case ASCII letters, most of any text: a tight loop.
        let lower = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_lowercase())
            .count();
        if lower > 0 {
            others = true;
            i += lower;
            continue;
        }
        let b = bytes[i];
        if b < 0x80 {
            match ASCII[b as usize] {
                A_LETTER => {
                    others = true;
                    capital |= b <= b'Z';
                }
                A_DIGIT => digits = true,
                _ if b == b'\''
                    && i > 0
                    && !bytes[i - 1].is_ascii_digit()
                    && char_at(src, i + 1).0.is_alphabetic() =>
                {
                    apostrophe = true
                }
                _ => break,
            }
            i += 1;
        } else {
            let (c, len) = char_at(src, i);
            if !(c.is_alphanumeric() || is_mark(c)) {
                break;
            }
            others = true;
            i += len;
        }
    }
    *seen = Seen {
        apostrophe,
        capital,
    };
    let class = match class {
        Class::Word if digits => Class::Alnum,
        Class::Number if others => Class::Alnum,
        c => c,
    };
    (i, class)
}

/// What [`word_end`] saw after a word's first character.
#[derive(Default)]
struct Seen {
    /// An apostrophe between letters (`O'Neil`).
    apostrophe: bool,
    /// An ASCII capital letter (`McDonald`, `CÉDULA`).
    capital: bool,
}

/// The end of whitespace (and escaped line breaks) that continues at `i`:
/// [`Class::Break`] if it holds a line break (or `broken` already), else
/// [`Class::Space`].
#[inline(always)]
fn space_end(src: &str, mut i: usize, mut broken: bool) -> (usize, Class) {
    let bytes = src.as_bytes();
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            if ASCII[b as usize] == A_SPACE {
                broken |= b == b'\n';
                i += 1;
            } else if escaped_break(bytes, i) {
                broken = true;
                i += 2;
            } else {
                break;
            }
        } else {
            let (c, len) = char_at(src, i);
            if !c.is_whitespace() {
                break;
            }
            i += len;
        }
    }
    (i, if broken { Class::Break } else { Class::Space })
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
            text.words_before(10, 3)
                .map(|w| text.str(w))
                .collect::<Vec<_>>(),
            vec!["C", "C", "O'Neil"]
        );
    }
}
