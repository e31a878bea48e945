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
    let last = chunks
        .remainder()
        .iter()
        .rev()
        .fold(0u64, |last, &b| last << 8 | u64::from(b));
    h = (h ^ last).wrapping_mul(K);
    (h >> 32) as u32
}
