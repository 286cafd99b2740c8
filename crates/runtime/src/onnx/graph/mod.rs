//! An ONNX graph as plain data, and the two edits that training an encoder needs.
//!
//! The library crate imports part of an encoder into `edge_ssl_train::graph` (which never sees
//! protobuf) and writes the trained weights back. Both ends go through here, so no crate above
//! this one touches `tract_onnx::pb`: [`OnnxModel::graph`] copies nodes, attributes and
//! initializers into [`OnnxGraph`]; [`OnnxModel::prefix`] keeps only what computes one tensor
//! (the frozen part of a split encoder, run and cached by the backends); and
//! [`OnnxModel::replace_initializers`] swaps in new float weights, same graph otherwise.

mod model;
mod plain;
mod tensor;

pub use model::OnnxModel;
pub use plain::{OnnxAttr, OnnxGraph, OnnxNode};
