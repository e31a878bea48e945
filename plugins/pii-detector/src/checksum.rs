//! Check-digit validators for identifiers. Each takes the identifier as
//! written (separators allowed) and says whether its digits are consistent.

/// ASCII digits of `s`, ignoring separators; `None` if anything else appears.
fn digits(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '0'..='9' => out.push(c as u32 - '0' as u32),
            '.' | '-' | '/' | ' ' => {}
            _ => return None,
        }
    }
    Some(out)
}

fn all_same(d: &[u32]) -> bool {
    d.windows(2).all(|w| w[0] == w[1])
}

/// Colombian NIT: base digits then a mod-11 check digit (DIAN weights).
pub fn nit(s: &str) -> bool {
    const WEIGHTS: [u32; 15] = [3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71];
    let Some(d) = digits(s) else { return false };
    if !(7..=16).contains(&d.len()) || all_same(&d) {
        return false;
    }
    let (base, check) = d.split_at(d.len() - 1);
    let sum: u32 = base.iter().rev().zip(WEIGHTS).map(|(d, w)| d * w).sum();
    let r = sum % 11;
    check[0] == if r >= 2 { 11 - r } else { r }
}

/// Brazilian CPF: 9 digits and two mod-11 check digits.
pub fn cpf(s: &str) -> bool {
    let Some(d) = digits(s) else { return false };
    if d.len() != 11 || all_same(&d) {
        return false;
    }
    let check = |n: usize| {
        let sum: u32 = d[..n]
            .iter()
            .enumerate()
            .map(|(i, x)| x * (n as u32 + 1 - i as u32))
            .sum();
        (sum * 10 % 11) % 10
    };
    check(9) == d[9] && check(10) == d[10]
}

/// Brazilian CNPJ: 12 digits and two mod-11 check digits.
pub fn cnpj(s: &str) -> bool {
    let Some(d) = digits(s) else { return false };
    if d.len() != 14 || all_same(&d) {
        return false;
    }
    let check = |n: usize| {
        // Weights run 2..=9 from the right, repeating.
        let sum: u32 = d[..n]
            .iter()
            .rev()
            .enumerate()
            .map(|(i, x)| x * (2 + i as u32 % 8))
            .sum();
        let r = sum % 11;
        if r < 2 { 0 } else { 11 - r }
    };
    check(12) == d[12] && check(13) == d[13]
}

/// Mexican CLABE: 18 digits, weights 3-7-1, mod-10 check digit.
pub fn clabe(s: &str) -> bool {
    let Some(d) = digits(s) else { return false };
    if d.len() != 18 {
        return false;
    }
    let sum: u32 = d[..17]
        .iter()
        .zip([3, 7, 1].iter().cycle())
        .map(|(x, w)| x * w % 10)
        .sum();
    (10 - sum % 10) % 10 == d[17]
}

