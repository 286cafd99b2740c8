//! `GraphSpec` → `Graph`: names resolved to slots once, ops built and their attributes checked,
//! so a forward never looks up a string and an unsupported operator fails at import, not
//! halfway through the first epoch.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayD};

use super::graph::{Graph, Node, Slot};
use super::ops::registry;
use super::{GraphSpec, Tensor};
use crate::nn::Param;
use crate::{Result, TrainError};

fn invalid(node: &str, reason: impl Into<String>) -> TrainError {
    TrainError::InvalidGraph {
        node: node.to_string(),
        reason: reason.into(),
    }
}

/// A parameter is stored 2-D (`d0 × rest`, a vector as `1 × n`) like every other [`Param`] in
/// this crate, so the optimizers and checkpoints take graph parameters unchanged; a conv
/// weight `O × C × kh × kw` is then exactly the `O × (C·kh·kw)` matrix the im2col GEMM wants.
pub(super) fn as_matrix(a: ArrayD<f32>) -> Array2<f32> {
    let rows = if a.ndim() >= 2 { a.shape()[0] } else { 1 };
    let cols = a.len() / rows.max(1);
    let a = a.as_standard_layout().into_owned();
    a.into_shape_with_order((rows, cols))
        .expect("a standard-layout array reshapes to its own size")
}

pub(super) fn from_spec(spec: GraphSpec) -> Result<Graph> {
    let GraphSpec {
        inputs,
        outputs,
        nodes,
        initializers,
        int_initializers,
        trainable,
    } = spec;
    if let Some(name) = trainable.iter().find(|n| !initializers.contains_key(*n)) {
        return Err(invalid(
            name,
            "marked trainable but is not a float initializer",
        ));
    }
    let mut slots: BTreeMap<String, Slot> = BTreeMap::new();
    let mut params = Vec::new();
    let mut param_shapes = Vec::new();
    let mut consts = Vec::new();
    for (name, value) in initializers {
        if trainable.contains(&name) {
            slots.insert(name.clone(), Slot::Param(params.len()));
            param_shapes.push(value.shape().to_vec());
            // Weight decay for matrices and kernels, never for biases and norm gains.
            let decay = value.ndim() >= 2;
            params.push(Param::new(name, as_matrix(value), decay));
        } else {
            slots.insert(name.clone(), Slot::Const(consts.len()));
            consts.push((name, Tensor::F32(value)));
        }
    }
    for (name, value) in int_initializers {
        if slots.contains_key(&name) {
            return Err(invalid(
                &name,
                "defined both as a float and an int initializer",
            ));
        }
        slots.insert(name.clone(), Slot::Const(consts.len()));
        consts.push((name, Tensor::I64(value)));
    }
    for (i, name) in inputs.iter().enumerate() {
        if slots.insert(name.clone(), Slot::Value(i)).is_some() {
            return Err(invalid(name, "graph input shadows an initializer"));
        }
    }
    let nodes = super::fuse::bn_relu(nodes, &outputs);
    let mut n_values = inputs.len();
    let mut built = Vec::with_capacity(nodes.len());
    for node in nodes {
        let op = registry::build(&node)?;
        let mut node_inputs = Vec::with_capacity(node.inputs.len());
        for name in &node.inputs {
            if name.is_empty() {
                node_inputs.push(None);
                continue;
            }
            let slot = *slots.get(name).ok_or_else(|| {
                invalid(
                    &node.name,
                    format!(
                        "input {name:?} is not a graph input, an initializer or an earlier node's output"
                    ),
                )
            })?;
            node_inputs.push(Some(slot));
        }
        let mut node_outputs = Vec::with_capacity(node.outputs.len());
        for name in &node.outputs {
            if name.is_empty() {
                node_outputs.push(None);
                continue;
            }
            if slots.insert(name.clone(), Slot::Value(n_values)).is_some() {
                return Err(invalid(
                    &node.name,
                    format!("output {name:?} is defined twice"),
                ));
            }
            node_outputs.push(Some(n_values));
            n_values += 1;
        }
        built.push(Node {
            name: node.name,
            op_type: node.op_type,
            op,
            inputs: node_inputs,
            outputs: node_outputs,
        });
    }
    let output_slots = outputs
        .iter()
        .map(|name| {
            slots
                .get(name)
                .copied()
                .ok_or_else(|| invalid(name, "graph output is never computed"))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut graph = Graph {
        input_names: inputs,
        output_names: outputs,
        params,
        param_shapes,
        consts,
        nodes: built,
        n_values,
        requires: Vec::new(),
        output_slots,
        input_grads: true,
        tape: None,
    };
    graph.mark_requires();
    Ok(graph)
}
