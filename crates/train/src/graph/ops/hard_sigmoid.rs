//! `HardSigmoid`: clamp(αx + β, 0, 1). PyTorch's `hardsigmoid` exports as α = 1/6, β = 0.5;
//! its gradient is α strictly inside the ramp and 0 at and beyond the corners.

use crate::graph::NodeSpec;

use super::attrs;
use super::op::OpResult;
use super::pointwise::Pointwise;

#[derive(Debug)]
pub(crate) struct HardSigmoid {
    alpha: f32,
    beta: f32,
}

impl HardSigmoid {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        Ok(HardSigmoid {
            alpha: attrs::float(node, "alpha", 0.2)?,
            beta: attrs::float(node, "beta", 0.5)?,
        })
    }
}

impl Pointwise for HardSigmoid {
    fn f(&self, x: f32) -> f32 {
        (self.alpha * x + self.beta).clamp(0.0, 1.0)
    }

    fn df(&self, x: f32) -> f32 {
        let v = self.alpha * x + self.beta;
        if v > 0.0 && v < 1.0 { self.alpha } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::check::{Case, random};
    use crate::graph::{Attr, NodeSpec};

    #[test]
    fn backward_matches_finite_differences() {
        let x = random(&[3, 4, 5], 1).mapv(|v| v * 3.0);
        let node = NodeSpec::new("HardSigmoid", "hs", &["x"], &["y"])
            .with_attr("alpha", Attr::Float(1.0 / 6.0));
        Case::node(node).input_value("x", x).check();
    }
}
