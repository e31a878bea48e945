//! A decode step's attention: one new query position against the keys and
//! values held in the KV cache, read where they lie.
//!
//! The general path multiplies matrices with `gemm`, which first packs
//! every cached key (for the scores) and every cached value (for the
//! weighted sum) into its own layout: twice per layer and token, more time
//! than the products themselves at a few hundred positions. Here each
//! cached key and value row is read once, for all the query heads that
//! share it (grouped-query attention).
//!
//! The cached positions are cut into pieces of [`PIECE`] that the worker
//! pool shares (as flash-decoding does): each piece yields its own softmax
//! maximum, sum and weighted values, merged in order afterwards, so the
//! result does not depend on how many threads ran.

use std::ops::{Deref, Range};
use std::sync::OnceLock;

use candle_core::{CpuStorage, Layout, Result, Storage, Tensor};

use super::vector::{add_scaled, dot, exp, exp_shifted, scale as scale_by};

/// Cached positions per piece of work: a few hundred positions make
/// several pieces, enough to keep two workers busy.
const PIECE: usize = 64;

/// Attention of one position: `q` is (1, heads, 1, head dim), `keys` and
/// `values` (1, kv heads, positions, head dim), all visible to the query.
/// Returns (1, 1, heads · head dim), or `None` when the tensors are not
/// f32 in CPU memory with whole rows in place (the caller then takes the
/// general path).
pub fn decode_step(
    q: &Tensor,
    keys: &Tensor,
    values: &Tensor,
    scale: f32,
) -> Result<Option<Tensor>> {
    let (_, heads, len, head_dim) = q.dims4()?;
    let (_, kv_heads, positions, _) = keys.dims4()?;
    if len != 1 || !heads.is_multiple_of(kv_heads) || positions == 0 {
        return Ok(None);
    }
    let (keys_storage, keys_layout) = keys.storage_and_layout();
    let (values_storage, values_layout) = values.storage_and_layout();
    let (Some(keys), Some(values)) = (
        Rows::of(keys_storage.deref(), keys_layout)?,
        Rows::of(values_storage.deref(), values_layout)?,
    ) else {
        return Ok(None);
    };
    let q = q.flatten_all()?.to_vec1::<f32>()?;
    let group = heads / kv_heads;
    let width = group * head_dim;

    // Piece `i` covers positions of KV head `i / per_head`.
    let per_head = positions.div_ceil(PIECE);
    let piece = |i: usize| {
        let (kv_head, start) = (i / per_head, i % per_head * PIECE);
        (kv_head, start..positions.min(start + PIECE))
    };
    let partials: Vec<OnceLock<Partial>> =
        (0..kv_heads * per_head).map(|_| OnceLock::new()).collect();
    let attend = |i: usize| {
        let (kv_head, range) = piece(i);
        let queries = &q[kv_head * width..(kv_head + 1) * width];
        partials[i].get_or_init(|| Partial::of(queries, &keys, &values, kv_head, range, scale));
    };
    if partials.len() == 1 {
        attend(0);
    } else {
        candle_core::utils::barrier_pool().execute_chunked(partials.len(), |range| {
            range.for_each(attend);
        });
    }

    let mut out = vec![0f32; heads * head_dim];
    for (outputs, pieces) in out.chunks_exact_mut(width).zip(partials.chunks(per_head)) {
        let pieces = pieces
            .iter()
            .map(|p| p.get())
            .collect::<Option<Vec<&Partial>>>()
            .ok_or_else(|| candle_core::Error::Msg("an attention piece was not computed".into()))?;
        merge(&pieces, outputs, head_dim);
    }
    Ok(Some(Tensor::from_vec(
        out,
        (1, 1, heads * head_dim),
        &candle_core::Device::Cpu,
    )?))
}

/// One piece of the cached positions attended to by the query heads of
/// one KV head: per query head, the softmax maximum and sum over the piece,
/// and the values weighted by e^(score − maximum).
struct Partial {
    max: Vec<f32>,
    sum: Vec<f32>,
    weighted: Vec<f32>,
}

