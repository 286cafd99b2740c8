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

/// `path`'s model as every edit here wants it: weights in external data files read in
/// ([`inspect::read_proto_inline`](crate::onnx::inspect::read_proto_inline)) and float
/// `Constant` nodes lifted into initializers ([`lift_float_constants`]). The one way BN
/// re-estimation, the BN probe and the graph builder (feature model, export) read a model.
pub fn read_for_editing(path: &Path) -> Result<pb::ModelProto> {
    let mut proto = crate::onnx::inspect::read_proto_inline(path)?;
    lift_float_constants(&mut proto);
    Ok(proto)
}

/// Turns every float `Constant` node of the main graph into an initializer of the same name,
/// and returns how many. PaddlePaddle's exporter (Paddle2ONNX) stores every weight as a
/// `Constant` node — BatchNormalization's statistics and affine parameters, convolution
/// kernels — where editing (BN re-estimation, encoder training and the write-back) expects
/// initializers: rapidocr's text-direction classifier had its 35 BN layers passed over
/// ("re-estimated 0 BatchNorm layer(s)") and `--train` refused it. Same graph, same values;
/// models before IR version 4, whose initializers must also be graph inputs, are left as they are.
pub fn lift_float_constants(proto: &mut pb::ModelProto) -> usize {
    if proto.ir_version < 4 {
        return 0;
    }
    let Some(g) = proto.graph.as_mut() else {
        return 0;
    };
    let float = pb::tensor_proto::DataType::Float as i32;
    let mut names: std::collections::HashSet<String> =
        g.initializer.iter().map(|t| t.name.clone()).collect();
    let mut lifted = 0;
    let mut kept = Vec::with_capacity(g.node.len());
    for mut node in std::mem::take(&mut g.node) {
        let liftable = node.op_type == "Constant"
            && (node.domain.is_empty() || node.domain == "ai.onnx")
            && node.output.len() == 1
            && node.attribute.len() == 1
            && node.attribute[0].name == "value"
            && node.attribute[0].t.as_ref().is_some_and(|t| {
                t.data_type == float
                    && t.data_location != Some(pb::tensor_proto::DataLocation::External as i32)
            })
            && !names.contains(&node.output[0]);
        if !liftable {
            kept.push(node);
            continue;
        }
        let name = node.output.remove(0);
        let mut tensor = node.attribute.remove(0).t.expect("checked above");
        tensor.name = name.clone();
        names.insert(name);
        g.initializer.push(tensor);
        lifted += 1;
    }
    g.node = kept;
    lifted
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
