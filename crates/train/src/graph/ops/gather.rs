//! `Gather` along one axis: the class token `x[:, 0]` (a scalar index drops the axis),
//! `Shape → Gather` in dynamic exports. Backward adds each `dy` slice into the row it came
//! from (an index may repeat).

use ndarray::{ArrayD, Axis, IxDyn};

use super::attrs;
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{NodeSpec, Tensor, TensorView};

#[derive(Debug)]
pub(crate) struct Gather {
    axis: i64,
}

impl Gather {
    pub fn new(node: &NodeSpec) -> OpResult<Self> {
        Ok(Gather {
            axis: attrs::int(node, "axis", 0)?,
        })
    }

    /// Axis, flat non-negative indices and the output shape.
    fn plan(&self, x: &Inputs<'_>, shape: &[usize]) -> OpResult<(usize, Vec<usize>, Vec<usize>)> {
        let axis = attrs::axis(self.axis, shape.len())?;
        let idx = x.i64(1)?;
        let dim = shape[axis] as i64;
        let flat = idx
            .iter()
            .map(|&i| {
                let j = if i < 0 { i + dim } else { i };
                (0..dim)
                    .contains(&j)
                    .then_some(j as usize)
                    .ok_or_else(|| format!("index {i} out of range for axis of size {dim}"))
            })
            .collect::<OpResult<Vec<_>>>()?;
        let mut out = shape[..axis].to_vec();
        out.extend_from_slice(idx.shape());
        out.extend_from_slice(&shape[axis + 1..]);
        Ok((axis, flat, out))
    }
}

fn gather<T: Clone>(
    a: ndarray::ArrayViewD<T>,
    axis: usize,
    idx: &[usize],
    out: &[usize],
) -> OpResult<ArrayD<T>> {
    a.select(Axis(axis), idx)
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(out))
        .map_err(|e| e.to_string())
}

impl Op for Gather {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let input = x.get(0).ok_or("input 0 is required")?;
        let (axis, idx, out) = self.plan(x, input.shape())?;
        Ok(vec![match input {
            TensorView::F32(a) => Tensor::F32(gather(a.clone(), axis, &idx, &out)?),
            TensorView::I64(a) => Tensor::I64(gather(a.clone(), axis, &idx, &out)?),
        }])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        _need: &[bool],
    ) -> OpResult<Grads> {
        let input = x.f32(0)?;
        let (axis, idx, _) = self.plan(x, input.shape())?;
        let mut selected_shape = input.shape().to_vec();
        selected_shape[axis] = idx.len();
        let g = single(dy)?
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&selected_shape))
            .map_err(|e| e.to_string())?;
        let mut dx = ArrayD::<f32>::zeros(input.raw_dim());
        for (k, &i) in idx.iter().enumerate() {
            let mut dst = dx.index_axis_mut(Axis(axis), i);
            dst += &g.index_axis(Axis(axis), k);
        }
        Ok(vec![Some(dx), None])
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};

    use crate::graph::check::Case;
    use crate::graph::{Attr, NodeSpec};

    #[test]
    fn class_token_and_repeated_indices() {
        let mut c = Case::node(
            NodeSpec::new("Gather", "g", &["x", "i"], &["y"]).with_attr("axis", Attr::Int(1)),
        )
        .input("x", &[2, 5, 3], 1);
        c.ints
            .push(("i", ArrayD::from_shape_vec(IxDyn(&[]), vec![0]).unwrap()));
        assert_eq!(
            c.build()
                .forward(vec![c.inputs[0].1.clone()], false)
                .unwrap()[0]
                .shape(),
            &[2, 3]
        );
        c.check();
        Case::node(NodeSpec::new("Gather", "g", &["x", "i"], &["y"]))
            .input("x", &[4, 3], 2)
            .ints("i", &[3, -1, 0])
            .check();
    }
}
