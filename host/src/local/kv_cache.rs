//! A growable key/value cache for one attention layer.
//!
//! Slots are preallocated in chunks and written in place, so a decode step
//! copies one position, not the whole history. In a sliding-window layer the
//! positions no query can see any more are dropped once the buffer holds a
//! few windows, which bounds its memory by the window.

use candle_core::{Result, Tensor};

/// Slots are added in multiples of this many positions.
const CHUNK: usize = 256;
/// A sliding-window layer keeps up to this many windows before dropping
/// what no query can see: the positions kept let a later request that
/// shares a prompt prefix reuse them.
const WINDOWS_KEPT: usize = 4;

pub struct KvCache {
    keys: Option<Tensor>,
    values: Option<Tensor>,
    /// Absolute position held in slot 0.
    first: usize,
    /// Slots in use.
    len: usize,
    window: Option<usize>,
}

impl KvCache {
    pub fn new(window: Option<usize>) -> Self {
        KvCache {
            keys: None,
            values: None,
            first: 0,
            len: 0,
            window,
        }
    }

    pub fn window(&self) -> Option<usize> {
        self.window
    }

    /// Append `k` and `v` (batch, kv heads, positions, head dim) for the
    /// positions from `start`, and return the keys and values the new
    /// queries may attend to, with the absolute position of the first.
    pub fn append(
        &mut self,
        k: &Tensor,
        v: &Tensor,
        start: usize,
    ) -> Result<(Tensor, Tensor, usize)> {
        if start != self.first + self.len {
            candle_core::bail!(
                "KV cache holds positions up to {}, asked to append at {start}",
                self.first + self.len
            );
        }
        let added = k.dim(2)?;
        let capacity = self.keys.as_ref().map_or(Ok(0), |t| t.dim(2))?;
        if self.len + added > capacity
            && self
                .window
                .is_some_and(|w| self.len + added > WINDOWS_KEPT * w)
        {
            self.compact()?;
        }
        if self.len + added > capacity {
            self.grow(
                k,
                (self.len + added).max(capacity * 2).next_multiple_of(CHUNK),
            )?;
        }
        let (keys, values) = (self.keys.as_ref().unwrap(), self.values.as_ref().unwrap());
        keys.slice_set(&k.contiguous()?, 2, self.len)?;
        values.slice_set(&v.contiguous()?, 2, self.len)?;
        self.len += added;

        let from = match self.window {
            Some(w) => (start + 1).saturating_sub(w).max(self.first),
            None => self.first,
        };
        let skip = from - self.first;
        Ok((
            keys.narrow(2, skip, self.len - skip)?,
            values.narrow(2, skip, self.len - skip)?,
            from,
        ))
    }

    /// Keep the positions before `end`; returns the position the cache now
    /// ends at, which is 0 when what is kept could no longer serve the next
    /// query (a sliding window already moved past it).
    pub fn truncate(&mut self, end: usize) -> usize {
        let reachable = match self.window {
            Some(w) => self.first == 0 || end.saturating_sub(w - 1) >= self.first,
            None => true,
        };
        if end == 0 || !reachable || end < self.first {
            self.first = 0;
            self.len = 0;
            return 0;
        }
        self.len = (end - self.first).min(self.len);
        self.first + self.len
    }

    /// In a sliding-window layer, move the last `window - 1` positions (all
    /// the next query can see) to the front of the buffer.
    fn compact(&mut self) -> Result<()> {
        let Some(window) = self.window else {
            return Ok(());
        };
        let keep = window - 1;
        if self.len <= keep {
            return Ok(());
        }
        let drop = self.len - keep;
        for buffer in [&self.keys, &self.values].into_iter().flatten() {
            let tail = buffer.narrow(2, drop, keep)?.copy()?;
            buffer.slice_set(&tail, 2, 0)?;
        }
        self.first += drop;
        self.len = keep;
        Ok(())
    }

    fn grow(&mut self, like: &Tensor, capacity: usize) -> Result<()> {
        let (batch, heads, _, dim) = like.dims4()?;
        for buffer in [&mut self.keys, &mut self.values] {
            let bigger = Tensor::zeros((batch, heads, capacity, dim), like.dtype(), like.device())?;
            if let Some(old) = buffer.as_ref()
                && self.len > 0
            {
                bigger.slice_set(&old.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
            }
            *buffer = Some(bigger);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn positions(from: usize, n: usize) -> Tensor {
        Tensor::arange(from as u32, (from + n) as u32, &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .reshape((1, 1, n, 1))
            .unwrap()
    }

    fn held(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn global_layer_keeps_everything() {
        let mut cache = KvCache::new(None);
        cache
            .append(&positions(0, 300), &positions(0, 300), 0)
            .unwrap();
        let (k, _, first) = cache
            .append(&positions(300, 1), &positions(300, 1), 300)
            .unwrap();
        assert_eq!(first, 0);
        assert_eq!(held(&k), (0..301).map(|p| p as f32).collect::<Vec<_>>());
    }

    #[test]
    fn sliding_layer_serves_the_window_and_compacts() {
        let mut cache = KvCache::new(Some(4));
        for p in 0..600 {
            let (k, _, first) = cache.append(&positions(p, 1), &positions(p, 1), p).unwrap();
            let expected: Vec<f32> = (p.saturating_sub(3)..=p).map(|q| q as f32).collect();
            assert_eq!(held(&k), expected, "at position {p}");
            assert_eq!(first, p.saturating_sub(3));
        }
        assert!(cache.keys.as_ref().unwrap().dim(2).unwrap() <= CHUNK);
    }

    #[test]
    fn truncate_refuses_what_the_window_dropped() {
        let mut cache = KvCache::new(Some(4));
        for p in 0..600 {
            cache.append(&positions(p, 1), &positions(p, 1), p).unwrap();
        }
        assert_eq!(cache.truncate(598), 598);
        assert_eq!(cache.truncate(10), 0);
    }
}
