//! The plain description a graph is built from.
//!
//! The ONNX importer lives elsewhere (this crate never sees protobuf or a backend): it copies a
//! subgraph's nodes, attributes and initializers into these types, names the initializers that
//! train, and hands the result to [`super::Graph::from_spec`]. Names and attribute spellings are
//! ONNX's, so the importer is a field-by-field copy.

use std::collections::{BTreeMap, BTreeSet};

use ndarray::ArrayD;

use super::Tensor;

/// A subgraph in ONNX terms: nodes in topological order (as ONNX stores them), the names of
/// the values fed in and read out, and the initializers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphSpec {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub nodes: Vec<NodeSpec>,
    /// Float initializers (weights, biases, BN statistics, constants such as `√2`).
    pub initializers: BTreeMap<String, ArrayD<f32>>,
    /// Integer initializers: the shapes, axes and indices of Reshape, Slice, Gather, Unsqueeze.
    pub int_initializers: BTreeMap<String, ArrayD<i64>>,
    /// Float initializers that become [`crate::nn::Param`]s; every other one stays frozen.
    pub trainable: BTreeSet<String>,
}

/// One ONNX node. An empty string in `inputs` is an omitted optional input, as in ONNX.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeSpec {
    pub op_type: String,
    pub name: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: BTreeMap<String, Attr>,
}

/// An ONNX attribute value (the kinds the supported operators use).
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Floats(Vec<f32>),
    String(String),
    Tensor(Tensor),
}

impl NodeSpec {
    pub fn new(op_type: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> Self {
        NodeSpec {
            op_type: op_type.to_string(),
            name: name.to_string(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            attrs: BTreeMap::new(),
        }
    }

    #[must_use]
    pub fn with_attr(mut self, name: &str, value: Attr) -> Self {
        self.attrs.insert(name.to_string(), value);
        self
    }
}
