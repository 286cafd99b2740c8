//! Element-wise activations share one forward/backward: `y = f(x)`, `dx = f'(x)·dy`.
//! Each activation's file only says what `f` and `f'` are.

use ndarray::{ArrayD, Zip};

use super::op::{Grads, Inputs, Op, OpResult, single};
use crate::graph::Tensor;
use crate::parallel;

pub(crate) trait Pointwise: Send + std::fmt::Debug {
    fn f(&self, x: f32) -> f32;
    /// The derivative at `x` (at a kink, the value PyTorch uses).
    fn df(&self, x: f32) -> f32;
}

#[derive(Debug)]
pub(crate) struct PointwiseOp<F>(pub F);

impl<F: Pointwise + Sync> Op for PointwiseOp<F> {
    fn forward(&mut self, x: &Inputs<'_>, _train: bool) -> OpResult<Vec<Tensor>> {
        let x = x.f32(0)?;
        let f = &self.0;
        if let Some(xs) = x.as_slice() {
            // Contiguous (the usual case): split over the trainer's threads.
            let mut y = ArrayD::<f32>::zeros(x.raw_dim());
            let ys = y.as_slice_mut().expect("a new array is contiguous");
            parallel::zip_chunks(ys, xs, |ys, xs| {
                ys.iter_mut().zip(xs).for_each(|(y, &x)| *y = f.f(x));
            });
            return Ok(vec![Tensor::F32(y)]);
        }
        Ok(vec![Tensor::F32(x.mapv(|v| f.f(v)))])
    }

    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        _need: &[bool],
    ) -> OpResult<Grads> {
        self.gradient(x, single(dy)?.clone())
    }

    fn backward_owned(
        &mut self,
        x: &Inputs<'_>,
        mut dy: Vec<Option<ArrayD<f32>>>,
        need: &[bool],
    ) -> OpResult<Grads> {
        match dy.first_mut().and_then(Option::take) {
            Some(g) => self.gradient(x, g),
            None => self.backward(x, &dy, need),
        }
    }
}

impl<F: Pointwise + Sync> PointwiseOp<F> {
    /// `f'(x)·dy`, computed in `g` (which holds `dy`).
    fn gradient(&self, x: &Inputs<'_>, mut g: ArrayD<f32>) -> OpResult<Grads> {
        let x = x.f32(0)?;
        if g.shape() != x.shape() {
            return Err(format!(
                "gradient {:?} for input {:?}",
                g.shape(),
                x.shape()
            ));
        }
        let f = &self.0;
        if let (Some(xs), Some(gs)) = (x.as_slice(), g.as_slice_mut()) {
            parallel::zip_chunks(gs, xs, |gs, xs| {
                gs.iter_mut().zip(xs).for_each(|(g, &x)| *g *= f.df(x));
            });
            return Ok(vec![Some(g)]);
        }
        Zip::from(&mut g).and(&x).for_each(|g, &x| *g *= f.df(x));
        Ok(vec![Some(g)])
    }
}
