//! Two augmented views of each frame, as the frozen prefix's cached activations.

use ndarray::{ArrayD, Axis, concatenate};

use super::{Result, TuneError};

/// `a[i]` and `b[i]` are the prefix's outputs for two views of frame `i` (or the images
/// themselves when the whole encoder trains): equal shapes, `N × …`, `N ≥ 2`, all finite.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedViews {
    a: ArrayD<f32>,
    b: ArrayD<f32>,
}

fn invalid(reason: String) -> TuneError {
    TuneError::Data {
        what: "paired views",
        reason,
    }
}

impl PairedViews {
    pub fn new(a: ArrayD<f32>, b: ArrayD<f32>) -> Result<PairedViews> {
        if a.shape() != b.shape() {
            return Err(invalid(format!(
                "the two views have shapes {:?} and {:?}",
                a.shape(),
                b.shape()
            )));
        }
        if a.ndim() < 2 || a.shape()[0] < 2 {
            return Err(invalid(format!(
                "need two or more frames in an N x ... array, got shape {:?}",
                a.shape()
            )));
        }
        if a.iter().chain(&b).any(|v| !v.is_finite()) {
            return Err(invalid("an activation is NaN or infinite".into()));
        }
        Ok(PairedViews { a, b })
    }

    pub fn len(&self) -> usize {
        self.a.shape()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one frame's activation.
    pub fn item_shape(&self) -> &[usize] {
        &self.a.shape()[1..]
    }

    /// Frames `idx` of the first view, then the same frames of the second: one batch of
    /// `2·len(idx)` rows, so BatchNormalization sees both views together.
    pub(super) fn batch(&self, idx: &[usize]) -> ArrayD<f32> {
        concatenate![
            Axis(0),
            self.a.select(Axis(0), idx),
            self.b.select(Axis(0), idx)
        ]
    }

    /// Frames `idx` of one view: the first, or the second when `second`.
    pub(super) fn one_view(&self, second: bool, idx: &[usize]) -> ArrayD<f32> {
        let view = if second { &self.b } else { &self.a };
        view.select(Axis(0), idx)
    }

    /// Frame 0 of the first view, as a batch of one.
    pub(super) fn probe(&self) -> ArrayD<f32> {
        self.a.select(Axis(0), &[0])
    }
}
