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

use std::collections::BTreeSet;

/// Which of `nodes` — in stored (topological) order, each as its inputs and outputs — compute
/// `output`, walking back from it; and every tensor they read. The one walk behind
/// [`OnnxModel::prefix`] and [`OnnxGraph::keep_output`].
pub(crate) fn needed_by<'a>(
    nodes: impl DoubleEndedIterator<Item = (&'a [String], &'a [String])> + ExactSizeIterator,
    output: &str,
) -> (Vec<bool>, BTreeSet<String>) {
    let mut needed = BTreeSet::from([output.to_string()]);
    let mut keep = vec![false; nodes.len()];
    for (k, (inputs, outputs)) in nodes.enumerate().rev() {
        if outputs.iter().any(|o| needed.contains(o)) {
            keep[k] = true;
            needed.extend(inputs.iter().filter(|i| !i.is_empty()).cloned());
        }
    }
    (keep, needed)
}
