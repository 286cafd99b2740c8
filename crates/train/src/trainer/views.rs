use ndarray::{Array2, Array3, ArrayView2, Axis};

use crate::error::{ensure_dim, ensure_finite};
use crate::{Result, TrainError};

/// The cached embeddings of K augmented views of N frames: a `K × N × D` array.
///
/// Row `n` of every view is the same frame. Caching these once is what makes adaptation cheap:
/// every epoch after that is MLP math only, never the encoder.
#[derive(Clone, Debug)]
pub struct Views {
    data: Array3<f32>,
}

impl Views {
    pub fn new(data: Array3<f32>) -> Result<Self> {
        let (k, n, d) = data.dim();
        if k < 2 {
            return Err(TrainError::TooFewViews(k));
        }
        if n == 0 || d == 0 {
            return Err(TrainError::Empty(format!("the view cache ({k}×{n}×{d})")));
        }
        if n < 2 {
            return Err(TrainError::TooFewSamples {
                what: "adaptation".into(),
                needed: 2,
                got: n,
            });
        }
        ensure_finite("view embeddings", &data)?;
        Ok(Views { data })
    }

    /// From K per-view `N × D` matrices.
    pub fn from_views(views: &[Array2<f32>]) -> Result<Self> {
        let first = views.first().ok_or(TrainError::TooFewViews(0))?;
        for v in views {
            ensure_dim("frames per view", first.nrows(), v.nrows())?;
            ensure_dim("embedding width", first.ncols(), v.ncols())?;
        }
        let stacked: Vec<ArrayView2<f32>> = views.iter().map(|v| v.view()).collect();
        let data = ndarray::stack(Axis(0), &stacked).expect("shapes checked above");
        Self::new(data)
    }

    pub fn views(&self) -> usize {
        self.data.dim().0
    }

    pub fn frames(&self) -> usize {
        self.data.dim().1
    }

    pub fn dim(&self) -> usize {
        self.data.dim().2
    }

    pub fn shape(&self) -> (usize, usize, usize) {
        self.data.dim()
    }

    pub fn array(&self) -> &Array3<f32> {
        &self.data
    }

    /// Row `i` of the result is view `view_of(i)` of frame `frames[i]`.
    pub(crate) fn gather(&self, frames: &[usize], view_of: impl Fn(usize) -> usize) -> Array2<f32> {
        let mut out = Array2::zeros((frames.len(), self.dim()));
        for (i, (mut row, &f)) in out.rows_mut().into_iter().zip(frames).enumerate() {
            row.assign(&self.data.slice(ndarray::s![view_of(i), f, ..]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_caches_are_typed_errors() {
        assert!(matches!(
            Views::new(Array3::zeros((1, 4, 3))),
            Err(TrainError::TooFewViews(1))
        ));
        assert!(matches!(
            Views::new(Array3::zeros((2, 0, 3))),
            Err(TrainError::Empty(_))
        ));
        assert!(matches!(
            Views::new(Array3::zeros((2, 1, 3))),
            Err(TrainError::TooFewSamples { .. })
        ));
        let mut nan = Array3::zeros((2, 4, 3));
        nan[[1, 2, 0]] = f32::NAN;
        assert!(matches!(Views::new(nan), Err(TrainError::NonFinite(_))));
        assert!(matches!(
            Views::from_views(&[]),
            Err(TrainError::TooFewViews(0))
        ));
        let err = Views::from_views(&[Array2::zeros((4, 3)), Array2::zeros((4, 2))]);
        assert!(matches!(err, Err(TrainError::DimMismatch { .. })));
    }

    #[test]
    fn gather_picks_view_and_frame() {
        let data = Array3::from_shape_fn((3, 4, 2), |(k, n, d)| (k * 100 + n * 10 + d) as f32);
        let v = Views::new(data).unwrap();
        let g = v.gather(&[3, 1], |i| i + 1);
        assert_eq!(g.row(0).to_vec(), vec![130.0, 131.0]);
        assert_eq!(g.row(1).to_vec(), vec![210.0, 211.0]);
    }
}
