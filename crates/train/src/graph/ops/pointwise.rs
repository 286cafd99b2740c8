//! Element-wise activations share one forward/backward: `y = f(x)`, `dx = f'(x)·dy`.
//! Each activation's file only says what `f` and `f'` are.

use ndarray::{ArrayD, Zip};

use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::Tensor;

pub(crate) trait Pointwise: Send + std::fmt::Debug {
    fn f(&self, x: f32) -> f32;
    /// The derivative at `x` (at a kink, the value PyTorch uses).
    fn df(&self, x: f32) -> f32;
}

#[derive(Debug)]
pub(crate) struct PointwiseOp<F>(pub F);

impl<F: Pointwise> Op for PointwiseOp<F> {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        Ok(vec![Tensor::F32(x.f32(0)?.mapv(|v| self.0.f(v)))])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        _need: &[bool],
    ) -> OpResult<Grads> {
        let mut g = single(dy)?.clone();
        Zip::from(&mut g)
            .and(&x.f32(0)?)
            .for_each(|g, &x| *g *= self.0.df(x));
        Ok(vec![Some(g)])
    }
}
