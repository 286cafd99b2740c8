//! An ONNX model held as its protobuf, with the reads and edits training needs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use edge_ssl_core::write_atomic;
use ndarray::ArrayD;
use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::{DataLocation, DataType};

use super::tensor::{TensorData, decode, float_tensor, shape};
use super::{OnnxGraph, plain};
use crate::onnx::inspect;
use crate::{Result, RuntimeError};

/// A parsed ONNX model whose weights are all inside the file.
#[derive(Clone, Debug)]
pub struct OnnxModel {
    proto: pb::ModelProto,
    path: PathBuf,
}

fn edit_error(message: String) -> RuntimeError {
    RuntimeError::Input(message)
}

impl OnnxModel {
    /// Reads `path`, weights stored in external data files read in: what is edited here is
    /// written back as one file, where relative locations would not follow it.
    pub fn open(path: &Path) -> Result<OnnxModel> {
        let proto = inspect::read_proto_inline(path)?;
        OnnxModel::checked(proto, path)
    }

    /// Parses serialized bytes (`path` only names the model in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<OnnxModel> {
        let error = |message: String| RuntimeError::Model {
            path: path.to_owned(),
            message,
        };
        let proto = pb::ModelProto::decode(bytes).map_err(|e| error(e.to_string()))?;
        if proto.graph.as_ref().is_none_or(|g| g.node.is_empty()) {
            return Err(error("the file holds no graph".into()));
        }
        OnnxModel::checked(proto, path)
    }

    /// Also lifts float `Constant` nodes into initializers
    /// ([`lift_float_constants`](crate::onnx::edit::lift_float_constants)): what is edited here
    /// is always an initializer.
    fn checked(mut proto: pb::ModelProto, path: &Path) -> Result<OnnxModel> {
        crate::onnx::edit::lift_float_constants(&mut proto);
        let external = proto.graph.iter().flat_map(|g| &g.initializer).find(|t| {
            t.data_location == Some(DataLocation::External as i32) && t.raw_data.is_empty()
        });
        if let Some(t) = external {
            return Err(RuntimeError::Model {
                path: path.to_owned(),
                message: format!(
                    "initializer `{}` is stored in an external file; save the model with its weights inside",
                    t.name
                ),
            });
        }
        Ok(OnnxModel {
            proto,
            path: path.to_owned(),
        })
    }

    fn graph_proto(&self) -> &pb::GraphProto {
        self.proto.graph.as_ref().expect("checked at open")
    }

    /// Nodes, attributes and initializers as plain data.
    pub fn graph(&self) -> Result<OnnxGraph> {
        self.graph_with(&|_| true)
    }

    /// Nodes, attributes, integer initializers and the shapes of the float ones, without
    /// copying any weight: what a caller needs to decide which weights it wants
    /// ([`OnnxModel::float_initializers`]).
    pub fn structure(&self) -> Result<OnnxGraph> {
        self.graph_with(&|_| false)
    }

    /// The float initializers that `wanted` names, decoded.
    pub fn float_initializers(
        &self,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, ArrayD<f32>>> {
        let mut out = BTreeMap::new();
        let float = DataType::Float as i32;
        let picked = self.graph_proto().initializer.iter();
        for t in picked.filter(|t| t.data_type == float && wanted(&t.name)) {
            let value = decode(t).map_err(|e| RuntimeError::Model {
                path: self.path.clone(),
                message: format!("initializer `{}`: {e}", t.name),
            })?;
            if let TensorData::F32(a) = value {
                out.insert(t.name.clone(), a);
            }
        }
        Ok(out)
    }

    fn graph_with(&self, wanted: &dyn Fn(&str) -> bool) -> Result<OnnxGraph> {
        self.plain(plain::graph(self.graph_proto(), wanted))
    }

    fn plain(&self, g: Result<OnnxGraph, String>) -> Result<OnnxGraph> {
        g.map_err(|message| RuntimeError::Model {
            path: self.path.clone(),
            message,
        })
    }

    /// The model cut after `output`: only the nodes, initializers and inputs that compute it,
    /// with `output` as the one graph output (float, shape left to the engine to infer).
    /// Metadata (an embedded card among it) is dropped: the result is not the encoder.
    pub fn prefix(&self, output: &str) -> Result<OnnxModel> {
        let g = self.graph_proto();
        let nodes = g
            .node
            .iter()
            .map(|n| (n.input.as_slice(), n.output.as_slice()));
        let (keep, needed) = super::needed_by(nodes, output);
        let is_input = g.input.iter().any(|v| v.name == output);
        if !keep.iter().any(|&k| k) && !is_input {
            return Err(edit_error(format!("no node computes `{output}`")));
        }
        let declared = g
            .value_info
            .iter()
            .chain(&g.output)
            .find(|v| v.name == output);
        let out = declared.cloned().unwrap_or_else(|| float_value(output));
        let graph = pb::GraphProto {
            node: g
                .node
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(n, _)| n.clone())
                .collect(),
            initializer: g
                .initializer
                .iter()
                .filter(|t| needed.contains(&t.name))
                .cloned()
                .collect(),
            input: g
                .input
                .iter()
                .filter(|v| needed.contains(&v.name))
                .cloned()
                .collect(),
            value_info: g
                .value_info
                .iter()
                .filter(|v| needed.contains(&v.name) && v.name != output)
                .cloned()
                .collect(),
            output: vec![out],
            name: format!("{} (prefix)", g.name),
            ..Default::default()
        };
        let proto = pb::ModelProto {
            graph: Some(graph),
            ..header_of(&self.proto)
        };
        Ok(OnnxModel {
            proto,
            path: self.path.clone(),
        })
    }

    /// Replaces float initializers by name, keeping their shapes. A name that is the output
    /// of an `Identity` reading an initializer (an exporter's merged duplicate, untied for
    /// training) becomes an initializer of its own and the Identity is dropped. Returns how
    /// many tensors were written.
    pub fn replace_initializers(
        &mut self,
        values: &BTreeMap<String, ArrayD<f32>>,
    ) -> Result<usize> {
        let g = self.proto.graph.as_mut().expect("checked at open");
        for (name, value) in values {
            if let Some(t) = g.initializer.iter_mut().find(|t| &t.name == name) {
                let have =
                    shape(t).map_err(|e| edit_error(format!("initializer `{name}`: {e}")))?;
                if t.data_type != DataType::Float as i32 || have != value.shape() {
                    return Err(edit_error(format!(
                        "initializer `{name}` is not a float tensor of shape {:?}",
                        value.shape()
                    )));
                }
                *t = float_tensor(name, value);
                continue;
            }
            let inits: BTreeSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
            let identity = g.node.iter().position(|n| {
                n.op_type == "Identity"
                    && n.output.first() == Some(name)
                    && n.input.first().is_some_and(|i| inits.contains(i.as_str()))
            });
            let Some(k) = identity else {
                return Err(edit_error(format!(
                    "the model has no initializer `{name}` (nor an Identity of one)"
                )));
            };
            g.node.remove(k);
            g.initializer.push(float_tensor(name, value));
        }
        Ok(values.len())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.proto.encode_to_vec()
    }

    /// Writes the model atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes();
        Ok(write_atomic(path, |w| w.write_all(&bytes))?)
    }
}

/// The model-level fields of `m` (IR version, opsets, producer), without graph or metadata.
fn header_of(m: &pb::ModelProto) -> pb::ModelProto {
    pb::ModelProto {
        ir_version: m.ir_version,
        opset_import: m.opset_import.clone(),
        producer_name: m.producer_name.clone(),
        producer_version: m.producer_version.clone(),
        domain: m.domain.clone(),
        model_version: m.model_version,
        ..Default::default()
    }
}

fn float_value(name: &str) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: None,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
