use ndarray::{Array2, ArrayView2};

use crate::error::{ensure_dim, ensure_finite};
use crate::{Result, TrainError};

/// A loss value and its gradient with respect to each input, in input order.
#[derive(Clone, Debug)]
pub struct LossValue {
    pub value: f32,
    pub grads: Vec<Array2<f32>>,
}

/// A self-supervised objective over batches of embeddings (rows = frames, row `i` of every input
/// is the same frame seen differently).
///
/// Losses are pure functions of their inputs: state such as MoCo's queue of negatives is held by
/// the loss value and updated explicitly by the trainer after the step, so that calling `loss`
/// twice gives the same answer (which is what the finite-difference tests rely on). An input
/// that is a stop-gradient target (MoCo keys, BYOL targets) gets an all-zero gradient.
pub trait Loss {
    /// How many inputs the loss takes: 2 for pairwise losses; for multi-view losses the
    /// minimum (they accept any K ≥ that).
    fn arity(&self) -> usize {
        2
    }

    /// Whether more than `arity` inputs are accepted.
    fn multi_view(&self) -> bool {
        false
    }

    fn loss(&self, inputs: &[ArrayView2<f32>]) -> Result<LossValue>;
}

/// Checks count, equal shapes, batch ≥ 2 and finiteness; returns `(n, d)`.
pub(crate) fn validate(
    loss: &dyn Loss,
    what: &str,
    inputs: &[ArrayView2<f32>],
) -> Result<(usize, usize)> {
    let count_ok = if loss.multi_view() {
        inputs.len() >= loss.arity()
    } else {
        inputs.len() == loss.arity()
    };
    if !count_ok {
        if inputs.len() < 2 {
            return Err(TrainError::TooFewViews(inputs.len()));
        }
        return Err(TrainError::DimMismatch {
            what: format!("number of {what} inputs"),
            expected: loss.arity(),
            got: inputs.len(),
        });
    }
    let (n, d) = inputs[0].dim();
    for x in inputs {
        ensure_dim(&format!("{what} batch size"), n, x.nrows())?;
        ensure_dim(&format!("{what} embedding width"), d, x.ncols())?;
        ensure_finite(&format!("{what} input"), x)?;
    }
    if n < 2 || d == 0 {
        return Err(TrainError::TooFewSamples {
            what: format!("a {what} batch"),
            needed: 2,
            got: n,
        });
    }
    Ok((n, d))
}
