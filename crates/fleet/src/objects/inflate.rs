//! From pulled objects to a message: walks `Message → RecordDict → *Record → Array →
//! ArrayChunk`, checking at every step that the body names exactly the children the
//! verified head lists, so a tree cannot point outside what was pulled and hashed.

use std::collections::HashMap;

use prost::Message as _;
use serde_json::Value;

use crate::error::{FleetError, Result};
use crate::objects::head::Head;
use crate::objects::npy;
use crate::proto;
use crate::records::arrays::{Arrays, NdArray};
use crate::records::config::Config;
use crate::records::metrics::Metrics;
use crate::records::record_dict::{Record, RecordDict};

/// Hash-verified objects by id, with their parsed heads.
pub type Verified = HashMap<String, (Head, Vec<u8>)>;

/// A message as pulled: metadata, and either content or an error.
#[derive(Debug, Clone)]
pub struct Inflated {
    pub metadata: proto::Metadata,
    pub content: Option<RecordDict>,
    pub error: Option<proto::Error>,
}

/// Inflates the message whose object id is `id`.
pub fn message(id: &str, objects: &Verified) -> Result<Inflated> {
    let (head, body) = get(id, "Message", objects)?;
    let msg =
        proto::Message::decode(body).map_err(|e| malformed(id, &format!("Message body: {e}")))?;
    let mut metadata = msg
        .metadata
        .ok_or_else(|| malformed(id, "Message has no metadata"))?;
    // The id is left out of the hashed body (it is the hash); put it back.
    metadata.message_id = id.to_owned();
    if let Some(error) = msg.error {
        return Ok(Inflated {
            metadata,
            content: None,
            error: Some(error),
        });
    }
    let [child] = head.children.as_slice() else {
        return Err(malformed(
            id,
            "a Message without error must have exactly one child",
        ));
    };
    Ok(Inflated {
        metadata,
        content: Some(record_dict(child, objects)?),
        error: None,
    })
}

fn record_dict(id: &str, objects: &Verified) -> Result<RecordDict> {
    let (head, body) = get(id, "RecordDict", objects)?;
    let mut out = RecordDict::default();
    for (name, child) in refs(id, head, body)? {
        let kind = objects
            .get(&child)
            .map(|(h, _)| h.kind.as_str())
            .unwrap_or_default();
        let record = match kind {
            "ArrayRecord" => Record::Arrays(array_record(&child, objects)?),
            "ConfigRecord" => {
                let mut config = Config::default();
                config.extend_from_proto(decode(&child, "ConfigRecord", objects)?);
                Record::Config(config)
            }
            "MetricRecord" => {
                let mut metrics = Metrics::default();
                metrics.extend_from_proto(decode(&child, "MetricRecord", objects)?);
                Record::Metrics(metrics)
            }
            other => {
                return Err(malformed(
                    &child,
                    &format!("unexpected record type {other:?}"),
                ));
            }
        };
        out.insert(name, record);
    }
    Ok(out)
}

fn array_record(id: &str, objects: &Verified) -> Result<Arrays> {
    let (head, body) = get(id, "ArrayRecord", objects)?;
    let mut out = Arrays::new();
    for (name, child) in refs(id, head, body)? {
        let array = array(&name, &child, objects)?;
        out.insert(name, array);
    }
    Ok(out)
}

fn array(name: &str, id: &str, objects: &Verified) -> Result<NdArray> {
    let (head, body) = get(id, "Array", objects)?;
    let meta: Value =
        serde_json::from_slice(body).map_err(|e| malformed(id, &format!("Array body: {e}")))?;
    let unsupported = |reason: String| FleetError::UnsupportedArray {
        name: name.to_owned(),
        reason,
    };
    let stype = meta
        .get("stype")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if stype != "numpy.ndarray" {
        return Err(unsupported(format!(
            "serialization {stype:?} is not numpy.ndarray"
        )));
    }
    let indices = meta
        .get("arraychunk_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(id, "Array body has no arraychunk_ids"))?;
    let mut npy_bytes = Vec::new();
    for index in indices {
        let chunk_id = index
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| head.children.get(i))
            .ok_or_else(|| malformed(id, "arraychunk_ids points outside the head's children"))?;
        let (_, chunk) = get(chunk_id, "ArrayChunk", objects)?;
        // Bounded: every chunk was bounded when pulled, and their total by the pull limit.
        npy_bytes.extend_from_slice(chunk);
    }
    let (shape, data) = npy::decode_f32(&npy_bytes).map_err(|e| unsupported(e.0))?;
    let declared: Option<Vec<usize>> = meta.get("shape").and_then(Value::as_array).map(|dims| {
        dims.iter()
            .filter_map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
            .collect()
    });
    if declared.as_deref() != Some(shape.as_slice()) {
        return Err(malformed(id, "Array shape disagrees with its .npy header"));
    }
    NdArray::new(shape, data).map_err(|_| malformed(id, "Array data does not fill its shape"))
}

/// The `{name: child id}` JSON body of a `RecordDict` or `ArrayRecord`, checked against the
/// head's children (same set, as Flower's `inflate` checks).
fn refs(id: &str, head: &Head, body: &[u8]) -> Result<Vec<(String, String)>> {
    let Pairs(pairs) = serde_json::from_slice(body)
        .map_err(|e| malformed(id, &format!("body is not a JSON object: {e}")))?;
    let mut out = Vec::with_capacity(pairs.len());
    for (name, child) in pairs {
        let child = child
            .as_str()
            .ok_or_else(|| malformed(id, "a child reference is not a string"))?
            .to_owned();
        if !head.children.contains(&child) {
            return Err(malformed(id, "body names a child its head does not list"));
        }
        out.push((name, child));
    }
    if head
        .children
        .iter()
        .any(|c| !out.iter().any(|(_, r)| r == c))
    {
        return Err(malformed(id, "head lists a child its body does not name"));
    }
    Ok(out)
}

fn decode<M: prost::Message + Default>(id: &str, kind: &str, objects: &Verified) -> Result<M> {
    let (head, body) = get(id, kind, objects)?;
    if !head.children.is_empty() {
        return Err(malformed(id, &format!("a {kind} has no children")));
    }
    M::decode(body).map_err(|e| malformed(id, &format!("{kind} body: {e}")))
}

fn get<'a>(id: &str, kind: &str, objects: &'a Verified) -> Result<(&'a Head, &'a [u8])> {
    let (head, content) = objects
        .get(id)
        .ok_or_else(|| FleetError::ObjectNotFound { id: id.to_owned() })?;
    if head.kind != kind {
        return Err(malformed(
            id,
            &format!("expected a {kind}, found a {}", head.kind),
        ));
    }
    Ok((head, &content[head.body_start..]))
}

fn malformed(id: &str, reason: &str) -> FleetError {
    FleetError::MalformedObject {
        id: id.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A JSON object's members in document order (Python dicts are ordered, and so are the
/// records and arrays they name; serde_json's own map would sort them).
struct Pairs(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Pairs, A::Error> {
                let mut out = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    out.push(pair);
                }
                Ok(Pairs(out))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}
