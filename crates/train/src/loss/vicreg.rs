use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use super::objective::{Loss, LossValue, validate};
use crate::Result;

/// VICReg (Bardes, Ponce & LeCun 2022): invariance (MSE between the two views) + variance (hinge
/// keeping each dimension's std ≥ 1) + covariance (off-diagonal covariance² pushed to 0).
///
/// No negatives and no large batch needed, which is why it is the default on a device that
/// fits batches of a few hundred. Weights and the ½ on the variance term follow the official
/// implementation: `25·inv + 25·(var₁ + var₂)/2 + 1·(cov₁ + cov₂)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct VicReg {
    pub invariance: f32,
    pub variance: f32,
    pub covariance: f32,
    pub eps: f32,
}

impl Default for VicReg {
    fn default() -> Self {
        VicReg {
            invariance: 25.0,
            variance: 25.0,
            covariance: 1.0,
            eps: 1e-4,
        }
    }
}

impl VicReg {
    /// Variance + covariance regularizer of one branch, with its gradient.
    fn regularizer(&self, z: ArrayView2<f32>) -> (f32, Array2<f32>) {
        let (n, d) = z.dim();
        // `mean_axis` is `None` only for an empty batch; the losses are called with n ≥ 2.
        let mean = z
            .mean_axis(Axis(0))
            .unwrap_or_else(|| ndarray::Array1::zeros(d));
        let zc = &z - &mean.insert_axis(Axis(0));
        let var = zc.map_axis(Axis(0), |c| c.dot(&c) / (n - 1) as f32);
        let std = var.mapv(|v| (v + self.eps).sqrt());

        // variance: (μ/2)·mean_j relu(1 − std_j); d/dz_ij = −(μ/2D)·[std_j<1]·zc_ij/((n−1)·std_j)
        let var_loss = std.iter().map(|s| (1.0 - s).max(0.0)).sum::<f32>() / d as f32;
        let coef = std.mapv(|s| {
            if s < 1.0 {
                -0.5 * self.variance / (d as f32 * (n - 1) as f32 * s)
            } else {
                0.0
            }
        });
        let mut grad = &zc * &coef.view().insert_axis(Axis(0));

        // covariance: (ν/D)·Σ_{i≠j} C_ij², C = zcᵀzc/(n−1); d/dzc = 4ν/(D(n−1))·zc·C_offdiag.
        // The centering's own gradient vanishes because the columns of zc·C sum to zero.
        let mut cov = zc.t().dot(&zc) / (n - 1) as f32;
        cov.diag_mut().fill(0.0);
        let cov_loss = cov.iter().map(|c| c * c).sum::<f32>() / d as f32;
        let scale = 4.0 * self.covariance / (d as f32 * (n - 1) as f32);
        ndarray::linalg::general_mat_mul(scale, &zc, &cov, 1.0, &mut grad);

        (
            0.5 * self.variance * var_loss + self.covariance * cov_loss,
            grad,
        )
    }
}

impl Loss for VicReg {
    fn loss(&self, inputs: &[ArrayView2<f32>]) -> Result<LossValue> {
        let (n, d) = validate(self, "VICReg", inputs)?;
        let (z1, z2) = (inputs[0], inputs[1]);
        let diff = &z1 - &z2;
        let inv = diff.iter().map(|v| v * v).sum::<f32>() / (n * d) as f32;
        let g_inv = diff * (2.0 * self.invariance / (n * d) as f32);
        let (r1, g1) = self.regularizer(z1);
        let (r2, g2) = self.regularizer(z2);
        Ok(LossValue {
            value: self.invariance * inv + r1 + r2,
            grads: vec![&g1 + &g_inv, g2 - &g_inv],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_loss, random_matrix};

    #[test]
    fn gradient_matches_finite_differences() {
        // std ≈ 0.8 ± sampling noise: the hinge is active on most dimensions, not all.
        let z1 = random_matrix(8, 5, 1) * 0.8;
        let z2 = &z1 + &(random_matrix(8, 5, 2) * 0.3);
        check_loss(&VicReg::default(), &[z1, z2]);
    }

    #[test]
    fn collapse_costs_more_than_spread() {
        let spread = random_matrix(64, 8, 1) * 2.0;
        let collapsed = Array2::<f32>::zeros((64, 8));
        let l = |z: &Array2<f32>| VicReg::default().loss(&[z.view(), z.view()]).unwrap().value;
        assert!(l(&collapsed) > l(&spread) + 10.0);
    }
}
