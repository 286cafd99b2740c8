//! The contract every operator implements.
//!
//! An op is built once from its [`NodeSpec`](crate::graph::NodeSpec) (attributes parsed and
//! checked then) and run many times. `forward` may cache small things (BN's batch mean and
//! inverse deviation); activations are not copied into the op: the graph keeps every value of
//! a training forward and hands the inputs back to `backward`, so each tensor is stored once.
//!
//! Errors are plain reasons; the graph adds the node's name and operator.

use ndarray::{ArrayD, ArrayViewD};

use crate::graph::{Tensor, TensorView};

pub(crate) type OpResult<T> = Result<T, String>;

/// Gradients an op returns, one per input; `None` where nothing flows or nothing was asked.
pub(crate) type Grads = Vec<Option<ArrayD<f32>>>;

pub(crate) trait Op: Send + std::fmt::Debug {
    fn forward(&mut self, x: &Inputs<'_>, train: bool) -> OpResult<Vec<Tensor>>;

    /// `dy[k]` is dL/d(output k), `None` where no gradient reached that output (at least one is
    /// `Some`). `need[i]` says whether input i wants its gradient; others may be skipped.
    fn backward(
        &mut self,
        x: &Inputs<'_>,
        dy: &[Option<ArrayD<f32>>],
        need: &[bool],
    ) -> OpResult<Grads>;

    /// [`Op::backward`] with the output gradients handed over (the graph no longer needs
    /// them): an op whose input gradient can overwrite its output gradient (element-wise
    /// activations) does so, instead of copying a whole activation-sized tensor first.
    fn backward_owned(
        &mut self,
        x: &Inputs<'_>,
        dy: Vec<Option<ArrayD<f32>>>,
        need: &[bool],
    ) -> OpResult<Grads> {
        self.backward(x, &dy, need)
    }

    /// Whether a training forward couples the samples of its batch (BatchNormalization's
    /// batch statistics): such a graph cannot be trained in parts.
    fn mixes_samples(&self) -> bool {
        false
    }

    /// Whether any output can carry a gradient (false for shape arithmetic and constants).
    fn differentiable(&self) -> bool {
        true
    }

    /// New values for inputs that are state (BN running statistics), collected after a
    /// training forward: `(input index, value)`.
    fn take_updates(&mut self) -> Vec<(usize, ArrayD<f32>)> {
        Vec::new()
    }
}

/// An op's inputs; `None` where ONNX omitted an optional one.
pub(crate) struct Inputs<'a> {
    items: Vec<Option<TensorView<'a>>>,
}

impl<'a> Inputs<'a> {
    pub fn new(items: Vec<Option<TensorView<'a>>>) -> Self {
        Inputs { items }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn get(&self, i: usize) -> Option<&TensorView<'a>> {
        self.items.get(i).and_then(|t| t.as_ref())
    }

    pub fn f32(&self, i: usize) -> OpResult<ArrayViewD<'a, f32>> {
        self.opt_f32(i)?
            .ok_or_else(|| format!("input {i} is required"))
    }

    pub fn opt_f32(&self, i: usize) -> OpResult<Option<ArrayViewD<'a, f32>>> {
        match self.get(i) {
            None => Ok(None),
            Some(TensorView::F32(a)) => Ok(Some(a.clone())),
            Some(TensorView::I64(_)) => Err(format!("input {i} must be a float tensor")),
        }
    }

    pub fn i64(&self, i: usize) -> OpResult<ArrayViewD<'a, i64>> {
        match self.get(i) {
            None => Err(format!("input {i} is required")),
            Some(TensorView::I64(a)) => Ok(a.clone()),
            Some(TensorView::F32(_)) => Err(format!("input {i} must be an int64 tensor")),
        }
    }

    pub fn opt_i64(&self, i: usize) -> OpResult<Option<Vec<i64>>> {
        match self.get(i) {
            None => Ok(None),
            Some(_) => Ok(Some(self.i64(i)?.iter().copied().collect())),
        }
    }
}

/// The gradient of a single-output op.
pub(crate) fn single(dy: &[Option<ArrayD<f32>>]) -> OpResult<&ArrayD<f32>> {
    dy.first()
        .and_then(|g| g.as_ref())
        .ok_or_else(|| "backward without an output gradient".to_string())
}
