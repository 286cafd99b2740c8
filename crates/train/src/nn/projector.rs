use ndarray::{Array2, ArrayView2};

use super::{Linear, Module, Norm, NormKind, Param, Relu};
use crate::Rng;

/// `Linear → Norm → ReLU → Linear`: the projector `P` that SSL losses see, and (with the same
/// shape) BYOL's predictor. It gives the loss a space to be invariant in without forcing that
/// invariance onto the adapted embedding itself; it is dropped at deploy time.
#[derive(Clone, Debug)]
pub struct Projector {
    pub fc1: Linear,
    pub norm: Norm,
    relu: Relu,
    pub fc2: Linear,
}

impl Projector {
    pub fn new(
        name: &str,
        inputs: usize,
        hidden: usize,
        outputs: usize,
        norm: NormKind,
        rng: &mut Rng,
    ) -> Self {
        Projector {
            fc1: Linear::new(&format!("{name}.fc1"), inputs, hidden, rng),
            norm: Norm::new(norm, &format!("{name}.norm"), hidden),
            relu: Relu::default(),
            fc2: Linear::new(&format!("{name}.fc2"), hidden, outputs, rng),
        }
    }

    pub fn outputs(&self) -> usize {
        self.fc2.outputs()
    }
}

impl Module for Projector {
    fn forward(&mut self, x: ArrayView2<f32>) -> Array2<f32> {
        let h = self.fc1.forward(x);
        let h = self.norm.forward(h.view());
        let h = self.relu.forward(h.view());
        self.fc2.forward(h.view())
    }

    fn backward(&mut self, g: ArrayView2<f32>) -> Array2<f32> {
        let g = self.fc2.backward(g);
        let g = self.relu.backward(g.view());
        let g = self.norm.backward(g.view());
        self.fc1.backward(g.view())
    }

    fn infer(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let h = self.norm.infer(self.fc1.infer(x).view());
        self.fc2.infer(self.relu.infer(h.view()).view())
    }

    fn params(&self) -> Vec<&Param> {
        let mut v = self.fc1.params();
        v.extend(self.norm.params());
        v.extend(self.fc2.params());
        v
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        let mut v = self.fc1.params_mut();
        v.extend(self.norm.params_mut());
        v.extend(self.fc2.params_mut());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_module, random_matrix};

    #[test]
    fn backward_matches_finite_differences_with_either_norm() {
        for kind in [NormKind::Batch, NormKind::Layer] {
            let mut p = Projector::new("proj", 5, 7, 3, kind, &mut Rng::new(2));
            check_module(&mut p, &random_matrix(6, 5, 1));
        }
    }
}
