use ndarray::{Array2, ArrayView2, Axis};

use super::{Module, Param};
use crate::Rng;
use crate::sgemm::gemm_threaded;

/// `y = x·Wᵀ + b`, with `W` stored `out × in` as PyTorch and ONNX `Gemm(transB=1)` do, so an
/// exporter can copy it verbatim.
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: Param,
    pub bias: Param,
    input: Option<Array2<f32>>,
}

impl Linear {
    /// PyTorch's default init, U(±1/√in) for weight and bias, so recipes port unchanged.
    pub fn new(name: &str, inputs: usize, outputs: usize, rng: &mut Rng) -> Self {
        let bound = 1.0 / (inputs as f32).sqrt();
        let w = Array2::from_shape_simple_fn((outputs, inputs), || rng.uniform(-bound, bound));
        let b = Array2::from_shape_simple_fn((1, outputs), || rng.uniform(-bound, bound));
        Self::from_parts(name, w, b)
    }

    /// All-zero weight and bias: the last layer of the residual adapter starts here so the
    /// adapter starts as the identity and training can only move away from the frozen encoder
    /// as far as the loss asks.
    pub fn zeros(name: &str, inputs: usize, outputs: usize) -> Self {
        Self::from_parts(
            name,
            Array2::zeros((outputs, inputs)),
            Array2::zeros((1, outputs)),
        )
    }

    pub fn from_parts(name: &str, weight: Array2<f32>, bias: Array2<f32>) -> Self {
        assert_eq!(bias.dim(), (1, weight.nrows()), "bias must be 1 × out");
        Linear {
            weight: Param::new(format!("{name}.weight"), weight, true),
            bias: Param::new(format!("{name}.bias"), bias, false),
            input: None,
        }
    }

    pub fn inputs(&self) -> usize {
        self.weight.value.ncols()
    }

    pub fn outputs(&self) -> usize {
        self.weight.value.nrows()
    }
}

impl Linear {
    /// [`Module::backward`] without the input's gradient: only `dL/dW` and `dL/db` are
    /// accumulated, for a first layer whose input is data (one GEMM fewer).
    pub fn backward_params(&mut self, g: ArrayView2<f32>) {
        let x = self.input.take().expect("Linear::backward without forward");
        gemm_threaded(1.0, g.t(), x.view(), 1.0, self.weight.grad.view_mut());
        self.bias.grad += &g.sum_axis(Axis(0)).insert_axis(Axis(0));
    }
}

impl Module for Linear {
    fn forward(&mut self, x: ArrayView2<f32>) -> Array2<f32> {
        self.input = Some(x.to_owned());
        self.infer(x)
    }

    fn backward(&mut self, g: ArrayView2<f32>) -> Array2<f32> {
        self.backward_params(g);
        let mut gx = Array2::zeros((g.nrows(), self.inputs()));
        gemm_threaded(1.0, g, self.weight.value.view(), 0.0, gx.view_mut());
        gx
    }

    fn infer(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut y = Array2::zeros((x.nrows(), self.outputs()));
        gemm_threaded(1.0, x, self.weight.value.t(), 0.0, y.view_mut());
        y += &self.bias.value;
        y
    }

    fn params(&self) -> Vec<&Param> {
        vec![&self.weight, &self.bias]
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.weight, &mut self.bias]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_module, random_matrix};

    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = Rng::new(1);
        let mut m = Linear::new("fc", 5, 3, &mut rng);
        check_module(&mut m, &random_matrix(4, 5, 2));
    }

    #[test]
    fn zeros_is_zero() {
        let m = Linear::zeros("fc", 4, 2);
        assert!(
            m.infer(random_matrix(3, 4, 1).view())
                .iter()
                .all(|&v| v == 0.0)
        );
    }
}
