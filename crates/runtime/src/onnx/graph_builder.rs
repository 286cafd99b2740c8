//! Appending float math to an existing ONNX graph, for the one-file export: the encoder's
//! nodes stay untouched and the adapter and head are written after its output as plain ONNX
//! operators (Gemm, Relu, Add, Sub, Mul, Div, Sqrt, Max, ReduceMean/ReduceSum/ReduceL2,
//! Softmax, Flatten) — ops that tract, ONNX Runtime and TensorRT all run. LayerNorm is spelled
//! out instead of using `LayerNormalization`, which needs opset 17: the export keeps the
//! encoder's opset, whatever it is.
//!
//! The builder owns the proto so callers never see protobuf types; every method returns the
//! name of the tensor it produced. New names are prefixed and checked against every name the
//! graph already uses, so appended math can never capture an encoder tensor.

use std::collections::HashSet;
use std::path::Path;

use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;

use crate::{Result, RuntimeError};

/// Names of everything this builder adds start with this.
const PREFIX: &str = "edge_ssl";

/// An ONNX model being extended with appended nodes.
pub struct GraphBuilder {
    proto: pb::ModelProto,
    opset: i64,
    taken: HashSet<String>,
    counter: usize,
}

/// One attribute of an appended node.
enum Attr {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
}

fn build_error(message: String) -> RuntimeError {
    RuntimeError::Input(message)
}

