use ndarray::{Array1, Array2, ArrayView2, Axis, Zip};
use serde::{Deserialize, Serialize};

use super::{Module, Param, standardize, standardize_backward};

/// Which axis a [`Norm`] standardizes over.
///
/// * `Layer` — per sample, over features. The adapter uses it because the adapter is deployed: a
///   per-sample norm answers the same at batch 1 on the device as at batch 256 in training, needs
///   no running statistics and maps to one ONNX `LayerNormalization` node.
/// * `Batch` — per feature, over the batch (BatchNorm1d). Used only in the projector/predictor,
///   which exist only during training, so it always uses the current batch's statistics
///   (PyTorch's train mode) and keeps no running averages: there is no eval mode to serve.
///   BatchNorm in the projector is what VICReg, Barlow Twins and BYOL were tuned with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    Layer,
    Batch,
}

impl NormKind {
    fn axis(self) -> Axis {
        match self {
            NormKind::Layer => Axis(1),
            NormKind::Batch => Axis(0),
        }
    }
}

/// `gain ⊙ standardize(x) + bias`, LayerNorm or BatchNorm1d by [`NormKind`].
#[derive(Clone, Debug)]
pub struct Norm {
    pub kind: NormKind,
    pub gain: Param,
    pub bias: Param,
    pub eps: f32,
    cache: Option<(Array2<f32>, Array1<f32>)>,
}

impl Norm {
    pub fn new(kind: NormKind, name: &str, dim: usize) -> Self {
        Norm {
            kind,
            gain: Param::new(format!("{name}.weight"), Array2::ones((1, dim)), false),
            bias: Param::new(format!("{name}.bias"), Array2::zeros((1, dim)), false),
            eps: 1e-5,
            cache: None,
        }
    }

    pub fn layer(name: &str, dim: usize) -> Self {
        Self::new(NormKind::Layer, name, dim)
    }

    pub fn batch(name: &str, dim: usize) -> Self {
        Self::new(NormKind::Batch, name, dim)
    }
}

impl Module for Norm {
    fn forward(&mut self, x: ArrayView2<f32>) -> Array2<f32> {
        let (xhat, inv) = standardize(x, self.kind.axis(), self.eps);
        let y = &xhat * &self.gain.value + &self.bias.value;
        self.cache = Some((xhat, inv));
        y
    }

    fn backward(&mut self, g: ArrayView2<f32>) -> Array2<f32> {
        let (xhat, inv) = self.cache.take().expect("Norm::backward without forward");
        self.bias.grad += &g.sum_axis(Axis(0)).insert_axis(Axis(0));
        let mut gx = g.to_owned();
        gx *= &xhat;
        self.gain.grad += &gx.sum_axis(Axis(0)).insert_axis(Axis(0));
        // Reuse the buffer for dL/dx̂ = g ⊙ gain.
        Zip::from(&mut gx)
            .and(&g)
            .and_broadcast(&self.gain.value)
            .for_each(|o, &g, &w| *o = g * w);
        standardize_backward(gx.view(), xhat.view(), inv.view(), self.kind.axis())
    }

    fn infer(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let (xhat, _) = standardize(x, self.kind.axis(), self.eps);
        &xhat * &self.gain.value + &self.bias.value
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.gain, &self.bias]
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.gain, &mut self.bias]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_module, random_matrix};

    fn with_random_affine(mut m: Norm, dim: usize) -> Norm {
        // Non-trivial gain/bias so their gradients are exercised away from 1/0.
        m.gain.value = random_matrix(1, dim, 8);
        m.bias.value = random_matrix(1, dim, 9);
        m
    }

    #[test]
    fn layer_norm_backward_matches_finite_differences() {
        check_module(
            &mut with_random_affine(Norm::layer("ln", 6), 6),
            &random_matrix(5, 6, 4),
        );
    }

    #[test]
    fn batch_norm_backward_matches_finite_differences() {
        check_module(
            &mut with_random_affine(Norm::batch("bn", 4), 4),
            &random_matrix(7, 4, 4),
        );
    }

    #[test]
    fn layer_norm_standardizes_rows_and_batch_norm_columns() {
        let x = random_matrix(40, 8, 5);
        let rows = Norm::layer("ln", 8).infer(x.view());
        let cols = Norm::batch("bn", 8).infer(x.view());
        for lane in rows.rows().into_iter().chain(cols.columns()) {
            assert!(lane.mean().unwrap().abs() < 1e-5);
            assert!((lane.mapv(|v| v * v).mean().unwrap() - 1.0).abs() < 1e-3);
        }
    }
}
