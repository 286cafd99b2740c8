//! `Sigmoid`: 1 / (1 + e^−x).

use super::pointwise::Pointwise;

#[derive(Debug)]
pub(crate) struct Sigmoid;

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Pointwise for Sigmoid {
    fn f(&self, x: f32) -> f32 {
        sigmoid(x)
    }

    fn df(&self, x: f32) -> f32 {
        let s = sigmoid(x);
        s * (1.0 - s)
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
        Case::node(NodeSpec::new("Sigmoid", "act", &["x"], &["y"]))
            .input_value("x", x)
            .check();
    }
}
