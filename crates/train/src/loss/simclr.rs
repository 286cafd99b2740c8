use ndarray::{ArrayView2, Axis, concatenate, s};
use serde::{Deserialize, Serialize};

use super::objective::{Loss, LossValue, validate};
use crate::Result;
use crate::nn::{l2_normalize, l2_normalize_backward};

/// SimCLR's NT-Xent (Chen et al. 2020): on the unit sphere, each of the 2N embeddings must pick
/// out its other view among the 2N − 1 others with a softmax at temperature τ.
///
/// The other frames of the batch are the negatives, so this loss wants large batches; on
/// video frames near-duplicates act as false negatives, one reason VICReg is the default.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NtXent {
    pub temperature: f32,
}

impl Default for NtXent {
    fn default() -> Self {
        NtXent { temperature: 0.2 }
    }
}

impl Loss for NtXent {
    fn loss(&self, inputs: &[ArrayView2<f32>]) -> Result<LossValue> {
        let (n, _) = validate(self, "NT-Xent", inputs)?;
        let (u1, n1) = l2_normalize(inputs[0]);
        let (u2, n2) = l2_normalize(inputs[1]);
        let z = concatenate![Axis(0), u1, u2];
        let inv_t = 1.0 / self.temperature;
        // Similarities become dL/dS row by row: softmax over j ≠ i minus the positive's one-hot.
        let mut g = z.dot(&z.t());
        let m = 2 * n;
        let mut value = 0.0f64;
        for (i, mut row) in g.rows_mut().into_iter().enumerate() {
            let pos = (i + n) % m;
            row.mapv_inplace(|v| v * inv_t);
            row[i] = f32::NEG_INFINITY;
            let max = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
            let lse = max + sum.ln();
            value += (lse - row[pos]) as f64;
            row.mapv_inplace(|v| (v - lse).exp() / m as f32);
            row[pos] -= 1.0 / m as f32;
        }
        // S = Z·Zᵀ/τ is used symmetrically, so dL/dZ = (G + Gᵀ)·Z/τ.
        let gs = &g + &g.t();
        let gz = gs.dot(&z) * inv_t;
        Ok(LossValue {
            value: (value / m as f64) as f32,
            grads: vec![
                l2_normalize_backward(gz.slice(s![..n, ..]), u1.view(), n1.view()),
                l2_normalize_backward(gz.slice(s![n.., ..]), u2.view(), n2.view()),
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
        let z1 = random_matrix(6, 4, 1);
        let z2 = &z1 + &(random_matrix(6, 4, 2) * 0.5);
        check_loss(&NtXent { temperature: 0.5 }, &[z1, z2]);
    }

    #[test]
    fn matching_views_beat_random_pairs() {
        let z = random_matrix(32, 16, 1);
        let other = random_matrix(32, 16, 2);
        let l = |a: &ndarray::Array2<f32>, b: &ndarray::Array2<f32>| {
            NtXent::default().loss(&[a.view(), b.view()]).unwrap().value
        };
        assert!(l(&z, &z) + 1.0 < l(&z, &other));
    }
}