impl Partial {
    fn of(
        queries: &[f32],
        keys: &Rows,
        values: &Rows,
        kv_head: usize,
        range: Range<usize>,
        scale: f32,
    ) -> Partial {
        let (n, head_dim) = (range.len(), keys.dim);
        let group = queries.len() / head_dim;
        let mut scores = vec![0f32; group * n];
        for (i, position) in range.clone().enumerate() {
            let key = keys.row(kv_head, position);
            for (h, query) in queries.chunks_exact(head_dim).enumerate() {
                scores[h * n + i] = dot(query, key) * scale;
            }
        }
        let (max, sum) = scores.chunks_exact_mut(n).map(exp_shifted).unzip();
        let mut weighted = vec![0f32; queries.len()];
        for (i, position) in range.enumerate() {
            let value = values.row(kv_head, position);
            for (h, output) in weighted.chunks_exact_mut(head_dim).enumerate() {
                add_scaled(output, scores[h * n + i], value);
            }
        }
        Partial { max, sum, weighted }
    }
}

/// The attention outputs of a group's heads (side by side in `outputs`,
/// zero on entry) from the pieces of their positions: each piece's terms
/// rescaled by e^(its maximum − the overall maximum), then normalised.
fn merge(pieces: &[&Partial], outputs: &mut [f32], head_dim: usize) {
    for (h, output) in outputs.chunks_exact_mut(head_dim).enumerate() {
        let max = pieces
            .iter()
            .map(|p| p.max[h])
            .fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for piece in pieces {
            let weight = exp(piece.max[h] - max);
            sum += weight * piece.sum[h];
            add_scaled(
                output,
                weight,
                &piece.weighted[h * head_dim..(h + 1) * head_dim],
            );
        }
        scale_by(output, 1.0 / sum);
    }
}

/// The rows of a (1, heads, positions, dim) f32 tensor in CPU memory whose
/// rows are each contiguous.
struct Rows<'a> {
    data: &'a [f32],
    offset: usize,
    head_stride: usize,
    row_stride: usize,
    dim: usize,
}

impl<'a> Rows<'a> {
    fn of(storage: &'a Storage, layout: &Layout) -> Result<Option<Self>> {
        let Storage::Cpu(storage @ CpuStorage::F32(_)) = storage else {
            return Ok(None);
        };
        let (stride, dims) = (layout.stride(), layout.dims());
        if dims.len() != 4 || stride[3] != 1 {
            return Ok(None);
        }
        Ok(Some(Rows {
            data: storage.as_slice::<f32>()?,
            offset: layout.start_offset(),
            head_stride: stride[1],
            row_stride: stride[2],
            dim: dims[3],
        }))
    }

    #[inline]
    fn row(&self, head: usize, position: usize) -> &'a [f32] {
        let start = self.offset + head * self.head_stride + position * self.row_stride;
        &self.data[start..start + self.dim]
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    /// Against the matrix form, on a cache view that starts inside its
    /// buffer (as the KV cache's narrowed tensors do).
    #[test]
    fn a_decode_step_equals_softmax_of_the_scaled_scores_times_values() {
        // One piece, and several with a short last one.
        for positions in [37, 150] {
            check_against_matrices(positions);
        }
    }

    fn check_against_matrices(positions: usize) {
        let (heads, kv_heads, head_dim) = (4, 2, 16);
        let device = Device::Cpu;
        let values_of = |n: usize, salt: usize| -> Vec<f32> {
            (0..n)
                .map(|i| (((i * 31 + salt) % 23) as f32 - 11.0) / 7.0)
                .collect()
        };
        let q = Tensor::from_vec(
            values_of(heads * head_dim, 1),
            (1, heads, 1, head_dim),
            &device,
        )
        .unwrap();
        let buffer = |salt| {
            Tensor::from_vec(
                values_of(kv_heads * (positions + 13) * head_dim, salt),
                (1, kv_heads, positions + 13, head_dim),
                &device,
            )
            .unwrap()
            .narrow(2, 5, positions)
            .unwrap()
        };
        let (keys, values) = (buffer(2), buffer(3));
        let scale = 0.25;

        let fast = decode_step(&q, &keys, &values, scale).unwrap().unwrap();

        let group = heads / kv_heads;
        let q_folded = q.reshape((1, kv_heads, group, head_dim)).unwrap();
        let scores = (q_folded
            .matmul(&keys.contiguous().unwrap().t().unwrap())
            .unwrap()
            * scale as f64)
            .unwrap();
        let weights = candle_nn::ops::softmax_last_dim(&scores).unwrap();
        let slow = weights
            .matmul(&values.contiguous().unwrap())
            .unwrap()
            .reshape((1, 1, heads * head_dim))
            .unwrap();
        let (fast, slow) = (
            fast.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            slow.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
            assert!(
                (a - b).abs() < 1e-5,
                "{positions} positions, output {i}: {a} here, {b} by matrices"
            );
        }
    }
}
