//! `Split` along one axis into the sizes of input 1 (or equal parts): timm's `qkv.unbind(0)`
//! exports as Split + Squeeze. Backward concatenates the outputs' gradients, zeros for an
//! output no gradient reached (`k` is unused when only `q` and `v` matter, say).

use ndarray::{ArrayD, Axis, Slice};

use super::attrs;
use super::op::{Grads, Inputs, Op, OpResult};
use crate::graph::{NodeSpec, Tensor, TensorView};

#[derive(Debug)]
pub(crate) struct Split {
    axis: i64,
    outputs: usize,
}

impl Split {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        let outputs = node.outputs.len();
        if outputs == 0 {
            return Err("Split without outputs".into());
        }
        Ok(Split {
            axis: attrs::int(node, "axis", 0)?,
            outputs,
        })
    }

    /// Axis and the (start, length) of every part.
    fn parts(&self, x: &Inputs<'_>, shape: &[usize]) -> OpResult<(usize, Vec<(usize, usize)>)> {
        let axis = attrs::axis(self.axis, shape.len())?;
        let dim = shape[axis];
        let sizes: Vec<usize> = match x.opt_i64(1)? {
            Some(s) => s
                .iter()
                .map(|&v| usize::try_from(v).map_err(|_| format!("negative split size {v}")))
                .collect::<OpResult<_>>()?,
            None => {
                let part = dim.div_ceil(self.outputs);
                (0..self.outputs)
                    .map(|i| part.min(dim.saturating_sub(i * part)))
                    .collect()
            }
        };
        if sizes.len() != self.outputs || sizes.iter().sum::<usize>() != dim {
            return Err(format!(
                "split sizes {sizes:?} do not divide axis of size {dim} into {} parts",
                self.outputs
            ));
        }
        let mut start = 0;
        Ok((
            axis,
            sizes
                .into_iter()
                .map(|len| {
                    start += len;
                    (start - len, len)
                })
                .collect(),
        ))
    }
}

impl Op for Split {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let input = x.get(0).ok_or("input 0 is required")?;
        let (axis, parts) = self.parts(x, input.shape())?;
        Ok(parts
            .into_iter()
            .map(|(s, len)| {
                let range = Slice::from(s..s + len);
                match input {
                    TensorView::F32(a) => Tensor::F32(a.slice_axis(Axis(axis), range).to_owned()),
                    TensorView::I64(a) => Tensor::I64(a.slice_axis(Axis(axis), range).to_owned()),
                }
            })
            .collect())
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        _need: &[bool],
    ) -> OpResult<Grads> {
        let input = x.f32(0)?;
        let (axis, parts) = self.parts(x, input.shape())?;
        let mut dx = ArrayD::<f32>::zeros(input.raw_dim());
        for ((s, len), g) in parts.into_iter().zip(dy) {
            if let Some(g) = g {
                dx.slice_axis_mut(Axis(axis), Slice::from(s..s + len))
                    .assign(g);
            }
        }
        Ok(vec![Some(dx), None])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::check::Case;
    use crate::graph::{Attr, NodeSpec};

    #[test]
    fn unbind_and_uneven_parts() {
        // Only the middle part reaches the output: the others' gradient must be zero.
        let node = NodeSpec::new("Split", "sp", &["x", "s"], &["a", "b", "c"])
            .with_attr("axis", Attr::Int(1));
        let mut c = Case::node(node)
            .input("x", &[2, 5, 3], 1)
            .ints("s", &[1, 3, 1]);
        c.nodes
            .push(NodeSpec::new("Identity", "id", &["b"], &["y"]));
        c.check();
        let node = NodeSpec::new("Split", "sp", &["x"], &["a", "b"]);
        let mut c = Case::node(node).input("x", &[5, 2], 2);
        c.nodes.push(NodeSpec::new("Mul", "m", &["a", "a"], &["y"]));
        c.check();
    }
}
