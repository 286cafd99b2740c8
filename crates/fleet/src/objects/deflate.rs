//! From a reply to objects: builds every object of `Message → RecordDict → records → Array
//! → ArrayChunk` exactly as flwr's `deflate` methods do, so ids match Python's, and the
//! `ObjectTree` the SuperLink preregisters before it asks for the objects it lacks.

use std::collections::HashMap;

use prost::Message as _;

use crate::objects::head;
use crate::objects::json::Json;
use crate::objects::npy;
use crate::proto;
use crate::records::arrays::{Arrays, NdArray};
use crate::records::metrics::Metrics;

/// flwr's `FLWR_PRIVATE_MAX_ARRAY_CHUNK_SIZE` default: `.npy` bytes per `ArrayChunk`.
pub const MAX_CHUNK: usize = 5 * 1024 * 1024;

/// Objects of one message, children before parents, and its tree.
#[derive(Debug, Default)]
pub struct Deflated {
    contents: HashMap<String, Vec<u8>>,
    /// Ids in post-order (children first), each once.
    order: Vec<String>,
}

impl Deflated {
    /// The content of object `id`.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&[u8]> {
        self.contents.get(id).map(Vec::as_slice)
    }

    /// Object ids, children before parents.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }

    /// Total bytes of all objects.
    #[must_use]
    pub fn total_bytes(&self) -> usize {
        self.contents.values().map(Vec::len).sum()
    }

    fn add(&mut self, kind: &str, children: &[String], body: &[u8]) -> String {
        let (id, content) = head::build(kind, children, body);
        if !self.contents.contains_key(&id) {
            self.order.push(id.clone());
            self.contents.insert(id.clone(), content);
        }
        id
    }
}

/// The subtree of one object.
fn tree(id: &str, children: Vec<proto::ObjectTree>) -> proto::ObjectTree {
    proto::ObjectTree {
        object_id: id.to_owned(),
        children,
    }
}

/// Unique ids in first-seen order with their trees (Python builds `{obj.object_id: obj}`).
fn unique(items: Vec<(String, proto::ObjectTree)>) -> (Vec<String>, Vec<proto::ObjectTree>) {
    let mut ids: Vec<String> = Vec::new();
    let mut trees = Vec::new();
    for (id, t) in items {
        if !ids.contains(&id) {
            ids.push(id);
            trees.push(t);
        }
    }
    (ids, trees)
}

/// A record of the reply.
pub enum OutRecord<'a> {
    Arrays(&'a Arrays),
    Metrics(&'a Metrics),
}

/// Builds all objects of a reply message; returns its id (the message id), its tree and
/// the objects. `metadata.message_id` is ignored (a message's id is its hash).
pub fn message(
    metadata: &proto::Metadata,
    content: Option<&[(&str, OutRecord<'_>)]>,
    error: Option<proto::Error>,
) -> (String, proto::ObjectTree, Deflated) {
    let mut out = Deflated::default();
    let (children, subtrees) = match content {
        Some(records) => {
            let (id, t) = record_dict(&mut out, records);
            (vec![id], vec![t])
        }
        None => (Vec::new(), Vec::new()),
    };
    let mut metadata = metadata.clone();
    metadata.message_id.clear();
    let body = proto::Message {
        metadata: Some(metadata),
        content: None,
        error,
    }
    .encode_to_vec();
    let id = out.add("Message", &children, &body);
    (id.clone(), tree(&id, subtrees), out)
}

fn record_dict(
    out: &mut Deflated,
    records: &[(&str, OutRecord<'_>)],
) -> (String, proto::ObjectTree) {
    let mut refs = Vec::new();
    let mut items = Vec::new();
    for (name, record) in records {
        let (id, t) = match record {
            OutRecord::Arrays(a) => array_record(out, a),
            OutRecord::Metrics(m) => {
                let id = out.add("MetricRecord", &[], &m.to_proto().encode_to_vec());
                (id.clone(), tree(&id, Vec::new()))
            }
        };
        refs.push((*name, id.clone()));
        items.push((id, t));
    }
    let (children, trees) = unique(items);
    let body = Json::Object(refs.iter().map(|(n, id)| (*n, Json::Str(id))).collect()).dumps();
    let id = out.add("RecordDict", &children, body.as_bytes());
    (id.clone(), tree(&id, trees))
}

fn array_record(out: &mut Deflated, arrays: &Arrays) -> (String, proto::ObjectTree) {
    let mut refs = Vec::new();
    let mut items = Vec::new();
    for (name, a) in arrays.iter() {
        let (id, t) = array(out, a);
        refs.push((name, id.clone()));
        items.push((id, t));
    }
    let (children, trees) = unique(items);
    let body = Json::Object(refs.iter().map(|(n, id)| (*n, Json::Str(id))).collect()).dumps();
    let id = out.add("ArrayRecord", &children, body.as_bytes());
    (id.clone(), tree(&id, trees))
}

fn array(out: &mut Deflated, a: &NdArray) -> (String, proto::ObjectTree) {
    let bytes = npy::encode_f32(a.shape(), a.data());
    let chunk_ids: Vec<String> = if bytes.is_empty() {
        Vec::new()
    } else {
        bytes
            .chunks(MAX_CHUNK)
            .map(|c| out.add("ArrayChunk", &[], c))
            .collect()
    };
    let (unique_ids, trees) = unique(
        chunk_ids
            .iter()
            .map(|id| (id.clone(), tree(id, Vec::new())))
            .collect(),
    );
    let indices = chunk_ids
        .iter()
        .map(|id| Json::Int(unique_ids.iter().position(|u| u == id).unwrap_or(0) as i64))
        .collect();
    let shape = a.shape().iter().map(|&d| Json::Int(d as i64)).collect();
    let body = Json::Object(vec![
        ("dtype", Json::Str("float32")),
        ("shape", Json::List(shape)),
        ("stype", Json::Str("numpy.ndarray")),
        ("arraychunk_ids", Json::List(indices)),
    ])
    .dumps();
    let id = out.add("Array", &unique_ids, body.as_bytes());
    (id.clone(), tree(&id, trees))
}
