use ndarray::{Array2, ArrayView2};

use super::Param;

/// A differentiable function of a batch (rows = samples) with hand-written backward.
///
/// `forward` caches what `backward` needs; `backward` takes dL/d(output), *adds* dL/d(param) into
/// each [`Param::grad`] and returns dL/d(input). Calls pair up: one `forward`, then at most one
/// `backward` for it. `infer` is the side-effect-free forward used at deploy time and by momentum
/// (target) networks that are never differentiated.
///
/// Shapes are the caller's contract: modules panic on a wrong width, like `ndarray`'s `dot` does.
/// The public entry points of this crate (trainer, [`super::Adapter::apply`], heads) validate user
/// data first and return typed errors.
pub trait Module {
    fn forward(&mut self, x: ArrayView2<f32>) -> Array2<f32>;
    fn backward(&mut self, grad_out: ArrayView2<f32>) -> Array2<f32>;
    fn infer(&self, x: ArrayView2<f32>) -> Array2<f32>;
    fn params(&self) -> Vec<&Param>;
    fn params_mut(&mut self) -> Vec<&mut Param>;

    fn zero_grad(&mut self) {
        for p in self.params_mut() {
            p.grad.fill(0.0);
        }
    }
}
