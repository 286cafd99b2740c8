//! Softmax cross-entropy with a weight per row: the supervised part of joint training (weight
//! `1/m` on each of `m` labeled rows) and FixMatch's pseudo-label term (weight `λ/n` on the rows
//! whose teacher was confident, 0 on the others) are the same function.

use ndarray::{Array2, ArrayView2, Axis};

use super::{Loss, LossValue};
use crate::error::ensure_finite;
use crate::{Result, TrainError};

/// `Σᵢ weights[i] · −log softmax(logits[i])[labels[i]]` over the rows of one logits input.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightedCrossEntropy {
    pub labels: Vec<usize>,
    pub weights: Vec<f32>,
}

/// Row-wise softmax, stabilized by the row maximum.
pub fn softmax_rows(logits: ArrayView2<f32>) -> Array2<f32> {
    let mut p = logits.to_owned();
    for mut row in p.axis_iter_mut(Axis(0)) {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let total = row.sum();
        row.mapv_inplace(|v| v / total);
    }
    p
}

impl Loss for WeightedCrossEntropy {
    fn arity(&self) -> usize {
        1
    }

    fn loss(&self, inputs: &[ArrayView2<f32>]) -> Result<LossValue> {
        let [logits] = inputs else {
            return Err(TrainError::TooFewViews(inputs.len()));
        };
        let (n, classes) = logits.dim();
        if self.labels.len() != n || self.weights.len() != n {
            return Err(TrainError::DimMismatch {
                what: "labels and weights per logits row".into(),
                expected: n,
                got: self.labels.len().min(self.weights.len()),
            });
        }
        if let Some(&bad) = self.labels.iter().find(|&&l| l >= classes) {
            return Err(TrainError::InvalidConfig(format!(
                "label {bad} for {classes} classes"
            )));
        }
        ensure_finite("logits", logits)?;
        let mut grad = softmax_rows(*logits);
        let mut value = 0.0f64;
        for ((mut row, &label), &w) in grad
            .axis_iter_mut(Axis(0))
            .zip(&self.labels)
            .zip(&self.weights)
        {
            value -= w as f64 * (row[label].max(f32::MIN_POSITIVE) as f64).ln();
            row[label] -= 1.0;
            row.mapv_inplace(|g| g * w);
        }
        Ok(LossValue {
            value: value as f32,
            grads: vec![grad],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_loss, random_matrix};

    #[test]
    fn gradient_matches_finite_differences() {
        let logits = random_matrix(5, 4, 3) * 2.0;
        let ce = WeightedCrossEntropy {
            labels: vec![0, 3, 1, 1, 2],
            weights: vec![0.2, 0.0, 0.5, 0.2, 1.0],
        };
        check_loss(&ce, &[logits]);
    }

    #[test]
    fn value_is_the_mean_negative_log_likelihood() {
        // Two classes, logits (0, ln 3): p = (1/4, 3/4).
        let logits = ndarray::array![[0.0f32, 3f32.ln()], [0.0, 3f32.ln()]];
        let ce = WeightedCrossEntropy {
            labels: vec![0, 1],
            weights: vec![0.5, 0.5],
        };
        let v = ce.loss(&[logits.view()]).unwrap();
        let want = 0.5 * (4f64.ln() + (4.0f64 / 3.0).ln());
        assert!((v.value as f64 - want).abs() < 1e-6, "{}", v.value);
        let bad = WeightedCrossEntropy {
            labels: vec![0, 2],
            weights: vec![0.5, 0.5],
        };
        assert!(bad.loss(&[logits.view()]).is_err());
    }
}
