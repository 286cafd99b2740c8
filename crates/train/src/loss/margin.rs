use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::objective::{Loss, LossValue, validate};
use crate::error::ensure_dim;
use crate::nn::{l2_normalize, l2_normalize_backward};
use crate::{Result, TrainError};

/// The pairwise margin contrastive loss (Hadsell, Chopra & LeCun 2006) on unit-normalized
/// embeddings: `y·d² + (1 − y)·max(m − d, 0)²`, averaged over pairs, `d = ‖â − b̂‖ ∈ [0, 2]`.
///
/// As a [`Loss`] over two views the pairs are built from the batch: `(aᵢ, bᵢ)` positive, and
/// `(aᵢ, b₍ᵢ₊ₛ₎ mod n)` negative for `s = 1..=negatives` (batches are shuffled, so these are
/// random other frames). [`Margin::pairs`] takes explicit pairs, e.g. from a few labels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Margin {
    pub margin: f32,
    pub negatives: usize,
}

impl Default for Margin {
    fn default() -> Self {
        Margin {
            margin: 1.0,
            negatives: 2,
        }
    }
}

impl Margin {
    /// Loss over explicit `(row of a, row of b, same?)` pairs; gradients w.r.t. `a` and `b`.
    pub fn pairs(
        &self,
        a: ArrayView2<f32>,
        b: ArrayView2<f32>,
        pairs: &[(usize, usize, bool)],
    ) -> Result<LossValue> {
        ensure_dim("margin loss embedding width", a.ncols(), b.ncols())?;
        if pairs.is_empty() {
            return Err(TrainError::Empty("the list of pairs".into()));
        }
        if let Some(&(i, j, _)) = pairs
            .iter()
            .find(|(i, j, _)| *i >= a.nrows() || *j >= b.nrows())
        {
            return Err(TrainError::InvalidConfig(format!(
                "pair ({i}, {j}) is out of range"
            )));
        }
        let (ua, na) = l2_normalize(a);
        let (ub, nb) = l2_normalize(b);
        let (mut ga, mut gb) = (Array2::zeros(ua.raw_dim()), Array2::zeros(ub.raw_dim()));
        let scale = 1.0 / pairs.len() as f32;
        let mut value = 0.0f64;
        for &(i, j, same) in pairs {
            let diff = &ua.row(i) - &ub.row(j);
            let d = diff.dot(&diff).sqrt();
            // dL/d(diff): positives 2·diff; active negatives −2(m − d)·diff/d.
            let coef = if same {
                value += (d * d) as f64;
                2.0
            } else if d < self.margin {
                value += ((self.margin - d) * (self.margin - d)) as f64;
                -2.0 * (self.margin - d) / d.max(1e-12)
            } else {
                continue;
            };
            ga.row_mut(i).scaled_add(coef * scale, &diff);
            gb.row_mut(j).scaled_add(-coef * scale, &diff);
        }
        Ok(LossValue {
            value: (value * scale as f64) as f32,
            grads: vec![
                l2_normalize_backward(ga.view(), ua.view(), na.view()),
                l2_normalize_backward(gb.view(), ub.view(), nb.view()),
            ],
        })
    }
}

impl Loss for Margin {
    fn loss(&self, inputs: &[ArrayView2<f32>]) -> Result<LossValue> {
        let (n, _) = validate(self, "margin", inputs)?;
        let mut pairs: Vec<(usize, usize, bool)> = (0..n).map(|i| (i, i, true)).collect();
        for s in 1..=self.negatives.min(n - 1) {
            pairs.extend((0..n).map(|i| (i, (i + s) % n, false)));
        }
        self.pairs(inputs[0], inputs[1], &pairs)
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
        // Margin 1.6 keeps some negatives inside the margin and some outside.
        check_loss(
            &Margin {
                margin: 1.6,
                negatives: 2,
            },
            &[z1, z2],
        );
    }

    #[test]
    fn explicit_pairs_are_validated() {
        let a = random_matrix(3, 4, 1);
        let m = Margin::default();
        assert!(m.pairs(a.view(), a.view(), &[]).is_err());
        assert!(m.pairs(a.view(), a.view(), &[(0, 3, true)]).is_err());
        let v = m
            .pairs(a.view(), a.view(), &[(0, 0, true), (1, 1, true)])
            .unwrap()
            .value;
        assert!(v.abs() < 1e-6);
    }
}
