//! The one place that turns named `f32` arrays plus string metadata into a safetensors file and
//! back. Adapters, heads and trainer checkpoints all go through it, so each shares the same
//! atomic write, the same `format` tag check and the same "corrupt file" errors — and the same
//! CRC-32 over the tensors, since safetensors itself checks only that the header parses and
//! the offsets fit: a flipped bit in the weights would otherwise load as a silently different
//! model.
//!
//! Files arrive from elsewhere, so reading trusts nothing in them: only a regular file is read
//! (a FIFO or `/dev/zero` is refused, not waited on), every tensor must hold finite values (a
//! NaN weight turns every prediction into NaN, which argmax reads as class 0), scalars read
//! with [`TensorFile::positive`] must be finite and positive, and a loader checks the sizes its
//! metadata declares against the tensors actually present ([`TensorFile::expect_shape`])
//! before it allocates anything from them, so `dim = 18446744073709551615` is an error, not
//! an allocation panic.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ndarray::{Array2, ArrayD, IxDyn};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::{Result, TrainError};

const FORMAT_KEY: &str = "format";
/// CRC-32 (hex) of the metadata entries and every tensor's name, shape and little-endian
/// data, in key order. Files written before it existed have none and are read unchecked.
const CRC_KEY: &str = "crc32";

fn content_crc(
    tensors: &BTreeMap<String, ArrayD<f32>>,
    metadata: &BTreeMap<String, String>,
) -> String {
    let mut h = crc32fast::Hasher::new();
    for (k, v) in metadata {
        for field in [k, v] {
            h.update(&(field.len() as u64).to_le_bytes());
            h.update(field.as_bytes());
        }
    }
    for (name, a) in tensors {
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        for &d in a.shape() {
            h.update(&(d as u64).to_le_bytes());
        }
        let data: Vec<u8> = a.iter().flat_map(|v| v.to_le_bytes()).collect();
        h.update(&data);
    }
    format!("{:08x}", h.finalize())
}

pub(crate) struct TensorFile {
    kind: &'static str,
    path: PathBuf,
    pub tensors: BTreeMap<String, ArrayD<f32>>,
    pub metadata: BTreeMap<String, String>,
}

impl TensorFile {
    /// `kind` is written as the `format` metadata entry and checked on read, so an adapter file
    /// handed to `Head::load` is a clear error rather than a missing-tensor puzzle.
    pub fn new(kind: &'static str) -> Self {
        TensorFile {
            kind,
            path: PathBuf::new(),
            tensors: BTreeMap::new(),
            metadata: BTreeMap::new(),
        }
    }

    pub fn insert(&mut self, name: impl Into<String>, value: ArrayD<f32>) {
        self.tensors.insert(name.into(), value);
    }

    pub fn insert2(&mut self, name: impl Into<String>, value: &Array2<f32>) {
        self.insert(name, value.clone().into_dyn());
    }

