//! What an ONNX file says about itself, read without running it.
//!
//! Everything a backend needs to know before it hands the file to an engine is read and checked
//! here, once for both engines: the declared inputs (a dimension of 0, or a shape too large to
//! allocate, is an error now rather than a crash inside the engine later) and the external-data
//! files the weights may live in (`external_data`). `tract_model` is the one way this crate
//! turns a checked file into a tract model, so the checks cannot be skipped on one path.

mod external_data;

use std::path::Path;

use serde::Serialize;
use tract_onnx::pb;
/// The parsed ONNX protobuf, as [`read_proto`] returns it.
pub use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::Cost;

use crate::{Result, RuntimeError, TensorInfo};

/// The static facts `edge-ssl info` prints.
#[derive(Clone, Debug, Serialize)]
pub struct ModelFacts {
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    pub parameters: u64,
    pub opset: Option<i64>,
    pub producer: String,
    /// Operator type → count, sorted by name.
    pub operators: Vec<(String, usize)>,
}

fn model_error(path: &Path, message: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Model {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

/// Parses the ONNX protobuf. A decoder crash on a hostile file is caught and reported.
pub fn read_proto(path: &Path) -> Result<pb::ModelProto> {
    if !path.is_file() {
        return Err(model_error(path, "no such file"));
    }
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tract_onnx::onnx().proto_model_for_path(path)
    }));
    let proto = match parsed {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return Err(model_error(path, first_line(&e))),
        Err(_) => return Err(model_error(path, "the ONNX parser crashed on this file")),
    };
    if proto.graph.as_ref().is_none_or(|g| g.node.is_empty()) {
        return Err(model_error(path, "the file holds no graph"));
    }
    Ok(proto)
}

/// [`read_proto`] with every weight kept in external data files read into the model (each
/// location checked: inside the model's directory, a regular file, the range in it): one
/// self-contained protobuf to edit and write elsewhere.
pub fn read_proto_inline(path: &Path) -> Result<pb::ModelProto> {
    let mut proto = read_proto(path)?;
    inline_external(path, &mut proto)?;
    Ok(proto)
}

/// Reads the external data files of `proto`, the model of `path`, into its initializers.
pub(crate) fn inline_external(path: &Path, proto: &mut pb::ModelProto) -> Result<()> {
    external_data::inline(path, proto).map_err(|why| model_error(path, why))
}

/// The bytes of `path`'s model with its external data read in ([`read_proto_inline`]), or
/// `None` when it keeps every weight in the file itself (its own bytes are then the model).
pub fn inline_bytes(path: &Path) -> Result<Option<Vec<u8>>> {
    let proto = read_proto(path)?;
    if !external_data::any(&proto) {
        return Ok(None);
    }
    let mut proto = proto;
    external_data::inline(path, &mut proto).map_err(|why| model_error(path, why))?;
    Ok(Some(prost::Message::encode_to_vec(&proto)))
}

/// tract errors carry a chain of context; the outermost cause is the useful one-liner.
pub(crate) fn first_line(e: &TractError) -> String {
    let root = e.root_cause().to_string();
    let top = e.to_string();
    if root == top {
        top
    } else {
        format!("{top}: {root}")
    }
}

/// The most elements a declared input may hold, counting its fixed dimensions (2^31 floats, 8 GiB):
/// far above any image encoder, and far below what makes an engine's allocation fail. Without it a
/// model declaring 1x3x100000x100000 makes tract panic and ONNX Runtime abort the process.
pub const MAX_INPUT_ELEMENTS: u64 = 1 << 31;

