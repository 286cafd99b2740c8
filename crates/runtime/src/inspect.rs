//! What an ONNX file says about itself, read without running it.

use std::path::Path;

use serde::Serialize;
use tract_onnx::pb;
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

fn value_info(v: &pb::ValueInfoProto) -> TensorInfo {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    let shape = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => t
            .shape
            .as_ref()
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| match d.value {
                        Some(Dim::DimValue(n)) if n > 0 => Some(n as usize),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    TensorInfo {
        name: v.name.clone(),
        shape,
    }
}

/// Inputs, outputs, parameters and operators of an ONNX file.
pub fn facts(path: &Path) -> Result<ModelFacts> {
    let proto = read_proto(path)?;
    Ok(facts_of(&proto))
}

pub fn facts_of(proto: &pb::ModelProto) -> ModelFacts {
    let graph = proto.graph.as_ref().expect("read_proto checked the graph");
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let parameters = graph
        .initializer
        .iter()
        .map(|t| t.dims.iter().map(|d| (*d).max(0) as u64).product::<u64>())
        .sum();
    let mut operators = std::collections::BTreeMap::<String, usize>::new();
    for node in &graph.node {
        *operators.entry(node.op_type.clone()).or_default() += 1;
    }
    ModelFacts {
        inputs: graph
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
            .map(value_info)
            .collect(),
        outputs: graph.output.iter().map(value_info).collect(),
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
    }
}

/// Multiply-adds per sample ×2, from tract's cost model of the typed graph at batch 1
/// (Conv, MatMul/Gemm and the other ops tract prices as FMA).
pub fn flops_per_sample(path: &Path, input_shape: &[usize]) -> Result<u64> {
    let fail = |e: TractError| model_error(path, first_line(&e));
    let computed =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> TractResult<u64> {
            let model = tract_onnx::onnx()
                .model_for_path(path)?
                .with_input_fact(0, f32::fact(input_shape).into())?
                .into_typed()?;
            let mut fma: u64 = 0;
            for node in model.eval_order()? {
                let node = &model.nodes()[node];
                let facts = model.node_input_facts(node.id)?;
                for (cost, count) in node.op.cost(&facts)? {
                    if let Cost::FMA(_) = cost {
                        fma += count.to_i64()?.max(0) as u64;
                    }
                }
            }
            Ok(fma * 2)
        }));
    match computed {
        Ok(r) => r.map_err(fail),
        Err(_) => Err(model_error(
            path,
            "tract crashed while analysing this model",
        )),
    }
}
