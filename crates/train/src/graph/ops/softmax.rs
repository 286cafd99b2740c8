//! `Softmax` along one axis (opset ≥ 13 semantics; default the last). Backward:
//! `dx = y ⊙ (dy − Σ(dy ⊙ y))` along the axis, with `y` recomputed from the input.

use ndarray::{ArrayD, Axis, Zip};

use super::attrs;
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{NodeSpec, Tensor};

#[derive(Debug)]
pub(crate) struct Softmax {
    axis: i64,
}

impl Softmax {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        Ok(Softmax {
            axis: attrs::int(node, "axis", -1)?,
        })
    }

    fn apply(&self, x: &ndarray::ArrayViewD<f32>) -> OpResult<ArrayD<f32>> {
        let axis = Axis(attrs::axis(self.axis, x.ndim())?);
        let mut y = x.to_owned();
        for mut lane in y.lanes_mut(axis) {
            let max = lane.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            lane.mapv_inplace(|v| (v - max).exp());
            let sum: f32 = lane.sum();
            lane.mapv_inplace(|v| v / sum);
        }
        Ok(y)
    }
}

impl Op for Softmax {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        Ok(vec![Tensor::F32(self.apply(&x.f32(0)?)?)])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        _need: &[bool],
    ) -> OpResult<Grads> {
        let input = x.f32(0)?;
        let axis = Axis(attrs::axis(self.axis, input.ndim())?);
        let mut y = self.apply(&input)?;
        let g = single(dy)?;
        Zip::from(y.lanes_mut(axis))
            .and(g.lanes(axis))
            .for_each(|mut y, g| {
                let dot: f32 = y.iter().zip(&g).map(|(a, b)| a * b).sum();
                Zip::from(&mut y).and(&g).for_each(|y, &g| *y *= g - dot);
            });
        Ok(vec![Some(y)])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::check::Case;
    use crate::graph::{Attr, NodeSpec};

    #[test]
    fn backward_matches_finite_differences() {
        Case::node(NodeSpec::new("Softmax", "sm", &["x"], &["y"]))
            .input("x", &[2, 3, 5], 1)
            .check();
        let node = NodeSpec::new("Softmax", "sm", &["x"], &["y"]).with_attr("axis", Attr::Int(1));
        Case::node(node).input("x", &[2, 3, 5], 2).check();
    }
}
