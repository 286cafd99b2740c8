//! Weights stored beside an ONNX file ("external data"), checked before any engine opens them.
//!
//! Exporters write a model's tensors to separate files when the protobuf would pass 2 GB, or when
//! asked to (`onnx.save(..., save_as_external_data=True)`): the tensor then holds a `location`
//! relative to the model's directory, an `offset` and a `length`. A model is a file users copy
//! from elsewhere, so those locations are hostile input: `../../etc/shadow`, an absolute path, a
//! symlink out of the directory, `/dev/zero` or a FIFO (which would hang the reader). Both engines
//! read the files themselves — ONNX Runtime on its own, tract through the model directory we pass
//! it — so every location is checked here first, the same way for both: a relative path of plain
//! components that, symlinks resolved, stays inside the model's directory and names a regular
//! file holding the byte range the tensor claims.

use std::path::{Component, Path, PathBuf};

use tract_onnx::pb;

/// Checks every external-data reference of `proto`, read from `model`; the message says which
/// tensor and why.
pub(crate) fn check(model: &Path, proto: &pb::ModelProto) -> Result<(), String> {
    let Some(graph) = proto.graph.as_ref() else {
        return Ok(());
    };
    let mut dir = None;
    check_graph(model, graph, &mut dir)
}

/// Whether any tensor of `proto` keeps its data outside the file.
pub(crate) fn any(proto: &pb::ModelProto) -> bool {
    let mut found = false;
    if let Some(graph) = proto.graph.as_ref() {
        visit(graph, &mut |t| {
            found |= is_external(t);
            Ok(())
        })
        .ok();
    }
    found
}

fn is_external(t: &pb::TensorProto) -> bool {
    t.data_location == Some(pb::tensor_proto::DataLocation::External as i32)
}

fn check_graph(
    model: &Path,
    graph: &pb::GraphProto,
    dir: &mut Option<PathBuf>,
) -> Result<(), String> {
    visit(graph, &mut |t| {
        // tract and ONNX Runtime read `raw_data` first when it is there; only an empty one makes
        // them follow the location.
        if !is_external(t) || !t.raw_data.is_empty() {
            return Ok(());
        }
        check_tensor(model, t, dir)
            .map(|_| ())
            .map_err(|why| format!("tensor `{}`: {why}", t.name))
    })
}

/// Calls `f` on every tensor of `graph`: initializers and the tensors held in node attributes,
/// subgraphs (If, Loop, Scan bodies) included.
fn visit(
    graph: &pb::GraphProto,
    f: &mut dyn FnMut(&pb::TensorProto) -> Result<(), String>,
) -> Result<(), String> {
    graph.initializer.iter().try_for_each(&mut *f)?;
    for node in &graph.node {
        for attr in &node.attribute {
            attr.t.iter().chain(&attr.tensors).try_for_each(&mut *f)?;
            for g in attr.g.iter().chain(&attr.graphs) {
                visit(g, f)?;
            }
        }
    }
    Ok(())
}

/// The most bytes [`inline`] reads into one model: what a protobuf can hold (2 GiB).
const MAX_INLINE_BYTES: u64 = (2 << 30) - 1;

/// Reads every external tensor of `proto` (read from `model`; each location checked as
/// [`check`] does) into the tensor itself, so the model is one self-contained protobuf that
/// can be edited and written elsewhere: BN re-estimation, encoder training and the feature
/// model write copies of the graph, where relative locations would no longer resolve. Torch's
/// exporter writes weights beside the model by default (`model.onnx.data`). Refused past 2 GiB,
/// what one protobuf holds.
pub(crate) fn inline(model: &Path, proto: &mut pb::ModelProto) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let Some(graph) = proto.graph.as_mut() else {
        return Ok(());
    };
    let mut dir = None;
    let mut total = 0u64;
    // Initializers, and the tensors the main graph's nodes hold (a `Constant`'s value).
    let held = graph.node.iter_mut().flat_map(|n| {
        n.attribute
            .iter_mut()
            .flat_map(|a| a.t.iter_mut().chain(a.tensors.iter_mut()))
    });
    for t in graph.initializer.iter_mut().chain(held) {
        if !is_external(t) || !t.raw_data.is_empty() {
            continue;
        }
        let name = t.name.clone();
        let (file, offset, end) =
            check_tensor(model, t, &mut dir).map_err(|why| format!("tensor `{name}`: {why}"))?;
        total = total.saturating_add(end - offset);
        if total > MAX_INLINE_BYTES {
            return Err("its external data passes 2 GiB, more than one ONNX file holds".into());
        }
        let mut bytes = vec![0u8; (end - offset) as usize];
        let read = std::fs::File::open(&file).and_then(|mut f| {
            f.seek(SeekFrom::Start(offset))?;
            f.read_exact(&mut bytes)
        });
        read.map_err(|e| format!("tensor `{name}`: reading its external data: {e}"))?;
        t.raw_data = bytes;
        t.external_data.clear();
        t.data_location = None;
    }
    Ok(())
}

/// Checks one external tensor's location and range; the file and the byte range it names.
fn check_tensor(
    model: &Path,
    t: &pb::TensorProto,
    dir: &mut Option<PathBuf>,
) -> Result<(PathBuf, u64, u64), String> {
    let entry = |key: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    };
    let location = entry("location").ok_or("its external data names no location")?;
    let number = |key: &str| -> Result<u64, String> {
        entry(key).map_or(Ok(0), |v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("external data {key} {v:?} is not a byte count"))
        })
    };
    let offset = number("offset")?;
    let length = entry("length").map(|_| number("length")).transpose()?;
    let relative = Path::new(location);
    if location.is_empty()
        || !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "external data location {location:?} is not a relative path inside the model's directory"
        ));
    }
    if dir.is_none() {
        let parent = match model.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let canonical = parent
            .canonicalize()
            .map_err(|e| format!("cannot resolve the model's directory: {e}"))?;
        *dir = Some(canonical);
    }
    let dir = dir.as_deref().unwrap_or(Path::new("."));
    let file = dir
        .join(relative)
        .canonicalize()
        .map_err(|e| format!("external data file {location:?}: {e}"))?;
    if !file.starts_with(dir) {
        return Err(format!(
            "external data location {location:?} leads outside the model's directory"
        ));
    }
    let meta =
        std::fs::metadata(&file).map_err(|e| format!("external data file {location:?}: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "external data location {location:?} is not a regular file"
        ));
    }
    let size = meta.len();
    let end = match length {
        Some(length) => offset.checked_add(length),
        None => Some(size),
    };
    match end {
        Some(end) if offset <= end && end <= size => Ok((file, offset, end)),
        _ => Err(format!(
            "external data {location:?} at offset {offset}{} lies past the end of the file ({size} bytes)",
            length.map_or(String::new(), |l| format!(", length {l},"))
        )),
    }
}
