//! A decode step's attention: one new query position against the keys and
//! values held in the KV cache, read where they lie.
//!
//! The general path multiplies matrices with `gemm`, which first packs
//! every cached key (for the scores) and every cached value (for the
//! weighted sum) into its own layout: twice per layer and token, more time
//! than the products themselves at a few hundred positions. Here each
//! cached key and value row is read once, for all the query heads that
//! share it (grouped-query attention).

use std::ops::Deref;

use candle_core::{CpuStorage, Layout, Result, Storage, Tensor};

use super::vector::{add_scaled, dot, softmax_in_place};

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
    let mut out = vec![0f32; heads * head_dim];
    let mut scores = vec![0f32; group * positions];
    for kv_head in 0..kv_heads {
        let queries = &q[kv_head * group * head_dim..(kv_head + 1) * group * head_dim];
        for position in 0..positions {
            let key = keys.row(kv_head, position);
            for (h, query) in queries.chunks_exact(head_dim).enumerate() {
                scores[h * positions + position] = dot(query, key) * scale;
            }
        }
        for head_scores in scores.chunks_exact_mut(positions) {
            softmax_in_place(head_scores);
        }
        let outputs = &mut out[kv_head * group * head_dim..(kv_head + 1) * group * head_dim];
        for position in 0..positions {
            let value = values.row(kv_head, position);
            for (h, output) in outputs.chunks_exact_mut(head_dim).enumerate() {
                add_scaled(output, scores[h * positions + position], value);
            }
        }
    }
    Ok(Some(Tensor::from_vec(
        out,
        (1, 1, heads * head_dim),
        &candle_core::Device::Cpu,
    )?))
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
        let (heads, kv_heads, head_dim, positions) = (4, 2, 16, 37);
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
                values_of(kv_heads * 50 * head_dim, salt),
                (1, kv_heads, 50, head_dim),
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
                "output {i}: {a} here, {b} by matrices"
            );
        }
    }
}