    pub fn set(&mut self, key: &str, value: impl ToString) {
        self.metadata.insert(key.to_string(), value.to_string());
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(name, a)| {
                let data = a.iter().flat_map(|v| v.to_le_bytes()).collect();
                (name.clone(), data, a.shape().to_vec())
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(name, data, shape)| {
                TensorView::new(Dtype::F32, shape.clone(), data).map(|v| (name.as_str(), v))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.corrupt_at(path, e.to_string()))?;
        let mut meta: HashMap<String, String> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        meta.insert(FORMAT_KEY.to_string(), self.kind.to_string());
        meta.insert(
            CRC_KEY.to_string(),
            content_crc(&self.tensors, &self.metadata),
        );
        let buf = safetensors::serialize(views, Some(meta))
            .map_err(|e| self.corrupt_at(path, e.to_string()))?;
        let buf = with_sorted_header(buf);
        edge_ssl_core::write_atomic(path, |w| w.write_all(&buf)).map_err(|e| io_error(path, e))
    }

    pub fn read(path: &Path, kind: &'static str) -> Result<Self> {
        let mut buf = Vec::new();
        edge_ssl_core::open_regular(path)
            .and_then(|mut f| {
                f.read_to_end(&mut buf)
                    .map_err(|e| edge_ssl_core::CoreError::io(path, e))
            })
            .map_err(|e| io_error(path, e))?;
        let mut file = TensorFile::new(kind);
        file.path = path.to_path_buf();
        let (_, header) = SafeTensors::read_metadata(&buf).map_err(|e| file.corrupt(e))?;
        let st = SafeTensors::deserialize(&buf).map_err(|e| file.corrupt(e))?;
        let mut metadata: BTreeMap<String, String> = header
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        match metadata.remove(FORMAT_KEY) {
            Some(f) if f == kind => {}
            Some(f) => return Err(file.corrupt(format!("it is a {f:?} file"))),
            None => return Err(file.corrupt("no \"format\" entry in its metadata")),
        }
        let crc = metadata.remove(CRC_KEY);
        file.metadata = metadata;
        for (name, view) in st.iter() {
            if view.dtype() != Dtype::F32 {
                return Err(file.corrupt(format!("tensor {name} is {:?}, not F32", view.dtype())));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(file.corrupt(format!(
                    "tensor {name} holds a non-finite value ({} at element {i})",
                    values[i]
                )));
            }
            let a =
                ArrayD::from_shape_vec(IxDyn(view.shape()), values).map_err(|e| file.corrupt(e))?;
            file.tensors.insert(name.to_string(), a);
        }
        if let Some(crc) = crc
            && crc != content_crc(&file.tensors, &file.metadata)
        {
            return Err(file.corrupt(format!(
                "its content does not match the CRC-32 {crc} in its header (damaged on disk or in a copy)"
            )));
        }
        Ok(file)
    }

    /// Removes and returns a 2-D tensor, checking its shape when `shape` is given.
    pub fn take2(&mut self, name: &str, shape: Option<(usize, usize)>) -> Result<Array2<f32>> {
        let a = self
            .tensors
            .remove(name)
            .ok_or_else(|| self.corrupt(format!("missing tensor {name}")))?;
        let a = a
            .into_dimensionality::<ndarray::Ix2>()
            .map_err(|_| self.corrupt(format!("tensor {name} is not 2-D")))?;
        match shape {
            Some(s) if a.dim() != s => Err(self.corrupt(format!(
                "tensor {name} has shape {:?}, expected {s:?}",
                a.dim()
            ))),
            _ => Ok(a),
        }
    }

    /// Checks that tensor `name` is present with `shape`, without taking it: a loader calls
    /// this with the sizes its metadata declares before allocating anything from them.
    pub fn expect_shape(&self, name: &str, shape: &[usize]) -> Result<()> {
        let a = self
            .tensors
            .get(name)
            .ok_or_else(|| self.corrupt(format!("missing tensor {name}")))?;
        if a.shape() == shape {
            Ok(())
        } else {
            Err(self.corrupt(format!(
                "tensor {name} has shape {:?}, but the metadata says {shape:?}",
                a.shape()
            )))
        }
    }

    /// A scalar that divides or scales (`eps`, a temperature, a logit scale): finite and > 0.
    pub fn positive(&self, key: &str) -> Result<f32> {
        let value: f32 = self.parse(key)?;
        if value.is_finite() && value > 0.0 {
            Ok(value)
        } else {
            Err(self.corrupt(format!(
                "metadata entry {key:?} = {value} must be a finite number > 0"
            )))
        }
    }

    pub fn get(&self, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| self.corrupt(format!("missing metadata entry {key:?}")))
    }

