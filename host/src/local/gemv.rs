//! Q8_0 matrix products on AVX2: the matrix-vector product of a decode
//! step, and the prompt rows of a prefill.
//!
//! Decoding one token multiplies one activation row by every weight
//! matrix of the model; the largest is the tied output projection
//! (262,144 × 640 in Q8_0, 178 MB), read whole for every token. candle's
//! Q8_0 kernel converts both block scales from f16 for every block of
//! every (weight row, activation row) pair and takes each weight block's
//! signs again for every activation row. Here the activations' scales are
//! converted once, each weight block is loaded, scaled and sign-split once
//! for four activation rows, and weight rows are split between candle's
//! own worker threads.
//!
//! Matrices that multiply the same input (a layer's q, k and v) can be
//! multiplied as one [`Matrices`]: one pass over the workers and the input
//! quantised once, their products side by side.
//!
//! Each sum is formed in exactly candle's order (the same per-lane fused
//! multiply-adds, the same horizontal sum), so the results are bit for bit
//! those of `QMatMul`; a test holds them to that. Where AVX2 is missing the
//! caller keeps using `QMatMul`.

use std::borrow::Cow;
use std::sync::Arc;

use candle_core::quantized::k_quants::{BlockQ8_0, GgmlType};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Result, Tensor};

/// Values per Q8_0 block, and bytes per block (an f16 scale, then 32 i8).
const BLOCK: usize = 32;
const BLOCK_BYTES: usize = 34;

/// One matrix of a [`Matrices`], and where its rows start in the product.
struct Part {
    weights: Arc<QTensor>,
    first: usize,
    rows: usize,
}

/// One or more Q8_0 matrices (rows × columns, row-major) with the
/// same number of columns, multiplied by the same activations: the product
/// has their rows one after the other.
pub struct Matrices {
    parts: Vec<Part>,
    rows: usize,
    columns: usize,
}

impl Matrices {
    /// `None` when a tensor is not a CPU Q8_0 matrix, the column
    /// counts differ, or this CPU lacks AVX2, FMA or F16C.
    pub fn of(tensors: &[Arc<QTensor>]) -> Option<Self> {
        let columns = tensors.first()?.shape().dims2().ok()?.1;
        if !columns.is_multiple_of(BLOCK) || !supported() {
            return None;
        }
        let mut parts = Vec::with_capacity(tensors.len());
        let mut first = 0;
        for weights in tensors {
            let (rows, c) = weights.shape().dims2().ok()?;
            if c != columns || weights.dtype() != GgmlDType::Q8_0 || !weights.device().is_cpu() {
                return None;
            }
            parts.push(Part {
                weights: weights.clone(),
                first,
                rows,
            });
            first += rows;
        }
        Some(Matrices {
            parts,
            rows: first,
            columns,
        })
    }