/// The declared dimensions of `v`: `Some(n)` for a fixed one, `None` for a free one (symbolic or
/// absent), and the raw value when it is not a usable size (0 or negative).
fn declared_dims(v: &pb::ValueInfoProto) -> Vec<std::result::Result<Option<usize>, i64>> {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => t
            .shape
            .as_ref()
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| match d.value {
                        Some(Dim::DimValue(n)) if n > 0 => {
                            usize::try_from(n).map(Some).map_err(|_| n)
                        }
                        // Paddle2ONNX and older exporters write a free dimension as -1.
                        Some(Dim::DimValue(-1)) => Ok(None),
                        Some(Dim::DimValue(n)) => Err(n),
                        _ => Ok(None),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The element type `v` declares, named as numpy names it.
fn element(v: &pb::ValueInfoProto) -> &'static str {
    use pb::tensor_proto::DataType;
    let declared = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => DataType::try_from(t.elem_type).ok(),
        _ => None,
    };
    match declared {
        Some(DataType::Float) => "float32",
        Some(DataType::Float16) => "float16",
        Some(DataType::Bfloat16) => "bfloat16",
        Some(DataType::Double) => "float64",
        Some(DataType::Uint8) => "uint8",
        Some(DataType::Int8) => "int8",
        Some(DataType::Uint16) => "uint16",
        Some(DataType::Int16) => "int16",
        Some(DataType::Int32) => "int32",
        Some(DataType::Int64) => "int64",
        Some(DataType::Bool) => "bool",
        Some(DataType::String) => "string",
        Some(DataType::Undefined) | None => "unknown",
        Some(_) => "other",
    }
}

/// `float16` or `bfloat16` when some of `proto`'s weights (initializers or `Constant` values)
/// are stored so, as in a model converted to half precision; `None` otherwise.
pub fn reduced_precision_weights(proto: &pb::ModelProto) -> Option<&'static str> {
    use pb::tensor_proto::DataType;
    let graph = proto.graph.as_ref()?;
    let constants = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Constant")
        .flat_map(|n| n.attribute.iter().filter_map(|a| a.t.as_ref()));
    graph
        .initializer
        .iter()
        .chain(constants)
        .find_map(|t| match DataType::try_from(t.data_type) {
            Ok(DataType::Float16) => Some("float16"),
            Ok(DataType::Bfloat16) => Some("bfloat16"),
            _ => None,
        })
}

/// An output's shape as far as it is known; a dimension that is not a usable size counts as free,
/// since the engine reports the real one when it runs.
fn output_info(v: &pb::ValueInfoProto) -> TensorInfo {
    TensorInfo {
        name: v.name.clone(),
        shape: declared_dims(v)
            .into_iter()
            .map(|d| d.ok().flatten())
            .collect(),
        element: element(v),
    }
}

/// An input's shape, which the caller will allocate: every fixed dimension must be positive and
/// together they must stay under [`MAX_INPUT_ELEMENTS`].
fn input_info(v: &pb::ValueInfoProto) -> std::result::Result<TensorInfo, String> {
    let mut shape = Vec::new();
    for (axis, d) in declared_dims(v).into_iter().enumerate() {
        match d {
            Ok(d) => shape.push(d),
            Err(n) => return Err(format!("dimension {axis} of input `{}` is {n}", v.name)),
        }
    }
    let info = TensorInfo {
        name: v.name.clone(),
        shape,
        element: element(v),
    };
    check_input_size(&info.name, info.shape.iter().map(|d| d.unwrap_or(1)))?;
    Ok(info)
}

/// Errs when a tensor of these dimensions would hold more than [`MAX_INPUT_ELEMENTS`]; checked in
/// u64 so that an overflow is caught as "too large", not wrapped.
pub(crate) fn check_input_size(
    name: &str,
    dims: impl IntoIterator<Item = usize> + Clone,
) -> std::result::Result<(), String> {
    let elements = dims
        .clone()
        .into_iter()
        .try_fold(1u64, |n, d| n.checked_mul(d as u64));
    match elements {
        Some(n) if n <= MAX_INPUT_ELEMENTS => Ok(()),
        _ => {
            let shown: Vec<String> = dims.into_iter().map(|d| d.to_string()).collect();
            Err(format!(
                "input `{name}` of shape [{}] would hold more than 2^31 elements",
                shown.join(", ")
            ))
        }
    }
}

/// Inputs, outputs, parameters and operators of an ONNX file.
pub fn facts(path: &Path) -> Result<ModelFacts> {
    let proto = read_proto(path)?;
    facts_of(path, &proto)
}

