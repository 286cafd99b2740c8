use ndarray::{Array2, ArrayView2, Axis, Zip};
use serde::{Deserialize, Serialize};

use super::coding_rate::coding_rate;
use super::objective::{Loss, LossValue, validate};
use crate::Result;
use crate::nn::{l2_normalize, l2_normalize_backward};

/// EMP-SSL's multi-view objective (Tong et al. 2023), over K ≥ 2 views at once:
/// `−(1/K)·Σₖ R(Ẑₖ) − λ·(1/K)·Σₖ meanᵢ cos(ẑₖᵢ, z̄ᵢ)` with `Ẑₖ` the unit-normalized view `k`,
/// `z̄ᵢ` the mean of frame `i`'s K unit embeddings and `R` the coding rate.
///
/// Using all K cached views in every step (instead of one random pair) is what makes EMP
/// efficient per epoch. With unit `ẑₖᵢ`, `Σₖ cos(ẑₖᵢ, z̄ᵢ) = K·‖z̄ᵢ‖`, so the invariance term is
/// `−λ·meanᵢ ‖z̄ᵢ‖`, with gradient `−λ·z̄ᵢ/(K·n·‖z̄ᵢ‖)` on every view.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Emp {
    pub invariance: f32,
    pub eps2: f32,
}

impl Default for Emp {
    fn default() -> Self {
        Emp {
            invariance: 200.0,
            eps2: 0.2,
        }
    }
}

impl Loss for Emp {
    fn multi_view(&self) -> bool {
        true
    }

    fn loss(&self, inputs: &[ArrayView2<f32>]) -> Result<LossValue> {
        let (n, d) = validate(self, "EMP", inputs)?;
        let k = inputs.len() as f32;
        let units: Vec<_> = inputs.iter().map(|z| l2_normalize(*z)).collect();

        let mut mean = Array2::<f32>::zeros((n, d));
        for (u, _) in &units {
            mean += u;
        }
        mean /= k;
        let mean_norm = mean.map_axis(Axis(1), |r| r.dot(&r).sqrt().max(1e-12));
        let mut value = -(self.invariance as f64) * mean_norm.sum() as f64 / n as f64;
        // Shared invariance gradient for every view.
        let mut g_inv = mean;
        Zip::from(g_inv.rows_mut())
            .and(&mean_norm)
            .for_each(|mut r, &m| {
                r *= -self.invariance / (k * n as f32 * m);
            });

        let mut grads = Vec::with_capacity(units.len());
        for (u, norms) in &units {
            let (rate, g_rate) = coding_rate(u.view(), self.eps2);
            value -= rate as f64 / k as f64;
            let g = &g_inv - &(g_rate / k);
            grads.push(l2_normalize_backward(g.view(), u.view(), norms.view()));
        }
        Ok(LossValue {
            value: value as f32,
            grads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_loss, random_matrix};

    #[test]
    fn gradient_matches_finite_differences_for_three_views() {
        let base = random_matrix(5, 4, 1);
        let views: Vec<_> = (0..3)
            .map(|s| &base + &(random_matrix(5, 4, 10 + s) * 0.4))
            .collect();
        check_loss(
            &Emp {
                invariance: 2.0,
                eps2: 0.5,
            },
            &views,
        );
    }

    #[test]
    fn rejects_a_single_view() {
        let z = random_matrix(5, 4, 1);
        assert!(matches!(
            Emp::default().loss(&[z.view()]),
            Err(crate::TrainError::TooFewViews(1))
        ));
    }
}
