//! `Slice` (opset ≥ 10: starts, ends, axes, steps as inputs) with positive steps: the class
//! token `x[:, 0:1]`, shape arithmetic on integer tensors. The gradient is `dy` written into
//! zeros of the input's shape.

use ndarray::{ArrayD, Axis, Slice as Range};

use super::attrs;
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{Tensor, TensorView};

#[derive(Debug)]
pub(crate) struct Slice;

/// One `(axis, start, end, step)` per sliced axis, clamped as ONNX says.
fn ranges(x: &Inputs<'_>, shape: &[usize]) -> OpResult<Vec<(usize, usize, usize, usize)>> {
    let starts = x.opt_i64(1)?.ok_or("starts is required")?;
    let ends = x.opt_i64(2)?.ok_or("ends is required")?;
    let axes = x
        .opt_i64(3)?
        .unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = x.opt_i64(4)?.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    let mut out = Vec::with_capacity(starts.len());
    for i in 0..starts.len() {
        let axis = attrs::axis(axes[i], shape.len())?;
        let dim = shape[axis] as i64;
        if steps[i] < 1 {
            return Err(format!(
                "step {} is not supported (only positive steps)",
                steps[i]
            ));
        }
        let clamp = |v: i64| (if v < 0 { v + dim } else { v }).clamp(0, dim) as usize;
        let (s, e) = (clamp(starts[i]), clamp(ends[i]));
        out.push((axis, s, e.max(s), steps[i] as usize));
    }
    Ok(out)
}

fn apply<T: Clone>(a: ndarray::ArrayViewD<T>, r: &[(usize, usize, usize, usize)]) -> ArrayD<T> {
    let mut v = a;
    for &(axis, s, e, step) in r {
        v.slice_axis_inplace(
            Axis(axis),
            Range::new(s as isize, Some(e as isize), step as isize),
        );
    }
    v.to_owned()
}

impl Op for Slice {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let input = x.get(0).ok_or("input 0 is required")?;
        let r = ranges(x, input.shape())?;
        Ok(vec![match input {
            TensorView::F32(a) => Tensor::F32(apply(a.clone(), &r)),
            TensorView::I64(a) => Tensor::I64(apply(a.clone(), &r)),
        }])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        _need: &[bool],
    ) -> OpResult<Grads> {
        let input = x.f32(0)?;
        let r = ranges(x, input.shape())?;
        let mut dx = ArrayD::<f32>::zeros(input.raw_dim());
        let mut v = dx.view_mut();
        for &(axis, s, e, step) in &r {
            v.slice_axis_inplace(
                Axis(axis),
                Range::new(s as isize, Some(e as isize), step as isize),
            );
        }
        v.assign(single(dy)?);
        Ok(vec![Some(dx)])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::NodeSpec;
    use crate::graph::check::Case;

    #[test]
    fn class_token_and_strided_slices() {
        Case::node(NodeSpec::new(
            "Slice",
            "s",
            &["x", "st", "en", "ax"],
            &["y"],
        ))
        .input("x", &[2, 5, 3], 1)
        .ints("st", &[0])
        .ints("en", &[1])
        .ints("ax", &[1])
        .check();
        Case::node(NodeSpec::new(
            "Slice",
            "s",
            &["x", "st", "en", "ax", "sp"],
            &["y"],
        ))
        .input("x", &[2, 7, 4], 2)
        .ints("st", &[1, -3])
        .ints("en", &[i64::MAX, 100])
        .ints("ax", &[1, 2])
        .ints("sp", &[2, 1])
        .check();
    }
}
