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

impl GraphSpec {
    /// Unties initializers the exporter merged. PyTorch's exporter stores equal tensors once
    /// and recreates the others as `Identity` nodes (a random-init ResNet-18's BN gains and
    /// biases are all ones and zeros: 68 initializers become 28 plus 40 Identity nodes), which
    /// would train those layers as one. Each such Identity becomes an initializer of its own
    /// under its output name (trainable if its source is); returns those names, which the
    /// writer must add to the ONNX as initializers when it drops the Identity nodes.
    pub fn untie_initializer_identities(&mut self) -> Vec<String> {
        let mut untied = Vec::new();
        let initializers = &mut self.initializers;
        let trainable = &mut self.trainable;
        self.nodes.retain(|n| {
            let (Some(src), Some(dst)) = (n.inputs.first(), n.outputs.first()) else {
                return true;
            };
            if n.op_type != "Identity" || initializers.contains_key(dst) {
                return true;
            }
            let Some(value) = initializers.get(src).cloned() else {
                return true;
            };
            initializers.insert(dst.clone(), value);
            if trainable.contains(src) {
                trainable.insert(dst.clone());
            }
            untied.push(dst.clone());
            false
        });
        untied
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn merged_initializers_are_untied() {
        let mut spec = GraphSpec {
            inputs: vec!["x".into()],
            outputs: vec!["y".into()],
            nodes: vec![
                NodeSpec::new("Identity", "dup", &["a.weight"], &["b.weight"]),
                NodeSpec::new("Mul", "m1", &["x", "a.weight"], &["h"]),
                NodeSpec::new("Mul", "m2", &["h", "b.weight"], &["y"]),
            ],
            initializers: BTreeMap::from([("a.weight".to_string(), ArrayD::ones(IxDyn(&[2])))]),
            trainable: BTreeSet::from(["a.weight".to_string()]),
            ..GraphSpec::default()
        };
        assert_eq!(
            spec.untie_initializer_identities(),
            vec!["b.weight".to_string()]
        );
        assert_eq!(spec.nodes.len(), 2);
        assert!(spec.trainable.contains("b.weight") && spec.initializers.contains_key("b.weight"));
        let mut g = super::super::Graph::from_spec(spec).unwrap();
        g.forward(vec![ArrayD::from_elem(IxDyn(&[3, 2]), 2.0)], true)
            .unwrap();
        g.backward(vec![ArrayD::ones(IxDyn(&[3, 2]))]).unwrap();
        assert_eq!(g.params().len(), 2, "two parameters now, trained apart");
    }
}
