use ndarray::{Array1, Array2, ArrayView2, s};

use crate::nn::l2_normalize;

/// Rows scored against all training points at a time: bounds the similarity buffer at
/// `CHUNK × N` floats however many rows are scored at once.
const CHUNK: usize = 256;

/// Cosine distance to the k-th nearest training row: `1 − cos`, in [0, 2].
///
/// The k-th rather than the nearest neighbour, so that one stray training frame (a person who
/// walked past once) does not make everything near it look familiar. Keeps every training row,
/// unit-normalized; fine for the thousands of frames an adaptation sees.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KnnScorer {
    /// `N × D`, unit rows.
    pub points: Array2<f32>,
    pub k: usize,
}

impl KnnScorer {
    /// `k` must be in `1..=rows` (the caller checks).
    pub fn fit(rows: ArrayView2<f32>, k: usize) -> Self {
        KnnScorer {
            points: l2_normalize(rows).0,
            k,
        }
    }

    pub fn dim(&self) -> usize {
        self.points.ncols()
    }

    pub fn score(&self, rows: ArrayView2<f32>) -> Array1<f32> {
        let (unit, _) = l2_normalize(rows);
        let mut out = Array1::zeros(rows.nrows());
        let mut sims_row = vec![0.0f32; self.points.nrows()];
        for start in (0..rows.nrows()).step_by(CHUNK) {
            let end = (start + CHUNK).min(rows.nrows());
            let sims = unit.slice(s![start..end, ..]).dot(&self.points.t());
            for (i, row) in sims.rows().into_iter().enumerate() {
                sims_row.iter_mut().zip(row).for_each(|(o, &v)| *o = v);
                // k-th largest similarity; total order so NaN-free input is deterministic.
                let (_, kth, _) =
                    sims_row.select_nth_unstable_by(self.k - 1, |a, b| b.total_cmp(a));
                out[start + i] = (1.0 - *kth).max(0.0);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::random_matrix;

    #[test]
    fn matches_a_brute_force_sort() {
        let train = random_matrix(40, 6, 1);
        let query = random_matrix(300, 6, 2);
        for k in [1, 3, 40] {
            let got = KnnScorer::fit(train.view(), k).score(query.view());
            for (q, &g) in query.rows().into_iter().zip(&got) {
                let mut d: Vec<f64> = train
                    .rows()
                    .into_iter()
                    .map(|t| {
                        let dot: f64 = t.iter().zip(q).map(|(&a, &b)| a as f64 * b as f64).sum();
                        let na = t.iter().map(|&a| (a as f64).powi(2)).sum::<f64>().sqrt();
                        let nb = q.iter().map(|&a| (a as f64).powi(2)).sum::<f64>().sqrt();
                        1.0 - dot / (na * nb)
                    })
                    .collect();
                d.sort_by(f64::total_cmp);
                assert!(
                    (g as f64 - d[k - 1].max(0.0)).abs() < 1e-5,
                    "k {k}: {g} vs {}",
                    d[k - 1]
                );
            }
        }
    }

    #[test]
    fn a_training_row_is_at_distance_zero_from_itself() {
        let train = random_matrix(10, 4, 3);
        let s = KnnScorer::fit(train.view(), 1).score(train.view());
        assert!(s.iter().all(|&v| v < 1e-6), "{s:?}");
    }
}
