//! Fitting and judging a confidence: isotonic regression (pool adjacent
//! violators) from raw confidences to the observed rate of right answers,
//! and the measures of how well a confidence tells right from wrong (AUROC)
//! and how true its numbers are (expected calibration error, reliability
//! table).

/// One observation: a raw confidence and whether the value was right.
pub type Observation = (f64, bool);

/// The isotonic fit of `observations`: breakpoints `(confidence, rate)`,
/// confidences strictly increasing, rates non-decreasing. Empty input, empty fit.
pub fn isotonic(observations: &[Observation]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<Observation> = observations
        .iter()
        .copied()
        .filter(|(x, _)| x.is_finite())
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Blocks of (sum of x, sum of y, count), merged while a block's rate
    // falls below the one before it.
    let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
    for (x, right) in sorted {
        blocks.push((x, f64::from(u8::from(right)), 1.0));
        while blocks.len() > 1 {
            let (b, a) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
            if a.1 / a.2 <= b.1 / b.2 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
        }
    }
    let mut points: Vec<(f64, f64)> = Vec::with_capacity(blocks.len());
    for (sx, sy, n) in blocks {
        let point = (sx / n, sy / n);
        match points.last_mut() {
            // Equal mean confidences (a block of ties) keep one point.
            Some(last) if last.0 >= point.0 => last.1 = last.1.max(point.1),
            _ => points.push(point),
        }
    }
    points
}

/// `x` through piecewise-linear `points` (flat beyond the ends).
pub fn apply(points: &[(f64, f64)], x: f64) -> f64 {
    let Some(&(first_x, first_y)) = points.first() else {
        return x;
    };
    if x <= first_x {
        return first_y;
    }
    for pair in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    points[points.len() - 1].1
}

/// The chance that a right value's confidence is above a wrong one's (ties
/// count half); `NaN` without both kinds.
pub fn auroc(observations: &[Observation]) -> f64 {
    let mut sorted: Vec<Observation> = observations.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let right = sorted.iter().filter(|o| o.1).count() as f64;
    let wrong = sorted.len() as f64 - right;
    if right == 0.0 || wrong == 0.0 {
        return f64::NAN;
    }
    // Mann-Whitney U from average ranks.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            j += 1;
        }
        let average_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += average_rank * sorted[i..j].iter().filter(|o| o.1).count() as f64;
        i = j;
    }
    (rank_sum - right * (right + 1.0) / 2.0) / (right * wrong)
}

/// One bin of a reliability table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bin {
    pub low: f64,
    pub high: f64,
    pub count: usize,
    pub mean_confidence: f64,
    pub accuracy: f64,
}

/// Ten equal-width bins of confidence: how many, how confident, how right.
pub fn reliability(observations: &[Observation]) -> Vec<Bin> {
    const BINS: usize = 10;
    (0..BINS)
        .map(|b| {
            let (low, high) = (b as f64 / BINS as f64, (b + 1) as f64 / BINS as f64);
            let inside: Vec<&Observation> = observations
                .iter()
                .filter(|(x, _)| *x >= low && (*x < high || b == BINS - 1 && *x <= high))
                .collect();
            let n = inside.len() as f64;
            Bin {
                low,
                high,
                count: inside.len(),
                mean_confidence: inside.iter().map(|o| o.0).sum::<f64>() / n.max(1.0),
                accuracy: inside.iter().filter(|o| o.1).count() as f64 / n.max(1.0),
            }
        })
        .collect()
}

/// Expected calibration error over the reliability bins: the gap between
/// confidence and accuracy, weighted by each bin's share.
pub fn ece(observations: &[Observation]) -> f64 {
    let n = observations.len().max(1) as f64;
    reliability(observations)
        .iter()
        .map(|b| b.count as f64 / n * (b.mean_confidence - b.accuracy).abs())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_pools_violators_and_is_monotone() {
        let observations = [
            (0.1, false),
            (0.2, true),
            (0.3, false),
            (0.6, true),
            (0.7, false),
            (0.9, true),
            (0.95, true),
        ];
        let points = isotonic(&observations);
        assert!(
            points
                .windows(2)
                .all(|p| p[0].0 < p[1].0 && p[0].1 <= p[1].1),
            "{points:?}"
        );
        assert_eq!(points.first().unwrap().1, 0.0);
        assert_eq!(points.last().unwrap().1, 1.0);
        // 0.2 (right) and 0.3 (wrong) pool to one block at rate 1/2.
        assert!(points.contains(&(0.25, 0.5)), "{points:?}");
        assert_eq!(apply(&points, 0.0), 0.0);
        assert_eq!(apply(&points, 1.0), 1.0);
        assert!((apply(&points, 0.25) - 0.5).abs() < 1e-9);
        assert!(isotonic(&[]).is_empty());
    }

    #[test]
    fn auroc_and_ece_measure_what_they_say() {
        let perfect = [(0.9, true), (0.8, true), (0.2, false), (0.1, false)];
        assert_eq!(auroc(&perfect), 1.0);
        let inverted = [(0.1, true), (0.9, false)];
        assert_eq!(auroc(&inverted), 0.0);
        let tied = [(0.5, true), (0.5, false)];
        assert_eq!(auroc(&tied), 0.5);
        assert!(auroc(&[(0.5, true)]).is_nan());
        // Said 0.95, right half the time: a gap of 0.45.
        let overconfident = [(0.95, true), (0.95, false)];
        assert!((ece(&overconfident) - 0.45).abs() < 1e-9);
        let bins = reliability(&overconfident);
        assert_eq!(bins[9].count, 2);
        assert_eq!(bins[9].accuracy, 0.5);
    }
}
