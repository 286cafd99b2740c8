//! `Relu`: max(x, 0); the gradient at 0 is 0, as in PyTorch.

use super::pointwise::Pointwise;

#[derive(Debug)]
pub(crate) struct Relu;

impl Pointwise for Relu {
    fn f(&self, x: f32) -> f32 {
        x.max(0.0)
    }

    fn df(&self, x: f32) -> f32 {
        if x > 0.0 { 1.0 } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::NodeSpec;
    use crate::graph::check::{Case, random};

    #[test]
    fn backward_matches_finite_differences() {
        // Spread over [-4, 4] so every piece of the function is exercised.
        let x = random(&[3, 4, 5], 1).mapv(|v| v * 2.5);
        Case::node(NodeSpec::new("Relu", "act", &["x"], &["y"]))
            .input_value("x", x)
            .check();
    }
}