/// The declaration of a float32 graph input or output of shape `dims`.
fn float_value_info(name: &str, dims: Vec<Dim>) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .into_iter()
                        .map(|v| pb::tensor_shape_proto::Dimension {
                            value: Some(v),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl GraphBuilder {
    /// Reads `onnx` as edits want it ([`read_for_editing`](crate::onnx::edit::read_for_editing):
    /// external data read in, the graph being saved elsewhere; Constant-node weights lifted, so
    /// the feature means find a PaddlePaddle model's convolutions); the graph must have one
    /// input and at least one output.
    pub fn open(onnx: &Path) -> Result<Self> {
        Self::from_proto(
            crate::onnx::edit::read_for_editing(onnx)?,
            &onnx.display().to_string(),
        )
    }

    /// Takes over a model already read (`origin` names it in errors); the graph must have one
    /// input and at least one output.
    pub(crate) fn from_proto(proto: pb::ModelProto, origin: &str) -> Result<Self> {
        let opset = proto
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .ok_or_else(|| build_error(format!("{origin}: no default-domain opset")))?;
        let g = proto
            .graph
            .as_ref()
            .ok_or_else(|| build_error(format!("{origin}: the model has no graph")))?;
        if g.input.is_empty() || g.output.is_empty() {
            return Err(build_error(format!(
                "{origin}: the graph declares no input or no output"
            )));
        }
        let mut taken = HashSet::new();
        taken.extend(g.input.iter().map(|v| v.name.clone()));
        taken.extend(g.output.iter().map(|v| v.name.clone()));
        taken.extend(g.initializer.iter().map(|t| t.name.clone()));
        for n in &g.node {
            taken.extend(n.input.iter().cloned());
            taken.extend(n.output.iter().cloned());
            taken.insert(n.name.clone());
        }
        Ok(GraphBuilder {
            proto,
            opset,
            taken,
            counter: 0,
        })
    }

    /// The model as built so far.
    pub(crate) fn into_proto(self) -> pb::ModelProto {
        self.proto
    }

    /// Removes every node from the graph and hands them over, so a caller can put them back one
    /// by one ([`GraphBuilder::push_node`]) with new math in place of some: appended nodes land
    /// where the caller is in that walk, which keeps the graph in topological order.
    pub(crate) fn take_nodes(&mut self) -> Vec<pb::NodeProto> {
        std::mem::take(&mut self.graph_mut().node)
    }

    /// Appends an existing node unchanged.
    pub(crate) fn push_node(&mut self, node: pb::NodeProto) {
        self.graph_mut().node.push(node);
    }

    pub fn opset(&self) -> i64 {
        self.opset
    }

    fn graph(&self) -> &pb::GraphProto {
        self.proto.graph.as_ref().expect("checked at open")
    }

    fn graph_mut(&mut self) -> &mut pb::GraphProto {
        self.proto.graph.as_mut().expect("checked at open")
    }

    /// The name of the graph's first output (the encoder's embedding).
    pub fn first_output(&self) -> String {
        self.graph().output[0].name.clone()
    }

    /// The declared rank of the graph output `name` (the card's embedding), when the graph
    /// declares its shape; an error when the graph has no output of that name.
    pub fn output_rank(&self, name: &str) -> Result<Option<usize>> {
        let outputs = &self.graph().output;
        let Some(output) = outputs.iter().find(|o| o.name == name) else {
            let names: Vec<_> = outputs.iter().map(|o| format!("`{}`", o.name)).collect();
            return Err(build_error(format!(
                "the graph has no output `{name}` (its outputs: {})",
                names.join(", ")
            )));
        };
        Ok(
            match &output.r#type.as_ref().and_then(|t| t.value.as_ref()) {
                Some(pb::type_proto::Value::TensorType(t)) => t.shape.as_ref().map(|s| s.dim.len()),
                _ => None,
            },
        )
    }

    /// Renames the tensor `from` everywhere it is produced or consumed (not as graph output:
    /// callers re-declare outputs with [`GraphBuilder::set_outputs`]), so its old name can
    /// be given to the tensor that replaces it.
    pub fn rename_tensor(&mut self, from: &str, hint: &str) -> String {
        let to = self.fresh(hint);
        let g = self.graph_mut();
        for n in &mut g.node {
            for name in n.input.iter_mut().chain(n.output.iter_mut()) {
                if name == from {
                    *name = to.clone();
                }
            }
        }
        self.taken.remove(from);
        to
    }

    /// A name no tensor or node of the graph uses yet.
    fn fresh(&mut self, hint: &str) -> String {
        loop {
            self.counter += 1;
            let name = format!("{PREFIX}/{hint}_{}", self.counter);
            if self.taken.insert(name.clone()) {
                return name;
            }
        }
    }

    /// A float32 initializer of shape `dims` (row-major `values`).
    pub fn constant(&mut self, hint: &str, dims: &[usize], values: &[f32]) -> Result<String> {
        let expected: usize = dims.iter().product();
        if expected != values.len() {
            return Err(build_error(format!(
                "constant `{hint}` of shape {dims:?} needs {expected} values, got {}",
                values.len()
            )));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(build_error(format!("constant `{hint}` is not finite")));
        }
        let name = self.fresh(hint);
        let tensor = pb::TensorProto {
            name: name.clone(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        };
        self.graph_mut().initializer.push(tensor);
        Ok(name)
    }

    /// A one-dimensional int64 initializer (shapes, axes).
    pub(crate) fn ints_constant(&mut self, hint: &str, values: &[i64]) -> String {
        let name = self.fresh(hint);
        let tensor = pb::TensorProto {
            name: name.clone(),
            dims: vec![values.len() as i64],
            data_type: DataType::Int64 as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        };
        self.graph_mut().initializer.push(tensor);
        name
    }

    fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        let mut outs = self.node_outputs(op, inputs, attrs, 1);
        outs.pop().unwrap_or_default()
    }

    /// A node with `count` outputs, named fresh, in order.
    fn node_outputs(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        count: usize,
    ) -> Vec<String> {
        let outs: Vec<String> = (0..count)
            .map(|_| self.fresh(&op.to_ascii_lowercase()))
            .collect();
        let name = self.fresh(op);
        let attribute = attrs
            .into_iter()
            .map(|(k, v)| {
                let mut a = pb::AttributeProto {
                    name: k.into(),
                    ..Default::default()
                };
                match v {
                    Attr::Int(i) => (a.i, a.r#type) = (i, AttributeType::Int as i32),
                    Attr::Float(f) => (a.f, a.r#type) = (f, AttributeType::Float as i32),
                    Attr::Ints(v) => (a.ints, a.r#type) = (v, AttributeType::Ints as i32),
                }
                a
            })
            .collect();
        self.graph_mut().node.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outs.clone(),
            name,
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        outs
    }

    /// BatchNormalization in training mode (opset 14 on): `x` normalized with its own batch's
    /// per-channel mean and population variance, which come out as the second and third
    /// outputs (`momentum = 0` makes the "running" statistics the batch's own).
    pub(crate) fn batch_norm_training(&mut self, inputs: [&str; 5], epsilon: f32) -> [String; 3] {
        let outs = self.node_outputs(
            "BatchNormalization",
            &inputs,
            vec![
                ("epsilon", Attr::Float(epsilon)),
                ("momentum", Attr::Float(0.0)),
                ("training_mode", Attr::Int(1)),
            ],
            3,
        );
        let mut outs = outs.into_iter();
        let mut next = || outs.next().unwrap_or_default();
        [next(), next(), next()]
    }

    /// `alpha · x·Wᵀ + bias` with `weight` stored `out × in` (PyTorch's layout).
    pub fn linear(
        &mut self,
        x: &str,
        weight: &[f32],
        (outputs, inputs): (usize, usize),
        bias: &[f32],
        alpha: f32,
    ) -> Result<String> {
        let w = self.constant("weight", &[outputs, inputs], weight)?;
        let b = self.constant("bias", &[outputs], bias)?;
        let attrs = vec![("transB", Attr::Int(1)), ("alpha", Attr::Float(alpha))];
        Ok(self.node("Gemm", &[x, &w, &b], attrs))
    }

    /// Collapses every axis after the first: `N × …` → `N × D`.
    pub fn flatten(&mut self, x: &str) -> String {
        self.node("Flatten", &[x], vec![("axis", Attr::Int(1))])
    }

    /// `xs` joined along `axis`.
    pub(crate) fn concat(&mut self, xs: &[&str], axis: i64) -> String {
        self.node("Concat", xs, vec![("axis", Attr::Int(axis))])
    }

    /// The graph's nodes, in order.
    pub(crate) fn nodes(&self) -> &[pb::NodeProto] {
        &self.graph().node
    }

    /// The dimensions of the initializer `name`, if there is one.
    pub(crate) fn initializer_dims(&self, name: &str) -> Option<&[i64]> {
        self.graph()
            .initializer
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.dims.as_slice())
    }

    /// Whether the initializer `name` exists and is stored as other than float32 (a float16
    /// model's weights): what its consumers compute is in that type too.
    pub(crate) fn initializer_is_not_f32(&self, name: &str) -> bool {
        self.graph()
            .initializer
            .iter()
            .find(|t| t.name == name)
            .is_some_and(|t| t.data_type != pb::tensor_proto::DataType::Float as i32)
    }

    /// Natural logarithm, element-wise.
    pub(crate) fn log(&mut self, x: &str) -> String {
        self.node("Log", &[x], vec![])
    }

    pub fn relu(&mut self, x: &str) -> String {
        self.node("Relu", &[x], vec![])
    }

    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.node("Add", &[a, b], vec![])
    }

    pub fn sub(&mut self, a: &str, b: &str) -> String {
        self.node("Sub", &[a, b], vec![])
    }

    pub fn mul(&mut self, a: &str, b: &str) -> String {
        self.node("Mul", &[a, b], vec![])
    }

    pub fn div(&mut self, a: &str, b: &str) -> String {
        self.node("Div", &[a, b], vec![])
    }

    pub fn max(&mut self, a: &str, b: &str) -> String {
        self.node("Max", &[a, b], vec![])
    }

    pub(crate) fn min(&mut self, a: &str, b: &str) -> String {
        self.node("Min", &[a, b], vec![])
    }

    pub(crate) fn floor(&mut self, x: &str) -> String {
        self.node("Floor", &[x], vec![])
    }

    pub fn sqrt(&mut self, x: &str) -> String {
        self.node("Sqrt", &[x], vec![])
    }

    /// A one-element constant, broadcast against whatever it meets.
    pub fn scalar(&mut self, hint: &str, value: f32) -> Result<String> {
        self.constant(hint, &[1], &[value])
    }

    /// `x · value`.
    pub fn scale(&mut self, x: &str, value: f32) -> Result<String> {
        let s = self.scalar("scale", value)?;
        Ok(self.mul(x, &s))
    }

    /// `op` (ReduceMean, ReduceSum, ReduceL2) over the last axis of a 2-D tensor, keeping it
    /// (`N × D` → `N × 1`).
    pub fn reduce_last(&mut self, op: &str, x: &str) -> String {
        self.reduce(op, x, &[-1])
    }

    /// `op` (ReduceMean, ReduceSum, ReduceL2) over `axes`, keeping them as size-1 axes. Opset 18
    /// (13 for ReduceSum) moved `axes` from attribute to input.
    pub(crate) fn reduce(&mut self, op: &str, x: &str, axes: &[i64]) -> String {
        let axes_as_input = self.opset >= 18 || (op == "ReduceSum" && self.opset >= 13);
        let keep = ("keepdims", Attr::Int(1));
        if axes_as_input {
            let axes = self.ints_constant("axes", axes);
            self.node(op, &[x, &axes], vec![keep])
        } else {
            self.node(op, &[x], vec![("axes", Attr::Ints(axes.to_vec())), keep])
        }
    }

    /// The mean of an `N × C × …` tensor over every axis after the second, kept as size-1 axes.
    pub(crate) fn global_average_pool(&mut self, x: &str) -> String {
        self.node("GlobalAveragePool", &[x], vec![])
    }

    /// `x` reshaped to the int64 tensor `shape` (ONNX semantics: 0 copies the input's dimension,
    /// −1 takes what is left).
    pub(crate) fn reshape(&mut self, x: &str, shape: &str) -> String {
        self.node("Reshape", &[x, shape], vec![])
    }

    /// The shape of `x` as an int64 tensor.
    pub(crate) fn shape_of(&mut self, x: &str) -> String {
        self.node("Shape", &[x], vec![])
    }

    /// `x` converted to float32.
    pub(crate) fn cast_to_float(&mut self, x: &str) -> String {
        self.cast(x, DataType::Float)
    }

    /// `x` converted to the element type `to`.
    pub(crate) fn cast(&mut self, x: &str, to: DataType) -> String {
        self.node("Cast", &[x], vec![("to", Attr::Int(to as i64))])
    }

    /// Makes `tensor` also available under the unused name `name`, through an Identity (which
    /// every runtime removes), so new math can produce a tensor the graph already consumes.
    pub(crate) fn alias(&mut self, tensor: &str, name: &str) {
        self.taken.insert(name.into());
        let node = self.fresh("Identity");
        self.graph_mut().node.push(pb::NodeProto {
            input: vec![tensor.into()],
            output: vec![name.into()],
            name: node,
            op_type: "Identity".into(),
            ..Default::default()
        });
    }

    /// Row-wise softmax of a 2-D tensor (axis 1 means the same in every opset for rank 2).
    pub fn softmax(&mut self, x: &str) -> String {
        self.node("Softmax", &[x], vec![("axis", Attr::Int(1))])
    }

    /// `gain ⊙ (x − mean) / √(var + eps) + bias` per row, the biased variance, as
    /// LayerNormalization(axis=-1) computes it.
    pub fn layer_norm(&mut self, x: &str, gain: &[f32], bias: &[f32], eps: f32) -> Result<String> {
        let d = gain.len();
        let mean = self.reduce_last("ReduceMean", x);
        let centered = self.sub(x, &mean);
        let squared = self.mul(&centered, &centered);
        let var = self.reduce_last("ReduceMean", &squared);
        let eps = self.scalar("eps", eps)?;
        let var = self.add(&var, &eps);
        let std = self.sqrt(&var);
        let unit = self.div(&centered, &std);
        let g = self.constant("gain", &[d], gain)?;
        let b = self.constant("shift", &[d], bias)?;
        let scaled = self.mul(&unit, &g);
        Ok(self.add(&scaled, &b))
    }

    /// `x / max(‖x‖₂, floor)` per row.
    pub fn l2_normalize(&mut self, x: &str, floor: f32) -> Result<String> {
        let norm = self.reduce_last("ReduceL2", x);
        let floor = self.scalar("floor", floor)?;
        let norm = self.max(&norm, &floor);
        Ok(self.div(x, &norm))
    }

    /// Makes the graph's outputs exactly `outputs`: (tensor, output name, width) each, with the
    /// graph input's batch dimension (a symbol when the batch is dynamic) as first axis. The
    /// tensor is routed through an Identity named after the output.
    pub fn set_outputs(&mut self, outputs: &[(&str, &str, usize)]) -> Result<()> {
        let batch = self.graph().input[0]
            .r#type
            .as_ref()
            .and_then(|t| match &t.value {
                Some(pb::type_proto::Value::TensorType(t)) => t.shape.as_ref()?.dim.first(),
                _ => None,
            })
            .and_then(|d| d.value.clone())
            .unwrap_or(Dim::DimParam("N".into()));
        let mut declared = Vec::new();
        for &(tensor, name, width) in outputs {
            if self.taken.contains(name) && tensor != name {
                return Err(build_error(format!(
                    "output name `{name}` is already used inside the graph"
                )));
            }
            if tensor != name {
                self.alias(tensor, name);
            }
            declared.push(float_value_info(
                name,
                vec![batch.clone(), Dim::DimValue(width as i64)],
            ));
        }
        let g = self.graph_mut();
        g.output = declared;
        // Shapes recorded for the old outputs' producers may no longer hold; checkers and
        // runtimes infer them again.
        g.value_info.clear();
        Ok(())
    }

    /// Makes the graph's outputs exactly `outputs`: tensors the graph computes, each with its
    /// fixed shape. The nodes and their recorded shapes stay as they are.
    pub(crate) fn set_fixed_outputs(&mut self, outputs: &[(String, Vec<usize>)]) {
        self.graph_mut().output = outputs
            .iter()
            .map(|(name, dims)| {
                let dims = dims.iter().map(|&d| Dim::DimValue(d as i64)).collect();
                float_value_info(name, dims)
            })
            .collect();
    }

    /// Adds (or replaces) a `metadata_props` entry.
    pub fn set_metadata(&mut self, key: &str, value: &str) {
        let props = &mut self.proto.metadata_props;
        props.retain(|p| p.key != key);
        props.push(pb::StringStringEntryProto {
            key: key.into(),
            value: value.into(),
        });
    }

    /// Records who rewrote the graph; the encoder's producer stays in the doc string.
    pub fn set_producer(&mut self, name: &str, version: &str) {
        let p = &mut self.proto;
        if !p.producer_name.is_empty() {
            let was = format!(
                "encoder produced by {} {}",
                p.producer_name, p.producer_version
            );
            p.doc_string = if p.doc_string.is_empty() {
                was
            } else {
                format!("{}\n{was}", p.doc_string)
            };
        }
        p.producer_name = name.into();
        p.producer_version = version.into();
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.proto.encode_to_vec()
    }
}

impl GraphBuilder {
    /// Writes the model atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes();
        Ok(edge_ssl_core::write_atomic(path, |w| w.write_all(&bytes))?)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use ndarray::{Array2, ArrayD, Axis};

    use super::*;
    use crate::{Backend, BackendOptions, TractBackend, card_for};

    fn encoder() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fmnist-ssl/encoder.onnx")
    }

    /// The bundled encoder's embedding size, from its card.
    fn dim() -> usize {
        card_for(&encoder(), None).unwrap().output.dim
    }

    fn run(path: &Path, batch: usize) -> Vec<Array2<f32>> {
        let card = card_for(&encoder(), None).unwrap();
        let mut session = TractBackend::new(BackendOptions::default().with_threads(Some(1)))
            .load(path, &card)
            .unwrap();
        let n = (batch * 28 * 28) as f32;
        let x = ArrayD::from_shape_fn(vec![batch, 1, 28, 28], |i| {
            let flat = i[0] * 784 + i[2] * 28 + i[3];
            (flat as f32 / n * 7.0).sin()
        });
        session
            .run(&[x.view()])
            .unwrap()
            .into_iter()
            .map(|t| {
                let rows = t.shape()[0];
                t.into_shape_with_order((rows, dim())).unwrap()
            })
            .collect()
    }

    /// LayerNorm and L2 normalization appended after the encoder, at the encoder's opset (17:
    /// `axes` attributes) and at 18 (`axes` inputs), compute what they say in tract.
    #[test]
    fn appended_norms_compute_the_same_at_opset_17_and_18() {
        let dir = tempfile::tempdir().unwrap();
        for opset in [17, 18] {
            let mut g = GraphBuilder::open(&encoder()).unwrap();
            g.opset = opset;
            for o in &mut g.proto.opset_import {
                o.version = opset;
            }
            let out = g.first_output();
            let raw = g.rename_tensor(&out, "raw");
            let unit = g.l2_normalize(&raw, 1e-8).unwrap();
            let d = dim();
            let gain: Vec<f32> = (0..d).map(|i| 0.5 + i as f32 / d as f32).collect();
            let shift: Vec<f32> = (0..d).map(|i| (i as f32 * 0.1).cos()).collect();
            let normed = g.layer_norm(&unit, &gain, &shift, 1e-5).unwrap();
            g.set_outputs(&[(&raw, &out, d), (&normed, "normed", d)])
                .unwrap();
            let path = dir.path().join(format!("opset{opset}.onnx"));
            g.save(&path).unwrap();

            let outs = run(&path, 3);
            let (raw, normed) = (&outs[0], &outs[1]);
            let norms = raw.map_axis(Axis(1), |r| r.dot(&r).sqrt());
            let unit = raw / &norms.insert_axis(Axis(1));
            let mean = unit.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1));
            let centered = &unit - &mean;
            let var = centered.mapv(|v| v * v).mean_axis(Axis(1)).unwrap();
            let want = &centered / var.mapv(|v| (v + 1e-5).sqrt()).insert_axis(Axis(1))
                * ndarray::aview1(&gain)
                + ndarray::aview1(&shift);
            let diff = (normed - &want).iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(diff < 1e-4, "opset {opset}: appended math off by {diff}");
            // Dynamic batch: the same rows at batch 1.
            let one = run(&path, 1);
            assert_eq!(one[1].nrows(), 1);
        }
    }

    #[test]
    fn new_names_never_capture_graph_tensors_and_outputs_cannot_reuse_them() {
        let mut g = GraphBuilder::open(&encoder()).unwrap();
        let before = g.taken.clone();
        let c = g.scalar("input", 1.0).unwrap();
        assert!(!before.contains(&c) && c.starts_with(PREFIX));
        let out = g.first_output();
        let input = g.graph().input[0].name.clone();
        let err = g.set_outputs(&[(&out, &input, dim())]).unwrap_err();
        assert!(err.to_string().contains("already used"), "{err}");
        assert!(g.constant("w", &[2, 2], &[1.0; 3]).is_err());
        assert!(g.constant("w", &[1], &[f32::NAN]).is_err());
    }
}