/// [`facts`] of a protobuf already read from `path`. Fails on inputs no engine could be given (see
/// [`MAX_INPUT_ELEMENTS`]) and on external data that is missing or lies outside the model's
/// directory, since every backend checks a model through here before loading it.
pub(crate) fn facts_of(path: &Path, proto: &pb::ModelProto) -> Result<ModelFacts> {
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| model_error(path, "the file holds no graph"))?;
    external_data::check(path, proto).map_err(|why| model_error(path, why))?;
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let parameters = parameter_count(graph);
    let mut operators = std::collections::BTreeMap::<String, usize>::new();
    for node in &graph.node {
        *operators.entry(node.op_type.clone()).or_default() += 1;
    }
    let inputs = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .map(input_info)
        .collect::<std::result::Result<Vec<_>, String>>()
        .map_err(|why| model_error(path, why))?;
    Ok(ModelFacts {
        inputs,
        outputs: graph.output.iter().map(output_info).collect(),
        parameters,
        opset: proto
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version),
        producer: format!("{} {}", proto.producer_name, proto.producer_version)
            .trim()
            .to_owned(),
        operators: operators.into_iter().collect(),
    })
}

/// `TensorProto.DataType` codes of the floating-point types (FLOAT, FLOAT16, DOUBLE, BFLOAT16 and
/// the FLOAT8 variants).
const FLOAT_TYPES: [i32; 8] = [1, 10, 11, 16, 17, 18, 19, 20];

/// Elements of a tensor of these dimensions (a negative one counts as 0).
fn elements(dims: &[i64]) -> u64 {
    dims.iter()
        .map(|d| (*d).max(0) as u64)
        .fold(1u64, u64::saturating_mul)
}

/// The weights a graph stores: every element of its initializers, plus the floating-point values
/// of its `Constant` nodes, which is where Paddle2ONNX (and some other exporters) put every weight.
/// An integer `Constant` is a shape or an index, not a weight, and is not counted.
fn parameter_count(graph: &pb::GraphProto) -> u64 {
    let initializers = graph.initializer.iter().map(|t| elements(&t.dims));
    let constants = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Constant" && (n.domain.is_empty() || n.domain == "ai.onnx"))
        .flat_map(|n| n.attribute.iter())
        .map(|a| match a.name.as_str() {
            "value" => {
                a.t.as_ref()
                    .filter(|t| FLOAT_TYPES.contains(&t.data_type))
                    .map_or(0, |t| elements(&t.dims))
            }
            "value_floats" => a.floats.len() as u64,
            "value_float" => 1,
            _ => 0,
        });
    initializers
        .chain(constants)
        .fold(0u64, u64::saturating_add)
}

#[cfg(test)]
mod parameter_tests {
    use super::*;

    fn tensor(data_type: i32, dims: &[i64]) -> pb::TensorProto {
        pb::TensorProto {
            data_type,
            dims: dims.to_vec(),
            ..Default::default()
        }
    }

    fn constant(attribute: pb::AttributeProto) -> pb::NodeProto {
        pb::NodeProto {
            op_type: "Constant".into(),
            attribute: vec![attribute],
            ..Default::default()
        }
    }

