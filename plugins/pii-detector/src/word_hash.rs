//! The hash that lays out the word tables: the build script places every
//! word by it and [`crate::lexicon`] finds them by it. Eight bytes at a time,
//! so a short word costs two multiplications.

pub fn hash(key: &[u8]) -> u32 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = key.len() as u64;
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        h = (h ^ word).wrapping_mul(K).rotate_left(29);
    }
    h = (h ^ tail(chunks.remainder())).wrapping_mul(K);
    (h >> 32) as u32
}

/// Up to seven bytes as a little-endian word, read in at most three
/// overlapping pieces rather than byte by byte.
pub fn tail(b: &[u8]) -> u64 {
    let n = b.len();
    let four = |i: usize| {
        u64::from(u32::from_le_bytes(
            b[i..i + 4].try_into().unwrap_or_default(),
        ))
    };
    match n {
        0 => 0,
        1..=3 => {
            u64::from(b[0])
                | u64::from(b[n / 2]) << (8 * (n / 2))
                | u64::from(b[n - 1]) << (8 * (n - 1))
        }
        _ => four(0) | four(n - 4) << (8 * (n - 4)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tails_read_every_byte_in_place() {
        let bytes = b"abcdefg";
        for n in 0..8 {
            let one_by_one = bytes[..n]
                .iter()
                .rev()
                .fold(0u64, |w, &b| w << 8 | u64::from(b));
            assert_eq!(super::tail(&bytes[..n]), one_by_one, "{n}");
        }
    }
}
