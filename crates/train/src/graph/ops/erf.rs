//! `Erf`, the core of exact GELU as ONNX exports it: `0.5·x·(1 + erf(x/√2))` becomes
//! Div, Erf, Add, Mul, Mul. The standard library has no `erf`; this is the Chebyshev fit of
//! Numerical Recipes (fractional error below 1.2e-7 everywhere), evaluated in f64.

use super::pointwise::Pointwise;

#[derive(Debug)]
pub(crate) struct Erf;

pub(crate) fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 { 1.0 - erfc } else { erfc - 1.0 }
}

impl Pointwise for Erf {
    fn f(&self, x: f32) -> f32 {
        erf(x as f64) as f32
    }

    fn df(&self, x: f32) -> f32 {
        let x = x as f64;
        (std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp()) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::NodeSpec;
    use crate::graph::check::{Case, random};

    #[test]
    fn known_values() {
        // erf(0.5), erf(1), erf(2) from tables.
        for (x, want) in [
            (0.5, 0.520_499_877_8),
            (1.0, 0.842_700_792_9),
            (2.0, 0.995_322_265_0),
        ] {
            assert!((erf(x) - want).abs() < 2e-7, "erf({x})");
            assert!((erf(-x) + want).abs() < 2e-7);
        }
        assert!(erf(0.0).abs() < 2e-7);
    }

    #[test]
    fn backward_matches_finite_differences() {
        // Spread over [-4, 4] so every piece of the function is exercised.
        let x = random(&[3, 4, 5], 1).mapv(|v| v * 2.5);
        Case::node(NodeSpec::new("Erf", "act", &["x"], &["y"]))
            .input_value("x", x)
            .check();
    }
}
