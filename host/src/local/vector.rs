//! f32 loops written so the compiler keeps them in SIMD registers: eight
//! independent lanes (one AVX2 register) and no branch in the loop body.
//! The maximum, e^x, softmax pieces, dot products and GELU-gated products
//! used by sampling and by the decode step.

/// Lanes wide enough for the compiler to keep the loops below in SIMD
/// registers (8 × f32 is one AVX2 register).
pub const LANES: usize = 8;

/// The largest value (−∞ for none).
pub fn max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (m, &v) in lanes.iter_mut().zip(chunk) {
            *m = if v > *m { v } else { *m };
        }
    }
    rest.iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// e^x for x ≤ 0 (as in a softmax less its maximum), branch-free so that
/// loops over it vectorise: 2^n · p(r) with x = n ln 2 + r, |r| ≤ ln 2 / 2,
/// and p the degree-6 Taylor polynomial (relative error below 3e-7).
/// Underflows to 0 below -87.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.max(-87.0);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    // ln 2 split in two (0.693359375, exact in 9 bits, and a correction) so
    // that n · ln 2 is subtracted exactly.
    let r = (x - n * 0.693_359_4) + n * 2.121_944_4e-4;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// Replaces each of `values` by e^(v − max) and returns (max, Σ): the
/// softmax less its normalisation, which a caller merging several pieces
/// of one softmax needs.
pub fn exp_shifted(values: &mut [f32]) -> (f32, f32) {
    let max = max(values);
    let mut lanes = [0f32; LANES];
    let mut chunks = values.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (s, v) in lanes.iter_mut().zip(chunk) {
            *v = exp(*v - max);
            *s += *v;
        }
    }
    let mut sum: f32 = lanes.iter().sum();
    for v in chunks.into_remainder() {
        *v = exp(*v - max);
        sum += *v;
    }
    (max, sum)
}

/// Multiplies every value by `factor`.
pub fn scale(values: &mut [f32], factor: f32) {
    for v in values {
        *v *= factor;
    }
}

/// Σ a·b over equal-length slices.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut lanes = [0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..LANES {
            lanes[i] = x[i].mul_add(y[i], lanes[i]);
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// y += w·x over equal-length slices.
#[inline]
pub fn add_scaled(y: &mut [f32], w: f32, x: &[f32]) {
    debug_assert_eq!(x.len(), y.len());
    for (y, &x) in y.iter_mut().zip(x) {
        *y = w.mul_add(x, *y);
    }
}

/// GELU (tanh approximation, as Gemma uses) of each value in the first
/// half of every row of `gate_up`, times the value in the second half:
/// rows of `2 · width` in, rows of `width` out.
pub fn gelu_gated(gate_up: &[f32], width: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(gate_up.len() / 2);
    for row in gate_up.chunks_exact(2 * width) {
        let (gate, up) = row.split_at(width);
        out.extend(gate.iter().zip(up).map(|(&g, &u)| gelu(g) * u));
    }
    out
}

/// 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))), with tanh from the
/// vectorised [`exp`] on a non-positive argument: tanh|t| = (1 − e)/(1 + e),
/// e = e^(−2|t|). Absolute error in tanh below 4e-7.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let t = SQRT_2_OVER_PI * x * (1.0 + 0.044_715 * x * x);
    let e = exp(-2.0 * t.abs());
    let tanh = ((1.0 - e) / (1.0 + e)).copysign(t);
    0.5 * x * (1.0 + tanh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_agrees_with_the_library() {
        for i in 0..=87_000 {
            let x = -(i as f32) / 1000.0;
            let (ours, libm) = (exp(x), x.exp());
            assert!(
                (ours - libm).abs() <= 3e-7 * libm,
                "exp({x}) = {ours}, not {libm}"
            );
        }
    }

    #[test]
    fn gelu_agrees_with_the_tanh_formula() {
        for i in -20_000..=20_000 {
            let x = i as f32 / 1000.0;
            let exact = {
                let x = x as f64;
                0.5 * x
                    * (1.0
                        + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
            };
            let ours = gelu(x) as f64;
            assert!(
                (ours - exact).abs() <= 4e-7 * x.abs().max(1.0) as f64,
                "gelu({x}) = {ours}, not {exact}"
            );
        }
        assert_eq!(
            gelu_gated(&[1.0, -1.0, 2.0, 3.0], 2),
            vec![gelu(1.0) * 2.0, gelu(-1.0) * 3.0]
        );
    }

    #[test]
    fn softmax_pieces_dot_and_add_scaled_agree_with_plain_loops() {
        let values: Vec<f32> = (0..37)
            .map(|i| ((i * 13) % 17) as f32 * 0.7 - 5.0)
            .collect();
        let mut soft = values.clone();
        let (shift, total) = exp_shifted(&mut soft);
        scale(&mut soft, 1.0 / total);
        let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(shift, max);
        let sum: f64 = values.iter().map(|&v| ((v - max) as f64).exp()).sum();
        assert!((total as f64 - sum).abs() < 1e-5 * sum);
        for (s, v) in soft.iter().zip(&values) {
            assert!((*s as f64 - ((v - max) as f64).exp() / sum).abs() < 1e-6);
        }
        let plain: f32 = values.iter().zip(&soft).map(|(a, b)| a * b).sum();
        assert!((dot(&values, &soft) - plain).abs() < 1e-5);
        let mut y = soft.clone();
        add_scaled(&mut y, 2.0, &values);
        for ((y, s), v) in y.iter().zip(&soft).zip(&values) {
            assert!((y - (s + 2.0 * v)).abs() < 1e-6);
        }
    }
}