    /// `weights · xᵀ` for activation rows `x` (`m` rows of `columns`
    /// values): `out` gets `m` rows of `rows` values (all parts' rows).
    pub fn multiply(&self, x: &[f32], out: &mut Vec<f32>) -> Result<()> {
        assert!(
            !x.is_empty() && x.len().is_multiple_of(self.columns),
            "activation length"
        );
        let m = x.len() / self.columns;
        let blocks = self.columns / BLOCK;
        let weights = self
            .parts
            .iter()
            .map(|part| {
                let data = part.weights.data()?;
                assert_eq!(
                    data.len(),
                    part.rows * blocks * BLOCK_BYTES,
                    "Q8_0 storage size"
                );
                Ok(data)
            })
            .collect::<Result<Vec<Cow<[u8]>>>>()?;
        let mut activation = vec![BlockQ8_0::zeros(); m * blocks];
        for (row, quantized) in x
            .chunks_exact(self.columns)
            .zip(activation.chunks_exact_mut(blocks))
        {
            BlockQ8_0::from_float(row, quantized);
        }
        // SAFETY: BlockQ8_0 is repr(C), 34 bytes: the f16 scale, then the
        // 32 quants; the slice covers exactly the blocks of `activation`.
        let activation: &[u8] = unsafe {
            std::slice::from_raw_parts(activation.as_ptr().cast::<u8>(), m * blocks * BLOCK_BYTES)
        };
        let scales: Vec<f32> = activation
            .chunks_exact(BLOCK_BYTES)
            // SAFETY: `supported()` checked F16C.
            .map(|b| unsafe { avx2::f16_to_f32(u16::from_le_bytes([b[0], b[1]])) })
            .collect();
        let activations = avx2::Activations {
            quants: activation,
            scales: &scales,
            rows: m,
            blocks,
        };

        out.clear();
        out.resize(m * self.rows, 0.0);
        let dst = avx2::Output {
            values: out.as_mut_ptr(),
            stride: self.rows,
        };
        // The pool hands each worker ranges of weight rows, about eight per
        // worker; a range may span parts.
        candle_core::utils::barrier_pool().execute_chunked(self.rows, |range| {
            for (part, data) in self.parts.iter().zip(&weights) {
                let start = range.start.max(part.first);
                let end = range.end.min(part.first + part.rows);
                if start >= end {
                    continue;
                }
                let row_bytes = blocks * BLOCK_BYTES;
                let rows = &data[(start - part.first) * row_bytes..(end - part.first) * row_bytes];
                // SAFETY: `supported()` checked AVX2, FMA and F16C; the
                // ranges are disjoint, so no two workers write the same
                // output column, and `out` outlives the pool call.
                unsafe { avx2::rows(rows, start, &activations, &dst) };
            }
        });
        Ok(())
    }

    /// As [`Self::multiply`], for a `(1, m, columns)` tensor, into a
    /// `(1, m, rows)` one.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let m = x.dims3()?.1;
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        let mut out = Vec::new();
        self.multiply(&values, &mut out)?;
        Tensor::from_vec(out, (1, m, self.rows), x.device())
    }
}

