mod build;
#[cfg(test)]
mod check;
#[allow(clippy::module_inception)]
mod graph;
mod ops;
mod spec;
mod tensor;

pub use graph::Graph;
pub use ops::registry::SUPPORTED as SUPPORTED_OPS;
pub use spec::{Attr, GraphSpec, NodeSpec};
pub use tensor::{Tensor, TensorView};
