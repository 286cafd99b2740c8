use ndarray::{ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::objective::{Loss, LossValue, validate};
use crate::Result;
use crate::nn::{standardize, standardize_backward};

/// Barlow Twins (Zbontar et al. 2021): standardize each view over the batch, form the D×D
/// cross-correlation `C = z̃₁ᵀz̃₂ / n`, and push it to the identity:
/// `Σᵢ (1 − Cᵢᵢ)² + λ Σ_{i≠j} Cᵢⱼ²`.
///
/// Like VICReg it needs no negatives and works at small batch; the batch standardization is the
/// same op (and backward) as BatchNorm without affine, so it reuses `standardize`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BarlowTwins {
    pub lambda: f32,
    pub eps: f32,
}

impl Default for BarlowTwins {
    fn default() -> Self {
        BarlowTwins {
            lambda: 0.0051,
            eps: 1e-5,
        }
    }
}

impl Loss for BarlowTwins {
    fn loss(&self, inputs: &[ArrayView2<f32>]) -> Result<LossValue> {
        let (n, _) = validate(self, "Barlow Twins", inputs)?;
        let (a, inv_a) = standardize(inputs[0], Axis(0), self.eps);
        let (b, inv_b) = standardize(inputs[1], Axis(0), self.eps);
        let mut c = a.t().dot(&b) / n as f32;

        let mut value = 0.0f32;
        for ((i, j), cij) in c.indexed_iter_mut() {
            // Turn C into dL/dC in place.
            if i == j {
                value += (1.0 - *cij).powi(2);
                *cij = -2.0 * (1.0 - *cij);
            } else {
                value += self.lambda * *cij * *cij;
                *cij *= 2.0 * self.lambda;
            }
        }
        let g = c;
        let ga = b.dot(&g.t()) / n as f32;
        let gb = a.dot(&g) / n as f32;
        Ok(LossValue {
            value,
            grads: vec![
                standardize_backward(ga.view(), a.view(), inv_a.view(), Axis(0)),
                standardize_backward(gb.view(), b.view(), inv_b.view(), Axis(0)),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_loss, random_matrix};

    #[test]
    fn gradient_matches_finite_differences() {
        let z1 = random_matrix(10, 4, 1);
        let z2 = &z1 + &(random_matrix(10, 4, 2) * 0.5);
        // λ large enough that the off-diagonal term's gradient is not lost in rounding.
        check_loss(
            &BarlowTwins {
                lambda: 0.3,
                eps: 1e-5,
            },
            &[z1, z2],
        );
    }

    #[test]
    fn identical_decorrelated_views_score_near_zero() {
        let z = random_matrix(4000, 3, 1);
        let v = BarlowTwins::default()
            .loss(&[z.view(), z.view()])
            .unwrap()
            .value;
        assert!(v < 1e-2, "{v}");
    }
}
