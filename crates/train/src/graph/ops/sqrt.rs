//! `Sqrt` (LayerNorm written out by hand, attention scale).

use super::pointwise::Pointwise;

#[derive(Debug)]
pub(crate) struct Sqrt;

impl Pointwise for Sqrt {
    fn f(&self, x: f32) -> f32 {
        x.sqrt()
    }

    fn df(&self, x: f32) -> f32 {
        0.5 / x.sqrt()
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::NodeSpec;
    use crate::graph::check::{Case, random};

    #[test]
    fn backward_matches_finite_differences() {
        let x = random(&[3, 4], 1).mapv(|v| v.abs() + 0.3);
        Case::node(NodeSpec::new("Sqrt", "s", &["x"], &["y"]))
            .input_value("x", x)
            .check();
    }
}