    /// Initializers count whole; a float `Constant` (a Paddle export's weights) counts; an
    /// integer `Constant` (a Reshape target) does not.
    #[test]
    fn constant_node_weights_are_parameters() {
        let value = |t| pb::AttributeProto {
            name: "value".into(),
            t: Some(t),
            ..Default::default()
        };
        let graph = pb::GraphProto {
            initializer: vec![tensor(1, &[4, 3])],
            node: vec![
                constant(value(tensor(1, &[8, 3, 3, 3]))),
                constant(value(tensor(10, &[5]))),
                constant(value(tensor(7, &[4]))),
                constant(pb::AttributeProto {
                    name: "value_floats".into(),
                    floats: vec![1.0, 2.0],
                    ..Default::default()
                }),
                pb::NodeProto {
                    op_type: "Relu".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(parameter_count(&graph), 12 + 216 + 5 + 2);
    }
}

/// The tract model of an ONNX file read from `path`, its external data (checked first) resolved
/// against the file's directory. An import that crashes tract is an error, not a panic.
///
/// The symbolic dimensions recorded for intermediate tensors (`value_info`) are dropped first,
/// their ranks, types and fixed dimensions kept: exporters that run a symbolic shape inference
/// (PaddlePaddle's, ONNX Runtime's `symbolic_shape_infer`) name the batch and the image size
/// there (`N`, `floor(H/2 - 1/2) + 1`), and tract, given the concrete input shape a session
/// runs at, could not unify those names with the sizes it computed ("Impossible to unify
/// Sym(N) with Val(1)"): rapidocr's PP-OCRv6 detector and recognizer did not load at all.
pub(crate) fn tract_model(path: &Path, mut proto: pb::ModelProto) -> Result<InferenceModel> {
    external_data::check(path, &proto).map_err(|why| model_error(path, why))?;
    forget_symbolic_value_info(&mut proto);
    let proto = &proto;
    // tract resolves locations against this directory string, and refuses external data without one.
    let dir = path.parent().map(|d| d.to_str());
    let dir = match dir {
        Some(Some(d)) => Some(d),
        Some(None) if external_data::any(proto) => {
            return Err(model_error(
                path,
                "its weights are in external data files and its directory name is not UTF-8",
            ));
        }
        _ => None,
    };
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::tract::onnx().parse(proto, dir)
    }));
    match parsed {
        Ok(Ok(result)) if result.unresolved_inputs.is_empty() => Ok(result.model),
        Ok(Ok(result)) => Err(model_error(
            path,
            format!(
                "tract cannot resolve its inputs {:?}",
                result.unresolved_inputs
            ),
        )),
        Ok(Err(e)) => Err(model_error(path, first_line(&e))),
        Err(_) => Err(model_error(
            path,
            "tract crashed while importing this model",
        )),
    }
}

/// Turns every symbolic dimension of `proto`'s intermediate tensors (`value_info`) into an
/// unknown one; the graph's inputs and outputs keep theirs.
fn forget_symbolic_value_info(proto: &mut pb::ModelProto) {
    use pb::tensor_shape_proto::dimension::Value;
    use pb::type_proto::Value as Type;
    let Some(graph) = proto.graph.as_mut() else {
        return;
    };
    for info in &mut graph.value_info {
        let Some(pb::TypeProto {
            value: Some(Type::TensorType(tensor)),
            ..
        }) = info.r#type.as_mut()
        else {
            continue;
        };
        for dim in tensor.shape.iter_mut().flat_map(|s| s.dim.iter_mut()) {
            if matches!(dim.value, Some(Value::DimParam(_))) {
                dim.value = None;
            }
        }
    }
}

/// The operators of `facts` that tract (with edge-ssl's own additions) has no implementation
/// of, in name order: a model with any runs on ONNX Runtime alone, whatever its input size.
pub fn operators_tract_lacks(facts: &ModelFacts) -> Vec<String> {
    let register = crate::tract::onnx().op_register;
    facts
        .operators
        .iter()
        .filter(|(op, _)| !register.0.contains_key(op))
        .map(|(op, _)| op.clone())
        .collect()
}

/// Multiply-adds per sample ×2, from tract's cost model of the typed graph at batch 1
/// (Conv, MatMul/Gemm and the other ops tract prices as FMA). An error either way: see
/// [`flops_at`] to tell a model tract cannot read from a size the graph cannot take.
pub fn flops_per_sample(path: &Path, input_shape: &[usize]) -> Result<u64> {
    match flops_at(path, input_shape)? {
        Flops::Known(n) => Ok(n),
        Flops::Unknown(why) => Err(model_error(path, why)),
    }
}

/// What [`flops_at`] found at one input shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flops {
    /// Multiply-adds ×2 for the whole input shape given (divide by its batch for one sample).
    Known(u64),
    /// The graph imports, but tract's analysis fails at this shape — typically a `Reshape` or a
    /// `Concat` whose target was computed for another size of a free dimension (PaddleOCR's
    /// recognizer assumes a height of 48). The reason, one line.
    Unknown(String),
}

