//! Protobuf-free copies of an ONNX graph's nodes, attributes and initializers.

use std::collections::BTreeMap;

use ndarray::ArrayD;
use tract_onnx::pb;
use tract_onnx::pb::attribute_proto::AttributeType;

use tract_onnx::pb::tensor_proto::DataType;

use super::tensor::{TensorData, decode, shape};

/// A graph in ONNX terms: nodes in stored (topological) order, the graph inputs that are not
/// initializers, the outputs, and the initializers by element type. Initializers of other
/// types (float16, double, strings) are left out; a node that reads one then names a value
/// that is nowhere defined, which the trainable graph reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OnnxGraph {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub nodes: Vec<OnnxNode>,
    /// Float initializers, decoded ([`super::OnnxModel::graph`]: all of them;
    /// [`super::OnnxModel::structure`]: none).
    pub floats: BTreeMap<String, ArrayD<f32>>,
    /// The shape of every float initializer, decoded or not.
    pub float_shapes: BTreeMap<String, Vec<usize>>,
    /// int64, int32 and bool initializers, widened to i64.
    pub ints: BTreeMap<String, ArrayD<i64>>,
}

impl OnnxGraph {
    /// Keeps only the output `name` and the nodes that compute it (walking back from it): a
    /// model's other outputs, and what computes only them, dropped. An error naming the outputs
    /// when the graph has none of that name.
    pub fn keep_output(&mut self, name: &str) -> Result<(), String> {
        if !self.outputs.iter().any(|o| o == name) {
            let names: Vec<_> = self.outputs.iter().map(|o| format!("`{o}`")).collect();
            return Err(format!(
                "the graph has no output `{name}` (its outputs: {})",
                names.join(", ")
            ));
        }
        let nodes = self
            .nodes
            .iter()
            .map(|n| (n.inputs.as_slice(), n.outputs.as_slice()));
        let (keep, _) = super::needed_by(nodes, name);
        let mut kept = keep.into_iter();
        self.nodes.retain(|_| kept.next().unwrap_or(false));
        self.outputs = vec![name.to_string()];
        Ok(())
    }
}

/// One node. `op_type` carries the domain as `domain:Op` for anything outside the default
/// ONNX domain, so a contrib operator never passes for a standard one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OnnxNode {
    pub op_type: String,
    pub name: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: BTreeMap<String, OnnxAttr>,
}

/// An attribute value. Kinds no supported operator uses (graphs, sparse tensors, lists of
/// strings or tensors) are kept as `Other` with their kind, so they can be reported.
#[derive(Clone, Debug, PartialEq)]
pub enum OnnxAttr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Floats(Vec<f32>),
    String(String),
    FloatTensor(ArrayD<f32>),
    IntTensor(ArrayD<i64>),
    Other(String),
}

fn attr(a: &pb::AttributeProto) -> Result<OnnxAttr, String> {
    let kind = AttributeType::try_from(a.r#type).unwrap_or(AttributeType::Undefined);
    Ok(match kind {
        AttributeType::Int => OnnxAttr::Int(a.i),
        AttributeType::Ints => OnnxAttr::Ints(a.ints.clone()),
        AttributeType::Float => OnnxAttr::Float(a.f),
        AttributeType::Floats => OnnxAttr::Floats(a.floats.clone()),
        AttributeType::String => OnnxAttr::String(String::from_utf8_lossy(&a.s).into_owned()),
        AttributeType::Tensor => match a.t.as_ref().map(decode).transpose()? {
            Some(TensorData::F32(t)) => OnnxAttr::FloatTensor(t),
            Some(TensorData::I64(t)) => OnnxAttr::IntTensor(t),
            _ => OnnxAttr::Other("tensor of an unsupported element type".into()),
        },
        other => OnnxAttr::Other(other.as_str_name().to_lowercase()),
    })
}

pub(super) fn node(n: &pb::NodeProto) -> Result<OnnxNode, String> {
    let op_type = if n.domain.is_empty() || n.domain == "ai.onnx" {
        n.op_type.clone()
    } else {
        format!("{}:{}", n.domain, n.op_type)
    };
    let attrs = n
        .attribute
        .iter()
        .map(|a| -> Result<(String, OnnxAttr), String> {
            let value = attr(a).map_err(|e| format!("node `{}`: {e}", n.name))?;
            Ok((a.name.clone(), value))
        })
        .collect::<Result<_, String>>()?;
    Ok(OnnxNode {
        op_type,
        name: n.name.clone(),
        inputs: n.input.clone(),
        outputs: n.output.clone(),
        attrs,
    })
}

/// The graph of `g`, decoding the float initializers that `wanted` names (every float
/// initializer's shape is recorded either way).
pub(super) fn graph(
    g: &pb::GraphProto,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<OnnxGraph, String> {
    let mut out = OnnxGraph::default();
    for t in &g.initializer {
        let error = |e: String| format!("initializer `{}`: {e}", t.name);
        if t.data_type == DataType::Float as i32 {
            out.float_shapes
                .insert(t.name.clone(), shape(t).map_err(error)?);
            if !wanted(&t.name) {
                continue;
            }
        }
        match decode(t).map_err(error)? {
            TensorData::F32(a) => {
                out.floats.insert(t.name.clone(), a);
            }
            TensorData::I64(a) => {
                out.ints.insert(t.name.clone(), a);
            }
            TensorData::Other => {}
        }
    }
    out.inputs = g
        .input
        .iter()
        .filter(|v| !out.float_shapes.contains_key(&v.name) && !out.ints.contains_key(&v.name))
        .map(|v| v.name.clone())
        .collect();
    out.outputs = g.output.iter().map(|v| v.name.clone()).collect();
    out.nodes = g.node.iter().map(node).collect::<Result<_, _>>()?;
    Ok(out)
}
