//! `Concat` along one axis (class token + patches; shape vectors in dynamic exports). The
//! gradient of each input is its slice of `dy`.

use ndarray::{ArrayD, Axis, Slice};

use super::attrs;
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{NodeSpec, Tensor, TensorView};

#[derive(Debug)]
pub(crate) struct Concat {
    axis: i64,
}

impl Concat {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        Ok(Concat {
            axis: attrs::int(node, "axis", 0)?,
        })
    }
}

fn join<T: Clone>(parts: &[ndarray::ArrayViewD<T>], axis: usize) -> OpResult<ArrayD<T>> {
    ndarray::concatenate(Axis(axis), parts).map_err(|e| format!("inputs do not concatenate: {e}"))
}

impl Op for Concat {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let first = x.get(0).ok_or("input 0 is required")?;
        let axis = attrs::axis(self.axis, first.shape().len())?;
        Ok(vec![match first {
            TensorView::F32(_) => {
                let parts = (0..x.len())
                    .map(|i| x.f32(i))
                    .collect::<OpResult<Vec<_>>>()?;
                Tensor::F32(join(&parts, axis)?)
            }
            TensorView::I64(_) => {
                let parts = (0..x.len())
                    .map(|i| x.i64(i))
                    .collect::<OpResult<Vec<_>>>()?;
                Tensor::I64(join(&parts, axis)?)
            }
        }])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        need: &[bool],
    ) -> OpResult<Grads> {
        let g = single(dy)?;
        let axis = Axis(attrs::axis(self.axis, g.ndim())?);
        let mut start = 0;
        let mut out = Vec::with_capacity(x.len());
        for (i, &want) in need.iter().enumerate().take(x.len()) {
            let len = x.f32(i)?.shape()[axis.0];
            out.push(want.then(|| {
                g.slice_axis(axis, Slice::from(start..start + len))
                    .to_owned()
            }));
            start += len;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::check::Case;
    use crate::graph::{Attr, NodeSpec};

    #[test]
    fn class_token_and_patches() {
        let node =
            NodeSpec::new("Concat", "c", &["cls", "x"], &["y"]).with_attr("axis", Attr::Int(1));
        Case::node(node)
            .param("cls", &[2, 1, 3], 1)
            .input("x", &[2, 4, 3], 2)
            .check();
    }
}