/// Payment card: 12 to 19 digits passing Luhn.
pub fn luhn(s: &str) -> bool {
    let Some(d) = digits(s) else { return false };
    if !(12..=19).contains(&d.len()) || all_same(&d) {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                if x * 2 > 9 { x * 2 - 9 } else { x * 2 }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// IBAN: country code, two check digits, BBAN; mod 97 of the rearranged number is 1.
pub fn iban(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len())
        || !compact[..2].iter().all(u8::is_ascii_uppercase)
        || !compact[2..4].iter().all(u8::is_ascii_digit)
        || !compact
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return false;
    }
    let mut rem = 0u32;
    for b in compact[4..].iter().chain(&compact[..4]) {
        let v = if b.is_ascii_digit() {
            (b - b'0') as u32
        } else {
            (b - b'A') as u32 + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Value of a character in the CURP and RFC alphabets.
fn mx_value(alphabet: &str, c: char) -> Option<u32> {
    alphabet.chars().position(|a| a == c).map(|p| p as u32)
}

/// Whether `yymmdd` is a calendar date (any century).
pub fn yymmdd(s: &str) -> bool {
    let d: Vec<u32> = s.bytes().map(|b| b.wrapping_sub(b'0') as u32).collect();
    if d.len() != 6 || d.iter().any(|x| *x > 9) {
        return false;
    }
    let (y, m, day) = (d[0] * 10 + d[1], d[2] * 10 + d[3], d[4] * 10 + d[5]);
    let leap = y % 4 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// Mexican CURP: 18 characters: 4 letters, birth date, sex, state, 3 consonants,
/// a differentiator and a mod-10 check digit.
pub fn curp(s: &str) -> bool {
    const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ";
    const STATES: &[&str] = &[
        "AS", "BC", "BS", "CC", "CL", "CM", "CS", "CH", "DF", "CX", "DG", "GT", "GR", "HG", "JC",
        "MC", "MN", "MS", "NT", "NL", "OC", "PL", "QT", "QR", "SP", "SL", "SR", "TC", "TS", "TL",
        "VZ", "YN", "ZS", "NE",
    ];
    let c: Vec<char> = s.chars().collect();
    if c.len() != 18
        || !c[..4].iter().all(char::is_ascii_uppercase)
        || !yymmdd(&s[4..10])
        || !matches!(c[10], 'H' | 'M' | 'X')
        || !STATES.contains(&&s[11..13])
        || !c[13..16]
            .iter()
            .all(|x| x.is_ascii_uppercase() && !"AEIOU".contains(*x))
        || !c[16].is_ascii_alphanumeric()
        || !c[17].is_ascii_digit()
    {
        return false;
    }
    let mut sum = 0;
    for (i, ch) in c[..17].iter().enumerate() {
        let Some(v) = mx_value(ALPHABET, *ch) else {
            return false;
        };
        sum += v * (18 - i as u32);
    }
    (10 - sum % 10) % 10 == c[17] as u32 - '0' as u32
}

/// How far a Mexican RFC holds up: `None` if its structure is wrong (3 letters
/// for a company or 4 for a person, a valid date, a 3-character homoclave),
/// `Some(true)` if the homoclave's check digit also matches.
pub fn rfc(s: &str) -> Option<bool> {
    const ALPHABET: &str = "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ Ñ";
    let c: Vec<char> = s.chars().collect();
    let letters = match c.len() {
        12 => 3,
        13 => 4,
        _ => return None,
    };
    let structure = c[..letters]
        .iter()
        .all(|x| x.is_ascii_uppercase() || *x == '&' || *x == 'Ñ')
        && c[letters..letters + 6].iter().all(char::is_ascii_digit)
        && yymmdd(&c[letters..letters + 6].iter().collect::<String>())
        && c[letters + 6..]
            .iter()
            .all(|x| x.is_ascii_uppercase() || x.is_ascii_digit());
    if !structure {
        return None;
    }
    let padded: Vec<char> = std::iter::repeat_n(' ', 13 - c.len())
        .chain(c.iter().copied())
        .collect();
    let mut sum = 0;
    for (i, ch) in padded[..12].iter().enumerate() {
        sum += mx_value(ALPHABET, *ch)? * (13 - i as u32);
    }
    let expected = b"0123456789A"[((11 - sum % 11) % 11) as usize] as char;
    Some(expected == c[c.len() - 1])
}

/// US Social Security number as issued: area not 000, 666 or 9xx; group and serial not zero.
pub fn ssn_issued(s: &str) -> bool {
    let Some(d) = digits(s) else { return false };
    if d.len() != 9 {
        return false;
    }
    let area = d[0] * 100 + d[1] * 10 + d[2];
    area != 0 && area != 666 && area < 900 && (d[3] | d[4]) != 0 && (d[5] | d[6] | d[7] | d[8]) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nit_check_digit() {
        assert!(nit("925129366-1"));
        assert!(nit("986.194.348-7"));
        assert!(nit("800197268-4")); // DIAN's own NIT
        assert!(!nit("925129366-2"));
        assert!(!nit("986.194.348-0"));
        assert!(!nit("111111111-1"));
    }

    #[test]
    fn cpf_check_digits() {
        assert!(cpf("621.084.002-73"));
        assert!(cpf("37890782802"));
        assert!(!cpf("621.084.002-74"), "second digit wrong");
        assert!(!cpf("621.084.002-83"), "first digit wrong");
        assert!(!cpf("111.111.111-11"));
        assert!(!cpf("621.084.002-7"));
    }

    #[test]
    fn cnpj_check_digits() {
        assert!(cnpj("05.935.376/0001-01"));
        assert!(cnpj("59622902000102"));
        assert!(!cnpj("05.935.376/0001-02"));
        assert!(!cnpj("05.935.376/0001-11"));
        assert!(!cnpj("00.000.000/0000-00"));
    }

    #[test]
    fn clabe_check_digit() {
        assert!(clabe("019096710598210228"));
        assert!(clabe("032180000118359719")); // Banxico's published example
        assert!(!clabe("019096710598210229"));
        assert!(!clabe("01909671059821022"));
    }

    #[test]
    fn luhn_cards() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(luhn("3598262076092921"));
        assert!(luhn("566129127759"));
        assert!(!luhn("4111 1111 1111 1112"));
        assert!(!luhn("12345"));
    }

    #[test]
    fn iban_mod_97() {
        assert!(iban("GB82 WEST 1234 5698 7654 32"));
        assert!(iban("CO21RTTX9404389836403"));
        assert!(!iban("GB82 WEST 1234 5698 7654 33"));
        assert!(!iban("CO21RTTX9404389836404"));
    }

    #[test]
    fn curp_check_digit() {
        assert!(curp("LEMX800125HCMZZJ01"));
        assert!(curp("YOJY131118MTLVVKA8"));
        assert!(!curp("LEMX800125HCMZZJ02"), "check digit");
        assert!(!curp("LEMX801325HCMZZJ01"), "month 13");
        assert!(!curp("LEMX800125HZZZZJ01"), "no state ZZ");
    }

    #[test]
    fn rfc_structure_and_homoclave() {
        assert_eq!(rfc("GODE561231GR8"), Some(true)); // SAT's example person
        assert_eq!(
            rfc("GODE561231GR9"),
            Some(false),
            "structure holds, check digit does not"
        );
        assert_eq!(rfc("QAMU220426HFJ"), Some(false));
        assert_eq!(rfc("QAMU221326HFJ"), None, "month 13");
        assert_eq!(rfc("QAM1220426HFJ"), None);
        assert!(rfc("ABC680524P76").is_some(), "company: three letters");
    }

    #[test]
    fn ssn_rules() {
        assert!(ssn_issued("129-27-6637"));
        assert!(!ssn_issued("929-95-5620"));
        assert!(!ssn_issued("000-12-3456"));
        assert!(!ssn_issued("123-00-4567"));
    }

    #[test]
    fn calendar_dates() {
        assert!(yymmdd("000229"));
        assert!(!yymmdd("010229"));
        assert!(!yymmdd("991131"));
    }
}
