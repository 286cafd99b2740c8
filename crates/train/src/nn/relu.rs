use ndarray::{Array2, ArrayView2, Zip};

use super::{Module, Param};

#[derive(Clone, Debug, Default)]
pub struct Relu {
    input: Option<Array2<f32>>,
}

impl Module for Relu {
    fn forward(&mut self, x: ArrayView2<f32>) -> Array2<f32> {
        self.input = Some(x.to_owned());
        self.infer(x)
    }

    fn backward(&mut self, g: ArrayView2<f32>) -> Array2<f32> {
        let x = self.input.take().expect("Relu::backward without forward");
        let mut out = g.to_owned();
        Zip::from(&mut out).and(&x).for_each(|o, &x| {
            if x <= 0.0 {
                *o = 0.0
            }
        });
        out
    }

    fn infer(&self, x: ArrayView2<f32>) -> Array2<f32> {
        x.mapv(|v| v.max(0.0))
    }

    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_module, random_matrix};

    #[test]
    fn backward_matches_finite_differences() {
        // Inputs are drawn away from the kink at 0 by the helper's scale; a wrong mask fails.
        check_module(&mut Relu::default(), &random_matrix(6, 5, 3));
    }
}
