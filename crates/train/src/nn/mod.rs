mod adapter;
mod linear;
mod module;
mod norm;
mod normalize;
mod param;
mod projector;
mod relu;
mod standardize;

pub use adapter::Adapter;
pub use linear::Linear;
pub use module::Module;
pub use norm::{Norm, NormKind};
pub(crate) use normalize::{l2_normalize, l2_normalize_backward};
pub use param::Param;
pub use projector::Projector;
pub use relu::Relu;
pub(crate) use standardize::{standardize, standardize_backward};