/// Multiply-adds ×2 of `path` at `input_shape`, from tract's cost model of its typed graph. An
/// `Err` is a file tract cannot read or import (a damaged model); a graph that imports but cannot
/// be analysed at this shape is [`Flops::Unknown`], so a caller can still say what it knows.
pub fn flops_at(path: &Path, input_shape: &[usize]) -> Result<Flops> {
    let computed = analyse_at(path, input_shape, |model| {
        let mut fma: u64 = 0;
        for node in model.eval_order()? {
            let node = &model.nodes()[node];
            let facts = model.node_input_facts(node.id)?;
            for (cost, count) in node.op.cost(&facts)? {
                if let Cost::FMA(_) = cost {
                    fma = fma.saturating_add(count.to_i64()?.max(0) as u64);
                }
            }
        }
        Ok(fma.saturating_mul(2))
    })?;
    Ok(match computed {
        Ok(Ok(n)) => Flops::Known(n),
        Ok(Err(e)) => Flops::Unknown(first_line(&e)),
        Err(_) => Flops::Unknown("tract crashed while analysing the graph at this size".into()),
    })
}

/// The values per image of output `index` of `path` at `input_shape` (its dimensions after the
/// first, multiplied), from tract's typed graph: for an output whose declared shape leaves them
/// symbolic. `None` when tract cannot analyse the graph at this shape (or does not fix them).
pub fn output_width_at(path: &Path, input_shape: &[usize], index: usize) -> Result<Option<usize>> {
    let computed = analyse_at(path, input_shape, |model| {
        let fact = model.output_fact(index)?;
        Ok(fact
            .shape
            .as_concrete()
            .filter(|s| !s.is_empty())
            .map(|s| s[1..].iter().product::<usize>()))
    })?;
    Ok(computed.ok().and_then(Result::ok).flatten())
}

/// Runs `analyse` on `path`'s graph typed at `input_shape` (after the input-size check and the
/// import, whose failures are errors), catching a tract panic: the outer `Err` of the result is
/// that panic, the inner one tract's own error.
fn analyse_at<T>(
    path: &Path,
    input_shape: &[usize],
    analyse: impl FnOnce(&TypedModel) -> TractResult<T>,
) -> Result<std::thread::Result<TractResult<T>>> {
    check_input_size("0", input_shape.iter().copied()).map_err(|why| model_error(path, why))?;
    let model = tract_model(path, read_proto(path)?)?;
    Ok(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> TractResult<T> {
            // At the element type the file declares (a float16 model is costed as one).
            let dt = model
                .input_fact(0)?
                .datum_type()
                .unwrap_or(f32::datum_type());
            let model = model
                .with_input_fact(0, InferenceFact::dt_shape(dt, input_shape))?
                .into_typed()?;
            analyse(&model)
        },
    )))
}

/// Bytes of every tensor one sample makes on its way through the graph (the input and each
/// node's outputs, from tract's typed graph at batch 1): what a batch of N needs is about N
/// times this. An upper bound on the live set (engines reuse buffers), so a batch refused for
/// not fitting would not have fitted, and one admitted may still need less.
pub fn activation_bytes_per_sample(path: &Path, input_shape: &[usize]) -> Result<u64> {
    let computed = analyse_at(path, input_shape, |model| {
        let mut bytes: u64 = 0;
        for node in model.nodes() {
            for output in &node.outputs {
                let fact = &output.fact;
                if fact.konst.is_some() {
                    continue; // weights, not activations
                }
                let values = fact
                    .shape
                    .as_concrete()
                    .map_or(0u64, |s| s.iter().map(|&d| d as u64).product());
                bytes =
                    bytes.saturating_add(values.saturating_mul(fact.datum_type.size_of() as u64));
            }
        }
        Ok(bytes)
    })?;
    match computed {
        Ok(r) => r.map_err(|e| model_error(path, first_line(&e))),
        Err(_) => Err(model_error(
            path,
            "tract crashed while analysing this model",
        )),
    }
}
