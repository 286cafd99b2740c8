//! `Expand(x, shape)`: NumPy broadcasting of `x` against `shape` (timm's class token,
//! `1 × 1 × D` → `B × 1 × D`). The gradient sums over the broadcast axes.

use ndarray::{ArrayD, IxDyn};

use super::broadcast::{broadcast_shape, unbroadcast};
use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::{Tensor, TensorView};

#[derive(Debug)]
pub(crate) struct Expand;

fn target(x: &Inputs<'_>, shape: &[usize]) -> OpResult<Vec<usize>> {
    let want = x
        .i64(1)?
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<OpResult<Vec<_>>>()?;
    broadcast_shape(shape, &want)
}

fn expand<T: Clone>(a: &ndarray::ArrayViewD<T>, to: &[usize]) -> OpResult<ArrayD<T>> {
    Ok(a.broadcast(IxDyn(to)).ok_or("broadcast failed")?.to_owned())
}

impl Op for Expand {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let input = x.get(0).ok_or("input 0 is required")?;
        let to = target(x, input.shape())?;
        Ok(vec![match input {
            TensorView::F32(a) => Tensor::F32(expand(a, &to)?),
            TensorView::I64(a) => Tensor::I64(expand(a, &to)?),
        }])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        _need: &[bool],
    ) -> OpResult<Grads> {
        Ok(vec![
            Some(unbroadcast(single(dy)?.view(), x.f32(0)?.shape())),
            None,
        ])
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::NodeSpec;
    use crate::graph::check::Case;

    #[test]
    fn class_token_expand() {
        Case::node(NodeSpec::new("Expand", "e", &["cls", "s"], &["y"]))
            .param("cls", &[1, 1, 4], 1)
            .ints("s", &[3, 1, 4])
            .check();
    }
}
