//! Named `f32` tensors and string metadata in one file, for checkpoints written outside this
//! crate (the library's encoder trainer). It is the crate's own safetensors format, so such
//! files get the same atomic write, `format` tag, CRC-32 and refusal of non-finite values as
//! adapters, heads and the adapter trainer's checkpoints.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::ArrayD;

use crate::Result;
use crate::tensor_file::TensorFile;

/// The contents of one checked tensor file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorStore {
    pub tensors: BTreeMap<String, ArrayD<f32>>,
    pub metadata: BTreeMap<String, String>,
}

impl TensorStore {
    /// Writes atomically, tagged with `kind` (checked again by [`TensorStore::read`]).
    pub fn write(&self, path: &Path, kind: &'static str) -> Result<()> {
        let mut f = TensorFile::new(kind);
        f.tensors = self.tensors.clone();
        f.metadata = self.metadata.clone();
        f.write(path)
    }

    /// Reads a file written with the same `kind`; a damaged, foreign or non-finite file is a
    /// [`crate::TrainError::Corrupt`].
    pub fn read(path: &Path, kind: &'static str) -> Result<TensorStore> {
        let f = TensorFile::read(path, kind)?;
        Ok(TensorStore {
            tensors: f.tensors,
            metadata: f.metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn round_trips_and_checks_its_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.safetensors");
        let mut s = TensorStore::default();
        s.tensors
            .insert("w".into(), ArrayD::from_elem(IxDyn(&[2, 3]), 0.5));
        s.metadata.insert("step".into(), "7".into());
        s.write(&path, "test store").unwrap();
        assert_eq!(TensorStore::read(&path, "test store").unwrap(), s);
        assert!(TensorStore::read(&path, "other").is_err());
    }
}
