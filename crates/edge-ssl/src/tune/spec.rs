//! A part of an ONNX graph → the trainable graph's [`GraphSpec`]: a field-by-field copy, then
//! the exporter's merged initializers untied and the trainable ones marked.

use std::collections::BTreeSet;

use edge_ssl_runtime::onnx::graph::{OnnxAttr, OnnxGraph, OnnxNode};
use edge_ssl_train::graph::{Attr, GraphSpec, NodeSpec, Tensor};

/// Which initializers of the imported part train.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Trainable {
    /// Weights, biases, norm gains, embeddings: every float initializer of two or more values
    /// except BatchNormalization's running statistics (scalar constants such as GELU's √2
    /// never train).
    Weights,
    /// BatchNormalization's scale and bias only.
    BnAffine,
}

fn attr(a: &OnnxAttr) -> Option<Attr> {
    Some(match a {
        OnnxAttr::Int(v) => Attr::Int(*v),
        OnnxAttr::Ints(v) => Attr::Ints(v.clone()),
        OnnxAttr::Float(v) => Attr::Float(*v),
        OnnxAttr::Floats(v) => Attr::Floats(v.clone()),
        OnnxAttr::String(v) => Attr::String(v.clone()),
        OnnxAttr::FloatTensor(t) => Attr::Tensor(Tensor::F32(t.clone())),
        OnnxAttr::IntTensor(t) => Attr::Tensor(Tensor::I64(t.clone())),
        // Graph-valued and other attributes belong to operators the graph does not support,
        // which fail on their operator type.
        OnnxAttr::Other(_) => return None,
    })
}

fn node(n: &OnnxNode) -> NodeSpec {
    NodeSpec {
        op_type: n.op_type.clone(),
        name: n.name.clone(),
        inputs: n.inputs.clone(),
        outputs: n.outputs.clone(),
        attrs: n
            .attrs
            .iter()
            .filter_map(|(k, a)| attr(a).map(|a| (k.clone(), a)))
            .collect(),
    }
}

/// The spec of `nodes` (indices into `g`, in order) reading `inputs`, with every graph output
/// as output. Returns the spec and the names of the initializers it untied (which the writer
/// turns into initializers of their own).
pub(super) fn spec(
    g: &OnnxGraph,
    nodes: &[usize],
    inputs: Vec<String>,
    trainable: Trainable,
) -> (GraphSpec, Vec<String>) {
    let nodes: Vec<NodeSpec> = nodes.iter().map(|&k| node(&g.nodes[k])).collect();
    let read: BTreeSet<&str> = nodes
        .iter()
        .flat_map(|n| n.inputs.iter().map(String::as_str))
        .collect();
    let mut spec = GraphSpec {
        inputs,
        outputs: g.outputs.clone(),
        initializers: g
            .floats
            .iter()
            .filter(|(k, _)| read.contains(k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        int_initializers: g
            .ints
            .iter()
            .filter(|(k, _)| read.contains(k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        nodes,
        trainable: BTreeSet::new(),
    };
    let untied = spec.untie_initializer_identities();
    let mut train = BTreeSet::new();
    let mut statistics = BTreeSet::new();
    for n in &spec.nodes {
        for (i, name) in n.inputs.iter().enumerate() {
            let Some(value) = spec.initializers.get(name) else {
                continue;
            };
            let bn = n.op_type == "BatchNormalization";
            if bn && i >= 3 {
                statistics.insert(name.clone());
            } else if match trainable {
                Trainable::Weights => value.len() >= 2,
                Trainable::BnAffine => bn,
            } {
                train.insert(name.clone());
            }
        }
    }
    // A tensor read both as running statistics and as a weight stays frozen: the statistics
    // are updated in place, which a parameter cannot be.
    spec.trainable = train.difference(&statistics).cloned().collect();
    (spec, untied)
}
