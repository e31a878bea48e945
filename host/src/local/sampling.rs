//! Picking the next token: greedy, or seeded temperature and top-p
//! sampling, restricted to the tokens a constraint allows, with the
//! log-probabilities the caller reports.

use rand::SeedableRng;
use rand::distr::{Distribution, weighted::WeightedIndex};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use llguidance::toktrie::SimpleVob;

use super::tokenizer::TokenId;
use super::vector::{LANES, exp, max};

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Sampling {
    /// The most likely token, always: the same input gives the same output.
    Greedy,
    /// Temperature and nucleus (top-p) sampling from a seeded generator:
    /// the same seed and input give the same output.
    Random {
        temperature: f32,
        top_p: f32,
        seed: u64,
    },
}

/// Tokens below this share of the most likely one are left out of top-p
/// sampling; sorting all 262,144 logits every step would cost more than the
/// rest of a decode step, and their mass is negligible.
const NEGLIGIBLE: f32 = 1e-6;

/// The chosen token and how likely it was.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    pub token: TokenId,
    /// log p under the model's own distribution.
    pub logprob: f32,
    /// log p renormalised over the tokens the constraint allowed (equal to
    /// `logprob` without a constraint).
    pub constrained_logprob: f32,
}

pub struct Sampler {
    sampling: Sampling,
    rng: StdRng,
}

