//! Fitting and judging a confidence: a logistic map (Platt scaling) from
//! the log-odds of a raw confidence, with a term per kind of evidence, to
//! the chance the value is right; and the measures of how well a
//! confidence tells right from wrong (AUROC) and how true its numbers are
//! (expected calibration error, reliability table).

/// One observation: a confidence and whether the value was right.
pub type Observation = (f64, bool);

/// Raw confidences are held this far from 0 and 1 before their log-odds
/// are taken: a value every token of which the schema forced has 1.
const EDGE: f64 = 1e-4;

/// The log-odds of `p`.
pub fn logit(p: f64) -> f64 {
    let p = p.clamp(EDGE, 1.0 - EDGE);
    (p / (1.0 - p)).ln()
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The L2-penalised logistic regression of `right` on `features` (one row
/// per observation; the first column, the intercept, is not penalised):
/// the weights, by Newton's method. `None` when a step cannot be solved.
pub fn logistic(features: &[Vec<f64>], right: &[bool], penalty: f64) -> Option<Vec<f64>> {
    let k = features.first()?.len();
    let mut w = vec![0.0; k];
    for _ in 0..50 {
        let mut gradient = vec![0.0; k];
        let mut hessian = vec![vec![0.0; k]; k];
        for (x, &y) in features.iter().zip(right) {
            let p = sigmoid(x.iter().zip(&w).map(|(a, b)| a * b).sum());
            let (error, weight) = (p - f64::from(u8::from(y)), p * (1.0 - p));
            for i in 0..k {
                gradient[i] += error * x[i];
                for j in 0..k {
                    hessian[i][j] += weight * x[i] * x[j];
                }
            }
        }
        for i in 1..k {
            gradient[i] += penalty * w[i];
            hessian[i][i] += penalty;
        }
        hessian[0][0] += 1e-9;
        let step = solve(hessian, gradient)?;
        let mut moved: f64 = 0.0;
        for (wi, si) in w.iter_mut().zip(&step) {
            *wi -= si;
            moved = moved.max(si.abs());
        }
        if moved < 1e-9 {
            break;
        }
    }
    w.iter().all(|v| v.is_finite()).then_some(w)
}

/// `a x = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (above, below) = a.split_at_mut(col + 1);
        let pivot_row = &above[col];
        for (offset, row) in below.iter_mut().enumerate() {
            let factor = row[col] / pivot_row[col];
            for (cell, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *cell -= factor * p;
            }
            b[col + 1 + offset] -= factor * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let sum: f64 = (row + 1..n).map(|c| a[row][c] * x[c]).sum();
        x[row] = (b[row] - sum) / a[row][row];
    }
    Some(x)
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
    fn logistic_regression_finds_the_rate_behind_the_observations() {
        // Right 3 times in 4 with the feature on, 1 in 4 with it off.
        let features: Vec<Vec<f64>> = (0..400)
            .map(|i| vec![1.0, f64::from(u8::from(i % 2 == 0))])
            .collect();
        let right: Vec<bool> = (0..400)
            .map(|i| if i % 2 == 0 { i % 8 != 0 } else { i % 8 == 1 })
            .collect();
        let w = logistic(&features, &right, 0.0).unwrap();
        assert!((sigmoid(w[0] + w[1]) - 0.75).abs() < 1e-6, "{w:?}");
        assert!((sigmoid(w[0]) - 0.25).abs() < 1e-6, "{w:?}");
        // A penalty pulls the feature's weight towards zero.
        let shrunk = logistic(&features, &right, 50.0).unwrap();
        assert!(shrunk[1] > 0.0 && shrunk[1] < w[1], "{shrunk:?}");
        assert_eq!(solve(vec![vec![0.0]], vec![1.0]), None);
        assert!((logit(0.5)).abs() < 1e-12 && logit(1.0).is_finite());
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
