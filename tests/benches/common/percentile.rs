//! The percentile the benchmarks report: of values sorted ascending, the
//! one at rank round((n - 1) * p).

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}
