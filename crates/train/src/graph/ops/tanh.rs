//! `Tanh` (GELU's tanh approximation as some exports write it).

use super::pointwise::Pointwise;

#[derive(Debug)]
pub(crate) struct Tanh;

impl Pointwise for Tanh {
    fn f(&self, x: f32) -> f32 {
        x.tanh()
    }

    fn df(&self, x: f32) -> f32 {
        let t = x.tanh();
        1.0 - t * t
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
        Case::node(NodeSpec::new("Tanh", "act", &["x"], &["y"]))
            .input_value("x", x)
            .check();
    }
}
