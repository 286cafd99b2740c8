//! `HardSwish`: x·relu6(x + 3)/6 (MobileNetV3). PyTorch's gradient is 0 below −3, 1 above +3
//! and (2x + 3)/6 between, with the ramp's formula used at exactly ±3.

use super::pointwise::Pointwise;

#[derive(Debug)]
pub(crate) struct HardSwish;

impl Pointwise for HardSwish {
    fn f(&self, x: f32) -> f32 {
        x * (x + 3.0).clamp(0.0, 6.0) / 6.0
    }

    fn df(&self, x: f32) -> f32 {
        if x < -3.0 {
            0.0
        } else if x > 3.0 {
            1.0
        } else {
            (2.0 * x + 3.0) / 6.0
        }
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
        Case::node(NodeSpec::new("HardSwish", "act", &["x"], &["y"]))
            .input_value("x", x)
            .check();
    }
}
