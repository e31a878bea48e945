//! The Q8_0 matrix-vector product of a decode step, on AVX2.
//!
//! Decoding one token multiplies one activation row by every Q8_0 matrix of
//! the model; the largest is the tied output projection (262,144 × 640,
//! 178 MB), read whole for every token. candle's kernel for this converts
//! both block scales from f16 for every block of every row; here the
//! activation's scales are converted once, and the rows are split between
//! candle's own worker threads (178 MB in 8.4-8.8 ms instead of 10.3-10.6
//! on two cores). Each row's sum is formed in exactly candle's order (the
//! same per-lane fused multiply-adds, the same horizontal sum), so the
//! logits are bit for bit those of `QMatMul`; a test holds them to that.
//! Where AVX2 is missing the caller keeps using `QMatMul`.

use candle_core::quantized::k_quants::{BlockQ8_0, GgmlType};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Result, Tensor};

/// Values per Q8_0 block, and bytes per block (an f16 scale, then 32 i8).
const BLOCK: usize = 32;
const BLOCK_BYTES: usize = 34;

/// A Q8_0 matrix (rows × columns, row-major) the fast path can multiply.
pub struct Q8Matrix {
    rows: usize,
    columns: usize,
}

impl Q8Matrix {
    /// `None` when the tensor is not a CPU Q8_0 matrix or this CPU lacks
    /// AVX2, FMA or F16C.
    pub fn of(tensor: &QTensor) -> Option<Self> {
        let (rows, columns) = tensor.shape().dims2().ok()?;
        let usable = tensor.dtype() == GgmlDType::Q8_0
            && tensor.device().is_cpu()
            && columns.is_multiple_of(BLOCK)
            && supported();
        usable.then_some(Q8Matrix { rows, columns })
    }

    /// `tensor · x` for one activation row `x` (its `columns` values).
    pub fn multiply(&self, tensor: &QTensor, x: &[f32], out: &mut Vec<f32>) -> Result<()> {
        assert_eq!(x.len(), self.columns, "activation length");
        let weights = tensor.data()?;
        assert_eq!(
            weights.len(),
            self.rows * self.columns / BLOCK * BLOCK_BYTES,
            "Q8_0 storage size"
        );
        let blocks = self.columns / BLOCK;
        let mut activation = vec![BlockQ8_0::zeros(); blocks];
        BlockQ8_0::from_float(x, &mut activation);
        // SAFETY: BlockQ8_0 is repr(C), 34 bytes: the f16 scale, then the
        // 32 quants; the slice covers exactly `blocks` of them.
        let activation: &[u8] = unsafe {
            std::slice::from_raw_parts(activation.as_ptr().cast::<u8>(), blocks * BLOCK_BYTES)
        };
        let scales: Vec<f32> = activation
            .chunks_exact(BLOCK_BYTES)
            // SAFETY: `supported()` checked F16C.
            .map(|b| unsafe { avx2::f16_to_f32(u16::from_le_bytes([b[0], b[1]])) })
            .collect();

        out.clear();
        out.resize(self.rows, 0.0);
        let dst = out.as_mut_ptr() as usize;
        let row_bytes = blocks * BLOCK_BYTES;
        // The pool hands each worker ranges of rows, about eight per worker.
        candle_core::utils::barrier_pool().execute_chunked(self.rows, |range| {
            // SAFETY: the ranges are disjoint, so no two workers write the
            // same row; `out` outlives the pool call.
            let dst = unsafe {
                std::slice::from_raw_parts_mut((dst as *mut f32).add(range.start), range.len())
            };
            let rows = &weights[range.start * row_bytes..range.end * row_bytes];
            // SAFETY: `supported()` checked AVX2, FMA and F16C.
            unsafe { avx2::rows(rows, blocks, activation, &scales, dst) }
        });
        Ok(())
    }

    /// As [`Self::multiply`], for a `(1, 1, columns)` tensor, into a
    /// `(1, 1, rows)` one.
    pub fn forward(&self, tensor: &QTensor, x: &Tensor) -> Result<Tensor> {
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        let mut out = Vec::new();
        self.multiply(tensor, &values, &mut out)?;
        Tensor::from_vec(out, (1, 1, self.rows), x.device())
    }
}

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

    /// Every row of `rows` (whole rows of `blocks` Q8_0 blocks) dotted with
    /// the activation. Rows are read front to back, one after the other:
    /// the hardware prefetcher keeps up (explicit prefetching and four
    /// interleaved rows were both slower here).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn rows(
        rows: &[u8],
        blocks: usize,
        activation: &[u8],
        scales: &[f32],
        dst: &mut [f32],
    ) {
        unsafe {
            let row_bytes = blocks * BLOCK_BYTES;
            let ones = _mm256_set1_epi16(1);
            for (r, out) in dst.iter_mut().enumerate() {
                let row = rows.as_ptr().add(r * row_bytes);
                let mut acc = _mm256_setzero_ps();
                for b in 0..blocks {
                    let block = row.add(b * BLOCK_BYTES);
                    let y = _mm256_loadu_si256(activation.as_ptr().add(b * BLOCK_BYTES + 2).cast());
                    let dx = f16_to_f32(block.cast::<u16>().read_unaligned());
                    let x = _mm256_loadu_si256(block.add(2).cast());
                    // |x| · (y with x's signs): the products x·y in pairs.
                    let pairs =
                        _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
                    let q = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(dx * *scales.get_unchecked(b)), q, acc);
                }
                *out = hsum(acc);
            }
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

    #[test]
    fn products_are_bit_for_bit_those_of_qmatmul() {
        let device = Device::Cpu;
        let weights = Tensor::randn(0f32, 1.0, (1024, 640), &device).unwrap();
        let q = QTensor::quantize(&weights, GgmlDType::Q8_0).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, 1, 640), &device).unwrap();
        let Some(matrix) = Q8Matrix::of(&q) else {
            eprintln!("no AVX2 here: the fast path is not used");
            return;
        };
        let ours = matrix.forward(&q, &x).unwrap().flatten_all().unwrap();
        let theirs = QMatMul::from_qtensor(q)
            .unwrap()
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap();
        let (ours, theirs) = (
            ours.to_vec1::<f32>().unwrap(),
            theirs.to_vec1::<f32>().unwrap(),
        );
        assert_eq!(ours.len(), 1024);
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "row {i}: {a} vs {b}");
        }
    }
}
