use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};

use crate::Rng;

/// Stream id of the train / held-out split.
const SPLIT_STREAM: u64 = 1;

/// Where the threshold came from, kept with the model so a user can see what "novel" means
/// (serializable for a `metrics.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Quantile of the held-out scores that became the threshold.
    pub quantile: f32,
    /// A row is novel when its score is above this.
    pub threshold: f32,
    /// Rows kept out of training and scored for calibration.
    pub held_out: usize,
    /// Rows the model was trained on.
    pub trained_on: usize,
    pub held_out_scores: ScoreSummary,
    /// Scores of the training rows: far below the held-out ones means the model memorized.
    pub train_scores: ScoreSummary,
}

/// Five numbers about a set of scores.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreSummary {
    pub min: f32,
    pub median: f32,
    pub mean: f32,
    pub p99: f32,
    pub max: f32,
}

impl ScoreSummary {
    pub(crate) const LEN: usize = 5;

    /// Summary of a non-empty set of finite scores.
    pub(crate) fn of(scores: ArrayView1<f32>) -> Self {
        let sorted = sorted(scores);
        let mean = scores.iter().map(|&v| v as f64).sum::<f64>() / scores.len().max(1) as f64;
        ScoreSummary {
            min: sorted.first().copied().unwrap_or(f32::NAN),
            median: quantile_of_sorted(&sorted, 0.5),
            mean: mean as f32,
            p99: quantile_of_sorted(&sorted, 0.99),
            max: sorted.last().copied().unwrap_or(f32::NAN),
        }
    }

    pub(crate) fn to_array(self) -> [f32; Self::LEN] {
        [self.min, self.median, self.mean, self.p99, self.max]
    }

    pub(crate) fn from_array(a: [f32; Self::LEN]) -> Self {
        let [min, median, mean, p99, max] = a;
        ScoreSummary {
            min,
            median,
            mean,
            p99,
            max,
        }
    }
}

impl Calibration {
    /// Threshold at `quantile` of the held-out scores (both sets non-empty and finite).
    pub(crate) fn new(quantile: f32, held_out: ArrayView1<f32>, train: ArrayView1<f32>) -> Self {
        Calibration {
            quantile,
            threshold: quantile_of_sorted(&sorted(held_out), quantile),
            held_out: held_out.len(),
            trained_on: train.len(),
            held_out_scores: ScoreSummary::of(held_out),
            train_scores: ScoreSummary::of(train),
        }
    }
}

fn sorted(scores: ArrayView1<f32>) -> Vec<f32> {
    let mut v = scores.to_vec();
    v.sort_unstable_by(f32::total_cmp);
    v
}

/// Linear interpolation between order statistics at position `q·(n − 1)` (numpy's default),
/// so "score above the 0.99 quantile" flags close to 1 % of rows like the held-out ones.
pub(crate) fn quantile_of_sorted(sorted: &[f32], q: f32) -> f32 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f32::NAN;
    };
    let pos = q.clamp(0.0, 1.0) as f64 * last as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    let hi = (lo + 1).min(last);
    (sorted[lo] as f64 + frac * (sorted[hi] as f64 - sorted[lo] as f64)) as f32
}

/// Rows to train on and rows to hold out (each in increasing order), from a seeded
/// permutation: the split depends only on `(seed, n, held)`.
pub(crate) fn split(n: usize, held: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let perm = Rng::stream(seed, &[SPLIT_STREAM]).permutation(n);
    let (mut held_out, mut train) = (perm[..held].to_vec(), perm[held..].to_vec());
    held_out.sort_unstable();
    train.sort_unstable();
    (train, held_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        // numpy.quantile([1, 2, 3, 4, 10], [0, .25, .5, .9, 1]) = [1, 2, 3, 7.6, 10]
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        let want = [(0.0, 1.0), (0.25, 2.0), (0.5, 3.0), (0.9, 7.6), (1.0, 10.0)];
        for (q, w) in want {
            assert!((quantile_of_sorted(&v, q) - w).abs() < 1e-5, "q {q}");
        }
        assert_eq!(quantile_of_sorted(&[5.0], 0.99), 5.0);
        assert!(quantile_of_sorted(&[], 0.5).is_nan());
    }

    #[test]
    fn split_is_a_deterministic_partition() {
        let (train, held) = split(50, 10, 3);
        assert_eq!((train.len(), held.len()), (40, 10));
        let mut all: Vec<usize> = train.iter().chain(&held).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        assert_eq!(split(50, 10, 3), (train, held.clone()));
        assert_ne!(split(50, 10, 4).1, held);
    }

    #[test]
    fn about_one_minus_quantile_of_held_out_rows_exceed_the_threshold() {
        let mut rng = Rng::new(9);
        let held: ndarray::Array1<f32> = (0..1000).map(|_| rng.normal()).collect();
        let c = Calibration::new(0.95, held.view(), held.view());
        let above = held.iter().filter(|&&v| v > c.threshold).count();
        assert!((45..=55).contains(&above), "{above}");
        assert!(c.held_out_scores.min <= c.held_out_scores.median);
        assert!(c.held_out_scores.p99 <= c.held_out_scores.max);
    }
}
