//! Values that flow through a graph: float activations and the integer tensors ONNX uses for
//! shapes, axes and indices.
//!
//! Exports with a dynamic batch compute Reshape targets at run time (`Shape → Gather → Concat`),
//! so integers are values like any other rather than attributes fixed at import; they simply
//! never carry a gradient.

use ndarray::{ArrayD, ArrayViewD};

/// An owned value.
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
}

/// A borrowed value, as an op sees its inputs.
#[derive(Clone, Debug)]
pub enum TensorView<'a> {
    F32(ArrayViewD<'a, f32>),
    I64(ArrayViewD<'a, i64>),
}

impl Tensor {
    pub fn view(&self) -> TensorView<'_> {
        match self {
            Tensor::F32(a) => TensorView::F32(a.view()),
            Tensor::I64(a) => TensorView::I64(a.view()),
        }
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::I64(a) => a.shape(),
        }
    }
}

impl TensorView<'_> {
    pub fn shape(&self) -> &[usize] {
        match self {
            TensorView::F32(a) => a.shape(),
            TensorView::I64(a) => a.shape(),
        }
    }

    pub fn to_owned(&self) -> Tensor {
        match self {
            TensorView::F32(a) => Tensor::F32(a.to_owned()),
            TensorView::I64(a) => Tensor::I64(a.to_owned()),
        }
    }
}