/// Whether this CPU runs the kernels here (AVX2, FMA and F16C).
fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::BLOCK_BYTES;

    /// The quantised activation rows (Q8_0 blocks) and their scales as f32.
    pub struct Activations<'a> {
        pub quants: &'a [u8],
        pub scales: &'a [f32],
        pub rows: usize,
        pub blocks: usize,
    }

    /// Where results go: activation row `r`, weight row `j` at
    /// `values[r * stride + j]`.
    pub struct Output {
        pub values: *mut f32,
        pub stride: usize,
    }

    // SAFETY: workers write disjoint weight rows' columns (see `rows`).
    unsafe impl Sync for Output {}

    /// Every weight row of `rows` (whole rows of Q8_0 blocks; the first is
    /// output column `first`) dotted with every activation row, four
    /// activation rows at a time so that each weight block is loaded and
    /// its signs taken once for four. Weight rows are read front to back,
    /// one after the other: the hardware prefetcher keeps up (explicit
    /// prefetching and interleaved weight rows were both slower here).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn rows(rows: &[u8], first: usize, x: &Activations, out: &Output) {
        let row_bytes = x.blocks * BLOCK_BYTES;
        for (j, row) in rows.chunks_exact(row_bytes).enumerate() {
            let mut r = 0;
            while r + 4 <= x.rows {
                // SAFETY: within the activation and output bounds.
                unsafe { tile::<4>(row, r, x, out, first + j) };
                r += 4;
            }
            while r < x.rows {
                // SAFETY: as above.
                unsafe { tile::<1>(row, r, x, out, first + j) };
                r += 1;
            }
        }
    }

    /// One weight row against activation rows `first..first + N`.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tile<const N: usize>(
        row: &[u8],
        first: usize,
        x: &Activations,
        out: &Output,
        column: usize,
    ) {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); N];
        for b in 0..x.blocks {
            let block = &row[b * BLOCK_BYTES..(b + 1) * BLOCK_BYTES];
            let dx = f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
            // SAFETY: 32 bytes after the scale.
            let w = unsafe { _mm256_loadu_si256(block[2..].as_ptr().cast()) };
            let abs_w = _mm256_sign_epi8(w, w);
            for (t, acc) in acc.iter_mut().enumerate() {
                let at = (first + t) * x.blocks + b;
                let y = &x.quants[at * BLOCK_BYTES + 2..(at + 1) * BLOCK_BYTES];
                // SAFETY: 32 bytes.
                let y = unsafe { _mm256_loadu_si256(y.as_ptr().cast()) };
                // |w| · (y with w's signs): the products w·y in pairs.
                let pairs = _mm256_maddubs_epi16(abs_w, _mm256_sign_epi8(y, w));
                let q = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
                *acc = _mm256_fmadd_ps(_mm256_set1_ps(dx * x.scales[at]), q, *acc);
            }
        }
        for (t, acc) in acc.iter().enumerate() {
            // SAFETY: row first + t < x.rows and column < stride.
            unsafe { *out.values.add((first + t) * out.stride + column) = hsum(*acc) };
        }
    }

    #[target_feature(enable = "f16c")]
    pub fn f16_to_f32(bits: u16) -> f32 {
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_set1_epi16(bits as i16)))
    }

    /// candle's `hsum_float_8`, in the same order.
    #[target_feature(enable = "avx2")]
    fn hsum(x: __m256) -> f32 {
        let res = _mm256_extractf128_ps(x, 1);
        let res = _mm_add_ps(res, _mm256_castps256_ps128(x));
        let res = _mm_add_ps(res, _mm_movehl_ps(res, res));
        let res = _mm_add_ss(res, _mm_movehdup_ps(res));
        _mm_cvtss_f32(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::QMatMul;
    use candle_core::{Device, Module};

    fn values(t: &Tensor) -> Vec<f32> {
        t.contiguous()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    fn quantized(rows: usize, dtype: GgmlDType, seed: f32) -> Arc<QTensor> {
        let device = Device::Cpu;
        let weights =
            (Tensor::randn(0f32, 1.0, (rows, 640), &device).unwrap() + seed as f64).unwrap();
        Arc::new(QTensor::quantize(&weights, dtype).unwrap())
    }

    /// Bit for bit `QMatMul`, for each part of a stacked product.
    #[test]
    fn products_are_those_of_qmatmul() {
        let device = Device::Cpu;
        let parts = [
            quantized(1024, GgmlDType::Q8_0, 0.0),
            quantized(256, GgmlDType::Q8_0, 0.1),
            quantized(256, GgmlDType::Q8_0, -0.2),
        ];
        let Some(matrices) = Matrices::of(&parts) else {
            eprintln!("no AVX2 here: the fast path is not used");
            return;
        };
        assert!(Matrices::of(&[quantized(256, GgmlDType::Q5_0, 0.0)]).is_none());
        // A decode step's single row, and a prefill's rows (a tile of four
        // and a remainder).
        for m in [1, 5] {
            let x = Tensor::randn(0f32, 1.0, (1, m, 640), &device).unwrap();
            let ours = matrices.forward(&x).unwrap();
            assert_eq!(ours.dims(), [1, m, 1536]);
            let mut offset = 0;
            for part in &parts {
                let rows = part.shape().dims2().unwrap().0;
                let ours = values(&ours.narrow(2, offset, rows).unwrap());
                let theirs = values(
                    &QMatMul::from_arc(part.clone())
                        .unwrap()
                        .forward(&x)
                        .unwrap(),
                );
                assert_eq!(ours.len(), rows * m);
                for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                    assert_eq!(a.to_bits(), b.to_bits(), "m {m}, value {i}: {a} vs {b}");
                }
                offset += rows;
            }
        }
    }
}