    pub fn parse<T: FromStr>(&self, key: &str) -> Result<T> {
        let raw = self.get(key)?;
        raw.parse()
            .map_err(|_| self.corrupt(format!("metadata entry {key:?} = {raw:?} does not parse")))
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T> {
        serde_json::from_str(self.get(key)?)
            .map_err(|e| self.corrupt(format!("metadata entry {key:?}: {e}")))
    }

    pub fn corrupt(&self, reason: impl ToString) -> TrainError {
        self.corrupt_at(&self.path, reason)
    }

    fn corrupt_at(&self, path: &Path, reason: impl ToString) -> TrainError {
        TrainError::Corrupt {
            path: path.to_path_buf(),
            kind: self.kind,
            reason: reason.to_string(),
        }
    }
}

/// The core's file errors as this crate's `Io`, the path said once.
fn io_error(path: &Path, e: edge_ssl_core::CoreError) -> TrainError {
    use edge_ssl_core::CoreError;
    let message = match e {
        CoreError::Io { path, source } => return TrainError::Io { path, source },
        CoreError::NotRegular { kind, .. } => format!("is {kind}, not a regular file"),
        CoreError::Symlink { .. } => "is a symbolic link; refusing to replace it".into(),
        other => other.to_string(),
    };
    TrainError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(message),
    }
}

/// safetensors writes its metadata map in hash order, so the same weights would give different
/// bytes from run to run. Re-emitting the JSON header with sorted keys (serde_json's map is
/// ordered) makes equal adapters byte-identical files; the header keeps its length and
/// padding, and tensor offsets are relative to the data, so nothing else moves.
fn with_sorted_header(mut buf: Vec<u8>) -> Vec<u8> {
    let Some(len) = buf
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    else {
        return buf;
    };
    let Some(header) = buf.get(8..8 + len) else {
        return buf;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(header) else {
        return buf;
    };
    let sorted = value.to_string();
    if sorted.len() <= len {
        buf[8..8 + sorted.len()].copy_from_slice(sorted.as_bytes());
        buf[8 + sorted.len()..8 + len].fill(b' ');
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        let mut f = TensorFile::new("test file");
        f.insert2(
            "a",
            &Array2::from_shape_vec((2, 3), (0..6).map(|v| v as f32).collect()).unwrap(),
        );
        f.set("k", 42);
        f.write(&path).unwrap();
        let mut g = TensorFile::read(&path, "test file").unwrap();
        assert_eq!(g.parse::<u32>("k").unwrap(), 42);
        assert_eq!(g.take2("a", Some((2, 3))).unwrap()[[1, 2]], 5.0);
        assert!(g.take2("a", None).is_err());

        assert!(matches!(
            TensorFile::read(&path, "other"),
            Err(TrainError::Corrupt { .. })
        ));
        std::fs::write(&path, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json").unwrap();
        assert!(matches!(
            TensorFile::read(&path, "test file"),
            Err(TrainError::Corrupt { .. })
        ));
        f.write(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1; // inside the data of tensor `a`
        bytes[last] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let err = TensorFile::read(&path, "test file").err().unwrap();
        assert!(err.to_string().contains("CRC-32"), "{err}");
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(
            TensorFile::read(&path, "test file"),
            Err(TrainError::Corrupt { .. })
        ));
    }

    #[test]
    fn equal_contents_give_identical_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str| {
            let mut f = TensorFile::new("test file");
            f.insert2("w", &Array2::from_elem((2, 2), 0.5));
            // Enough entries that two hash orders almost surely differ.
            for k in 0..12 {
                f.set(&format!("key{k}"), k);
            }
            let path = dir.path().join(name);
            f.write(&path).unwrap();
            std::fs::read(path).unwrap()
        };
        let (a, b) = (write("a"), write("b"));
        assert_eq!(a, b);
        let header = String::from_utf8_lossy(&a[8..]);
        let (k2, k10) = (header.find("key2").unwrap(), header.find("key10").unwrap());
        assert!(k10 < k2, "metadata keys are sorted: {header}");
        let mut back = TensorFile::read(&dir.path().join("a"), "test file").unwrap();
        assert_eq!(back.parse::<u32>("key11").unwrap(), 11);
        assert_eq!(back.take2("w", Some((2, 2))).unwrap()[[1, 1]], 0.5);
    }
}
