use ndarray::{Array2, ArrayView2};

use super::classifier::softmax_rows;
use crate::Result;
use crate::nn::l2_normalize;
use crate::tensor_file::TensorFile;

/// Weight imprinting (Qi, Brown & Lowe 2018; Coral's on-device "imprinting" engine): each class
/// weight is the normalized mean of its examples' unit embeddings, and a sample's score is its
/// cosine to each class weight. No optimization at all, so it works from one shot per class
/// and refits in microseconds on the device.
#[derive(Clone, Debug, PartialEq)]
pub struct ImprintHead {
    /// `C × D`, unit rows.
    pub weight: Array2<f32>,
    /// Softmax scale on cosines; cosines live in [−1, 1], so without it every class would get
    /// a similar probability.
    pub scale: f32,
}

impl ImprintHead {
    pub(super) fn fit(unit: ArrayView2<f32>, labels: &[usize], classes: usize) -> Self {
        let mut sums = Array2::<f32>::zeros((classes, unit.ncols()));
        for (row, &y) in unit.rows().into_iter().zip(labels) {
            let mut s = sums.row_mut(y);
            s += &row;
        }
        ImprintHead {
            weight: l2_normalize(sums.view()).0,
            scale: 16.0,
        }
    }

    pub(super) fn probabilities(&self, unit: ArrayView2<f32>) -> Array2<f32> {
        softmax_rows(unit.dot(&self.weight.t()), self.scale)
    }

    pub(super) fn write(&self, f: &mut TensorFile) {
        f.insert2("imprint.weight", &self.weight);
        f.set("scale", self.scale);
    }

    pub(super) fn read(f: &mut TensorFile, classes: usize, dim: usize) -> Result<Self> {
        Ok(ImprintHead {
            weight: f.take2("imprint.weight", Some((classes, dim)))?,
            scale: f.positive("scale")?,
        })
    }
}
