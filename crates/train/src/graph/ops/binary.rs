//! `Add`, `Sub`, `Mul`, `Div`, `Pow` with NumPy broadcasting (SE gates `N×C×1×1 ⊙ N×C×H×W`,
//! biases after MatMul, GELU's constants). Integer inputs are shape arithmetic in dynamic
//! exports and are computed without gradients.

use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};

use super::broadcast::{broadcast_shape, unbroadcast};
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{Tensor, TensorView};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

fn zip_broadcast<T: Copy, U: Clone>(
    a: &ArrayViewD<T>,
    b: &ArrayViewD<T>,
    f: impl Fn(T, T) -> U,
) -> OpResult<ArrayD<U>> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    let (a, b) = (
        a.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?,
        b.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?,
    );
    Ok(Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y)))
}

impl Binary {
    fn f32(self, a: f32, b: f32) -> f32 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
            Binary::Pow => pow(a, b),
        }
    }
}

/// `powf` with the integer exponents of exports (`x^2`, `x^3`) done as products: exact like
/// PyTorch's and defined for negative bases.
fn pow(a: f32, b: f32) -> f32 {
    if b == 2.0 {
        a * a
    } else if b.fract() == 0.0 && b.abs() <= 16.0 {
        a.powi(b as i32)
    } else {
        a.powf(b)
    }
}

impl Op for Binary {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let op = *self;
        match (x.get(0), x.get(1)) {
            (Some(TensorView::I64(a)), Some(TensorView::I64(b))) => {
                let y = zip_broadcast(a, b, |a, b| match op {
                    Binary::Add => a.wrapping_add(b),
                    Binary::Sub => a.wrapping_sub(b),
                    Binary::Mul => a.wrapping_mul(b),
                    Binary::Div => a.checked_div(b).unwrap_or(0),
                    Binary::Pow => a.wrapping_pow(b.clamp(0, 63) as u32),
                })?;
                Ok(vec![Tensor::I64(y)])
            }
            _ => Ok(vec![Tensor::F32(zip_broadcast(
                &x.f32(0)?,
                &x.f32(1)?,
                |a, b| op.f32(a, b),
            )?)]),
        }
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        need: &[bool],
    ) -> OpResult<Grads> {
        let (a, b) = (x.f32(0)?, x.f32(1)?);
        let g = single(dy)?;
        let shape = g.shape().to_vec();
        let (ab, bb) = (
            a.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?,
            b.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?,
        );
        let local = |f: &dyn Fn(f32, f32, f32) -> f32| {
            Zip::from(g)
                .and(&ab)
                .and(&bb)
                .map_collect(|&g, &a, &b| f(g, a, b))
        };
        let da = need[0].then(|| match self {
            Binary::Add | Binary::Sub => unbroadcast(g.view(), a.shape()),
            Binary::Mul => unbroadcast(local(&|g, _, b| g * b).view(), a.shape()),
            Binary::Div => unbroadcast(local(&|g, _, b| g / b).view(), a.shape()),
            Binary::Pow => unbroadcast(local(&|g, a, b| g * b * pow(a, b - 1.0)).view(), a.shape()),
        });
        let db = need.get(1).copied().unwrap_or(false).then(|| match self {
            Binary::Add => unbroadcast(g.view(), b.shape()),
            Binary::Sub => unbroadcast(g.view(), b.shape()).mapv(|v| -v),
            Binary::Mul => unbroadcast(local(&|g, a, _| g * a).view(), b.shape()),
            Binary::Div => unbroadcast(local(&|g, a, b| -g * a / (b * b)).view(), b.shape()),
            Binary::Pow => unbroadcast(
                local(&|g, a, b| if a > 0.0 { g * pow(a, b) * a.ln() } else { 0.0 }).view(),
                b.shape(),
            ),
        });
        Ok(vec![da, db])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::NodeSpec;
    use crate::graph::check::{Case, random};

    #[test]
    fn squeeze_excitation_broadcast() {
        for op in ["Add", "Sub", "Mul"] {
            Case::node(NodeSpec::new(op, "op", &["gate", "x"], &["y"]))
                .input("gate", &[2, 3, 1, 1], 1)
                .input("x", &[2, 3, 4, 5], 2)
                .check();
        }
    }

    #[test]
    fn div_and_pow_with_parameters() {
        let den = random(&[4], 3).mapv(|v| v.abs() + 0.5);
        Case::node(NodeSpec::new("Div", "div", &["x", "d"], &["y"]))
            .input("x", &[3, 4], 4)
            .param_value("d", den)
            .check();
        let base = random(&[3, 4], 5).mapv(|v| v.abs() + 0.5);
        let exp = random(&[1], 6).mapv(|v| v.abs() + 1.2);
        Case::node(NodeSpec::new("Pow", "pow", &["x", "e"], &["y"]))
            .input_value("x", base)
            .param_value("e", exp)
            .check();
    }

    #[test]
    fn integer_shape_arithmetic() {
        let mut g = Case::node(NodeSpec::new("Mul", "m", &["a", "b"], &["y"]))
            .ints("a", &[2, 3])
            .ints("b", &[4])
            .build();
        // A graph whose only output is an integer tensor cannot be read as floats.
        assert!(g.forward(vec![], false).is_err());
    }
}
