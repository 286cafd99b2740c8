use ndarray::{Array1, Array2, ArrayView2, Axis};

/// Per-feature `(x − mean) · inv_std`, with constants frozen from the training rows.
///
/// Embedding features differ in scale by orders of magnitude; without this the reconstruction
/// error would be the error of the few loudest features. The variance is floored at 1 % of the
/// median feature variance (the median, so one loud feature does not mute the rest): a feature that is (nearly) constant on the training data would
/// otherwise get a weight of thousands and turn the score into "how far is feature 17 from its
/// constant", which is noise amplification, not novelty.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    pub mean: Array1<f32>,
    pub inv_std: Array1<f32>,
}

/// Relative variance floor (see the type's documentation).
const VARIANCE_FLOOR: f64 = 1e-2;
/// Absolute floor for all-constant data, where the relative floor is 0.
const ABSOLUTE_FLOOR: f64 = 1e-12;

impl Standardizer {
    /// Constants from `rows` (at least one row), accumulated in f64 in row order.
    pub fn fit(rows: ArrayView2<f32>) -> Self {
        let n = rows.nrows().max(1) as f64;
        let mut mean = vec![0.0f64; rows.ncols()];
        for row in rows.rows() {
            mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0f64; rows.ncols()];
        for row in rows.rows() {
            for ((s, &v), &m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (v as f64 - m).powi(2);
            }
        }
        var.iter_mut().for_each(|s| *s /= n);
        let mut sorted = var.clone();
        sorted.sort_unstable_by(f64::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        let floor = VARIANCE_FLOOR * median + ABSOLUTE_FLOOR;
        Standardizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            inv_std: var
                .iter()
                .map(|&v| (1.0 / (v + floor).sqrt()) as f32)
                .collect(),
        }
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    pub fn apply(&self, rows: ArrayView2<f32>) -> Array2<f32> {
        let mut out = &rows - &self.mean.view().insert_axis(Axis(0));
        out *= &self.inv_std.view().insert_axis(Axis(0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::random_matrix;

    #[test]
    fn standardized_columns_have_zero_mean_and_unit_variance() {
        let mut x = random_matrix(200, 5, 1);
        x.column_mut(2).mapv_inplace(|v| 100.0 + 30.0 * v);
        let s = Standardizer::fit(x.view());
        let y = s.apply(x.view());
        for col in y.columns() {
            let mean = col.mean().unwrap();
            let var = col.mapv(|v| (v - mean).powi(2)).mean().unwrap();
            assert!(mean.abs() < 1e-4, "{mean}");
            // The floor, 1 % of the median variance (~1), costs at most 1 %.
            assert!(var > 0.985 && var <= 1.0 + 1e-4, "{var}");
        }
    }

    #[test]
    fn a_constant_feature_gets_a_bounded_weight() {
        let mut x = random_matrix(100, 4, 2);
        x.column_mut(1).fill(3.0);
        let s = Standardizer::fit(x.view());
        assert!(
            s.inv_std[1] > 5.0 && s.inv_std[1] < 15.0,
            "{}",
            s.inv_std[1]
        );
    }

    #[test]
    fn constant_features_stay_finite() {
        let x = Array2::from_elem((10, 3), 4.0f32);
        let s = Standardizer::fit(x.view());
        assert!(s.inv_std.iter().all(|v| v.is_finite()));
        assert!(s.apply(x.view()).iter().all(|&v| v == 0.0));
    }
}