impl Sampler {
    pub fn new(sampling: Sampling) -> Self {
        let seed = match sampling {
            Sampling::Random { seed, .. } => seed,
            Sampling::Greedy => 0,
        };
        Sampler {
            sampling,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Choose among `logits`; `allowed`, when given, says which token ids
    /// may be chosen (at least one must be; ids past the logits are
    /// ignored).
    pub fn choose(&mut self, logits: &[f32], allowed: Option<&SimpleVob>) -> Choice {
        let log_z = log_sum_exp(logits);
        let (token, log_z_allowed) = match allowed {
            None => {
                let token = match self.sampling {
                    Sampling::Random {
                        temperature, top_p, ..
                    } if temperature > 0.0 => self.sample(logits, |_| true, temperature, top_p),
                    _ => argmax(logits),
                };
                (token, log_z)
            }
            Some(mask) => {
                // Constrained steps walk only the allowed ids.
                let mut best: Option<(usize, f32)> = None;
                mask.iter_set_entries(|i| {
                    if let Some(&l) = logits.get(i)
                        && best.is_none_or(|(_, b)| l > b)
                    {
                        best = Some((i, l));
                    }
                });
                let (best, max) = best.unwrap_or((0, f32::NEG_INFINITY));
                let mut sum = 0f32;
                mask.iter_set_entries(|i| {
                    if let Some(&l) = logits.get(i) {
                        sum += exp(l - max);
                    }
                });
                let token = match self.sampling {
                    Sampling::Random {
                        temperature, top_p, ..
                    } if temperature > 0.0 => self.sample(
                        logits,
                        |i| mask.is_allowed(i as TokenId),
                        temperature,
                        top_p,
                    ),
                    _ => best,
                };
                (token, max + sum.ln())
            }
        };
        let logit = logits[token];
        Choice {
            token: token as TokenId,
            logprob: logit - log_z,
            constrained_logprob: logit - log_z_allowed,
        }
    }

    fn sample(
        &mut self,
        logits: &[f32],
        ok: impl Fn(usize) -> bool,
        temperature: f32,
        top_p: f32,
    ) -> usize {
        let best = argmax_where(logits, &ok);
        let floor = logits[best] + temperature * NEGLIGIBLE.ln();
        let mut candidates: Vec<(usize, f32)> = logits
            .iter()
            .enumerate()
            .filter(|&(i, &l)| l >= floor && ok(i))
            .map(|(i, &l)| (i, ((l - logits[best]) / temperature).exp()))
            .collect();
        candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        let total: f32 = candidates.iter().map(|c| c.1).sum();
        let mut kept = 0.0;
        let mut keep = candidates.len();
        for (n, c) in candidates.iter().enumerate() {
            kept += c.1;
            if kept >= top_p.clamp(0.0, 1.0) * total {
                keep = n + 1;
                break;
            }
        }
        candidates.truncate(keep.max(1));
        // Draw in token order, not probability order: then a rounding-level
        // change in the logits (a KV cache reused rather than recomputed)
        // moves the draw's boundaries a little instead of reordering them.
        candidates.sort_unstable_by_key(|c| c.0);
        let weights = WeightedIndex::new(candidates.iter().map(|c| c.1))
            .expect("the most likely token has weight 1");
        candidates[weights.sample(&mut self.rng)].0
    }
}

/// The first index of the largest value.
fn argmax(logits: &[f32]) -> usize {
    let max = max(logits);
    logits.iter().position(|&l| l == max).unwrap_or(0)
}

fn argmax_where(logits: &[f32], ok: impl Fn(usize) -> bool) -> usize {
    let mut best = None;
    for (i, &l) in logits.iter().enumerate() {
        if ok(i) && best.is_none_or(|(_, b)| l > b) {
            best = Some((i, l));
        }
    }
    best.map_or(0, |(i, _)| i)
}

/// log Σ exp(v), in two vectorised passes over the 262,144 logits (a
/// scalar `expf` per logit took over a millisecond a token).
fn log_sum_exp(values: &[f32]) -> f32 {
    let max = max(values);
    if max == f32::NEG_INFINITY {
        return max;
    }
    let mut lanes = [0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (s, &v) in lanes.iter_mut().zip(chunk) {
            *s += exp(v - max);
        }
    }
    let sum: f32 = lanes.iter().sum::<f32>() + rest.iter().map(|&v| exp(v - max)).sum::<f32>();
    max + sum.ln()
}

/// The `n` most likely tokens and their log-probabilities, best first.
pub fn top_logprobs(logits: &[f32], n: usize) -> Vec<(TokenId, f32)> {
    if n == 0 {
        return Vec::new();
    }
    let log_z = log_sum_exp(logits);
    let mut top: Vec<(TokenId, f32)> = Vec::with_capacity(n + 1);
    for (i, &l) in logits.iter().enumerate() {
        if top.len() < n || l > top[top.len() - 1].1 {
            let at = top.partition_point(|&(_, t)| t >= l);
            top.insert(at, (i as TokenId, l));
            top.truncate(n);
        }
    }
    top.into_iter().map(|(t, l)| (t, l - log_z)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_best_allowed_token() {
        let logits = [0.0, 3.0, 1.0, 2.0];
        let mut sampler = Sampler::new(Sampling::Greedy);
        assert_eq!(sampler.choose(&logits, None).token, 1);
        let mut only_3 = SimpleVob::alloc(5);
        only_3.allow_token(3);
        only_3.allow_token(4); // past the logits: ignored
        let choice = sampler.choose(&logits, Some(&only_3));
        assert_eq!(choice.token, 3);
        assert!(
            choice.constrained_logprob.abs() < 1e-6,
            "the only allowed token is certain"
        );
        assert!(choice.logprob < -1.0);
    }

    #[test]
    fn seeded_sampling_repeats_and_respects_top_p() {
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32).collect();
        let draw = |seed| {
            let mut s = Sampler::new(Sampling::Random {
                temperature: 1.0,
                top_p: 0.9,
                seed,
            });
            (0..40)
                .map(|_| s.choose(&logits, None).token)
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        // logits 0 and 1 lie outside the 0.9 nucleus of this distribution.
        assert!(draw(7).iter().all(|&t| t % 7 >= 2));
    }

    #[test]
    fn log_sum_exp_agrees_with_the_library() {
        let logits: Vec<f32> = (0..262_147)
            .map(|i| ((i * 7919) % 4001) as f32 / 100.0 - 20.0)
            .collect();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let naive = max
            + logits
                .iter()
                .map(|l| ((l - max) as f64).exp())
                .sum::<f64>()
                .ln() as f32;
        assert!((log_sum_exp(&logits) - naive).abs() < 1e-4);
        assert_eq!(log_sum_exp(&[f32::NEG_INFINITY; 3]), f32::NEG_INFINITY);
        assert_eq!(argmax(&[1.0, 5.0, 2.0, 5.0]), 1);
    }

    #[test]
    fn top_logprobs_are_sorted_and_normalised() {
        let top = top_logprobs(&[1.0, 4.0, 2.0, 3.0], 3);
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), [1, 3, 2]);
        let total: f32 = top_logprobs(&[1.0, 4.0, 2.0, 3.0], 4)
            .iter()
            .map(|t| t.1.exp())
            .sum();
        assert!((total - 1.0).abs() < 1e-5);
    }
}
