//! A trainable graph imported from ONNX: hand-written forward and backward per operator.
//!
//! [`GraphSpec`] is what an importer fills from an ONNX subgraph; [`Graph::from_spec`] checks
//! every node once; [`Graph::forward`] (`train = true`: BN batch statistics, running statistics
//! updated, values kept) and [`Graph::backward`] (parameter gradients added into
//! [`crate::nn::Param::grad`]) make a step with any [`crate::optim::Optimizer`] over
//! [`Graph::params_mut`]; [`Graph::initializers`] returns the weights and BN statistics in
//! their ONNX shapes. Training takes one forward per backward: views of a contrastive batch go
//! through together, as one batch.

mod build;
#[cfg(test)]
mod check;
mod fuse;
#[allow(clippy::module_inception)]
mod graph;
mod ops;
mod spec;
mod tensor;

pub use graph::Graph;
pub use ops::registry::SUPPORTED as SUPPORTED_OPS;
pub use spec::{Attr, GraphSpec, NodeSpec};
pub use tensor::{Tensor, TensorView};
