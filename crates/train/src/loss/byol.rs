use ndarray::{Array2, ArrayView2, Zip};
use serde::{Deserialize, Serialize};

use super::objective::{Loss, LossValue, validate};
use crate::Result;
use crate::nn::{l2_normalize, l2_normalize_backward};

/// BYOL's regression loss (Grill et al. 2020): `mean_i ‖p̂ᵢ − t̂ᵢ‖² = 2 − 2·cos(pᵢ, tᵢ)`.
///
/// Inputs are `[p, t]`: the online predictor's output and the EMA target's projection (stop-
/// gradient, zero gradient returned). No negatives: collapse is avoided by the asymmetry of
/// predictor + slowly moving target, which the trainer supplies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Byol;

impl Loss for Byol {
    fn loss(&self, inputs: &[ArrayView2<f32>]) -> Result<LossValue> {
        let (n, _) = validate(self, "BYOL", inputs)?;
        let (p, pn) = l2_normalize(inputs[0]);
        let (t, _) = l2_normalize(inputs[1]);
        let cos = Zip::from(p.rows())
            .and(t.rows())
            .map_collect(|a, b| a.dot(&b));
        let value = 2.0 - 2.0 * cos.sum() / n as f32;
        let gp = &t * (-2.0 / n as f32);
        Ok(LossValue {
            value,
            grads: vec![
                l2_normalize_backward(gp.view(), p.view(), pn.view()),
                Array2::zeros(t.raw_dim()),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_loss, random_matrix};

    struct Online;
    impl Loss for Online {
        fn loss(&self, inputs: &[ArrayView2<f32>]) -> Result<LossValue> {
            let mut out = Byol.loss(inputs)?;
            out.grads.truncate(1);
            Ok(out)
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let p = random_matrix(5, 4, 1);
        let t = random_matrix(5, 4, 2);
        assert!(
            Byol.loss(&[p.view(), t.view()]).unwrap().grads[1]
                .iter()
                .all(|&g| g == 0.0)
        );
        check_loss(&Online, &[p, t]);
    }

    #[test]
    fn zero_when_aligned() {
        let p = random_matrix(5, 4, 1);
        let v = Byol.loss(&[p.view(), (&p * 3.0).view()]).unwrap().value;
        assert!(v.abs() < 1e-5);
    }
}
