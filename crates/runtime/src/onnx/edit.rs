//! Editing an ONNX graph in place: the protobuf is the product's interchange format, so
//! adapting a model means rewriting its initializers and wiring, never re-exporting it.
//!
//! Used by BN re-estimation (find the BatchNormalization nodes, write new running statistics)
//! and by the one-file export.

use std::path::Path;

use edge_ssl_core::write_atomic;
use prost::Message;
use tract_onnx::pb;

use crate::{Result, RuntimeError};

/// A BatchNormalization node and the initializers that hold its running statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchNorm {
    pub node: String,
    /// The tensor the node normalizes.
    pub input: String,
    pub mean: String,
    pub var: String,
    pub channels: usize,
}

fn graph(proto: &pb::ModelProto) -> &pb::GraphProto {
    proto.graph.as_ref().expect("read_proto checked the graph")
}

fn edit_error(message: String) -> RuntimeError {
    RuntimeError::Input(message)
}

/// The BatchNormalization nodes in graph order whose statistics are initializers.
pub fn batch_norms(proto: &pb::ModelProto) -> Vec<BatchNorm> {
    let g = graph(proto);
    g.node
        .iter()
        .filter(|n| n.op_type == "BatchNormalization" && n.input.len() >= 5)
        .filter_map(|n| {
            let init = |name: &str| g.initializer.iter().find(|t| t.name == name);
            let mean = init(&n.input[3])?;
            init(&n.input[4])?;
            Some(BatchNorm {
                node: n.name.clone(),
                input: n.input[0].clone(),
                mean: n.input[3].clone(),
                var: n.input[4].clone(),
                channels: mean.dims.iter().product::<i64>().max(0) as usize,
            })
        })
        .collect()
}

/// The values of a float initializer, whether stored as `float_data` or `raw_data`.
pub fn initializer_f32(proto: &pb::ModelProto, name: &str) -> Result<Vec<f32>> {
    let t = graph(proto)
        .initializer
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| edit_error(format!("no initializer named `{name}`")))?;
    if t.data_type != pb::tensor_proto::DataType::Float as i32 {
        return Err(edit_error(format!("initializer `{name}` is not float32")));
    }
    if !t.float_data.is_empty() {
        return Ok(t.float_data.clone());
    }
    if t.raw_data.len() % 4 != 0 {
        return Err(edit_error(format!(
            "initializer `{name}` has a truncated payload"
        )));
    }
    Ok(t.raw_data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Replaces the values of a float initializer, keeping its name and shape.
pub(crate) fn set_initializer_f32(
    proto: &mut pb::ModelProto,
    name: &str,
    values: &[f32],
) -> Result<()> {
    let g = proto.graph.as_mut().expect("read_proto checked the graph");
    let t = g
        .initializer
        .iter_mut()
        .find(|t| t.name == name)
        .ok_or_else(|| edit_error(format!("no initializer named `{name}`")))?;
    let expected: i64 = t.dims.iter().product();
    if expected != values.len() as i64 {
        return Err(edit_error(format!(
            "initializer `{name}` holds {expected} values, got {}",
            values.len()
        )));
    }
    t.data_type = pb::tensor_proto::DataType::Float as i32;
    t.float_data.clear();
    t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok(())
}

/// The serialized model.
pub(crate) fn to_bytes(proto: &pb::ModelProto) -> Vec<u8> {
    proto.encode_to_vec()
}

/// Writes the model atomically.
pub fn save(proto: &pb::ModelProto, path: &Path) -> Result<()> {
    let bytes = to_bytes(proto);
    Ok(write_atomic(path, |w| w.write_all(&bytes))?)
}
