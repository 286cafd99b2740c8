//! `Clip` (ReLU6 exports as `Clip(x, 0, 6)`). Bounds come from inputs 1 and 2 (opset ≥ 11) or
//! the old `min`/`max` attributes; they are constants, so only `x` gets a gradient: `dy` where
//! `min < x < max`, as PyTorch's hardtanh does.

use ndarray::{ArrayD, Zip};

use super::attrs;
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{NodeSpec, Tensor};

#[derive(Debug)]
pub(crate) struct Clip {
    min: f32,
    max: f32,
}

impl Clip {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        Ok(Clip {
            min: attrs::float(node, "min", f32::NEG_INFINITY)?,
            max: attrs::float(node, "max", f32::INFINITY)?,
        })
    }

    fn bounds(&self, x: &Inputs<'_>) -> OpResult<(f32, f32)> {
        let scalar = |i: usize, default: f32| -> OpResult<f32> {
            match x.opt_f32(i)? {
                None => Ok(default),
                Some(a) if a.len() == 1 => Ok(a.iter().next().copied().unwrap_or(default)),
                Some(a) => Err(format!(
                    "bound {i} must be a scalar, got shape {:?}",
                    a.shape()
                )),
            }
        };
        Ok((scalar(1, self.min)?, scalar(2, self.max)?))
    }
}

impl Op for Clip {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let (lo, hi) = self.bounds(x)?;
        Ok(vec![Tensor::F32(x.f32(0)?.mapv(|v| v.max(lo).min(hi)))])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        _need: &[bool],
    ) -> OpResult<Grads> {
        let (lo, hi) = self.bounds(x)?;
        let mut g = single(dy)?.clone();
        Zip::from(&mut g).and(&x.f32(0)?).for_each(|g, &v| {
            if !(v > lo && v < hi) {
                *g = 0.0
            }
        });
        Ok(vec![Some(g)])
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};

    use crate::graph::NodeSpec;
    use crate::graph::check::{Case, random};

    #[test]
    fn relu6_backward_matches_finite_differences() {
        let x = random(&[3, 4, 5], 1).mapv(|v| v * 4.0 + 3.0);
        let scalar = |v: f32| ArrayD::from_shape_vec(IxDyn(&[]), vec![v]).unwrap();
        Case::node(NodeSpec::new("Clip", "clip", &["x", "lo", "hi"], &["y"]))
            .input_value("x", x.clone())
            .constant("lo", scalar(0.0))
            .constant("hi", scalar(6.0))
            .check();
        // Omitted min: only the upper bound applies.
        Case::node(NodeSpec::new("Clip", "clip", &["x", "", "hi"], &["y"]))
            .input_value("x", x)
            .constant("hi", scalar(6.0))
            .check();
    }
}
