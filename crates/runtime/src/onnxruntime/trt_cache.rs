//! Where TensorRT engines are cached, keyed by what they were built for.
//!
//! Building a TensorRT engine takes minutes on a Jetson, so `--trt-cache DIR` keeps built engines
//! between runs. ONNX Runtime's TensorRT execution provider reuses whatever it finds in its
//! cache directory, so one flat directory shared by several models, input sizes or precisions
//! would mix engines that do not belong together. Each combination therefore gets its own
//! subdirectory:
//!
//! ```text
//! DIR/<sha256 of the ONNX file>-<input shape>-<fp16|fp32>/key.json
//! ```
//!
//! The input shape is the model's first input with every dimension the ONNX leaves free written
//! `N` (a dynamic batch gives `Nx1x28x28`; an export fixed to one image gives `1x1x28x28`).
//! `key.json` says the same in words, for people cleaning up a cache. The subdirectory is
//! created atomically — prepared under a temporary name, then renamed — so two processes
//! starting at once both end up in the same complete directory.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use edge_ssl_core::{ModelCard, sha256_file};

use crate::{Result, RuntimeError, TensorInfo};

/// What a cached engine was built for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EngineCacheKey {
    /// Hex sha256 of the ONNX file's bytes.
    pub(crate) model_sha256: String,
    /// The first input's shape; `None` is a dimension the model leaves free.
    pub(crate) input_shape: Vec<Option<usize>>,
    pub(crate) fp16: bool,
}

impl EngineCacheKey {
    /// Hashes `onnx` and pairs it with the shape and precision.
    pub(crate) fn for_model(
        onnx: &Path,
        input_shape: Vec<Option<usize>>,
        fp16: bool,
    ) -> Result<Self> {
        Ok(EngineCacheKey {
            model_sha256: sha256_file(onnx)?,
            input_shape,
            fp16,
        })
    }

    /// `1x1x28x28`, with `N` for free dimensions.
    pub(crate) fn shape_text(&self) -> String {
        let dims: Vec<String> = self
            .input_shape
            .iter()
            .map(|d| d.map_or_else(|| "N".to_owned(), |d| d.to_string()))
            .collect();
        dims.join("x")
    }

    pub(crate) fn precision(&self) -> &'static str {
        if self.fp16 { "fp16" } else { "fp32" }
    }

    /// The subdirectory name: `<sha256>-<shape>-<precision>`.
    pub(crate) fn dir_name(&self) -> String {
        format!(
            "{}-{}-{}",
            self.model_sha256,
            self.shape_text(),
            self.precision()
        )
    }

    fn json(&self, onnx: &Path) -> String {
        let dims: Vec<String> = self
            .input_shape
            .iter()
            .map(|d| d.map_or_else(|| "null".to_owned(), |d| d.to_string()))
            .collect();
        format!(
            "{{\n  \"model_sha256\": \"{}\",\n  \"input_shape\": [{}],\n  \"precision\": \"{}\",\n  \"model\": {},\n  \"written_by\": \"edge-ssl-runtime {}\"\n}}\n",
            self.model_sha256,
            dims.join(", "),
            self.precision(),
            json_string(&onnx.display().to_string()),
            env!("CARGO_PKG_VERSION"),
        )
    }
}

/// The input shape a model's engines are keyed by: the first declared input, with dimensions the
/// ONNX leaves free after the batch taken from the card (the preprocessor always feeds the card's
/// size); a free batch stays free.
pub(crate) fn key_shape(declared: Option<&TensorInfo>, card: &ModelCard) -> Vec<Option<usize>> {
    let from_card = card.input.batch_shape(1);
    match declared {
        Some(input) => input
            .shape
            .iter()
            .enumerate()
            .map(|(axis, d)| d.or_else(|| (axis > 0).then(|| from_card.get(axis).copied())?))
            .collect(),
        None => std::iter::once(None)
            .chain(from_card[1..].iter().copied().map(Some))
            .collect(),
    }
}

/// Returns `root/<key>/`, creating `root` and the keyed directory (with its `key.json`) if they
/// do not exist yet.
pub(crate) fn engine_cache_dir(root: &Path, key: &EngineCacheKey, onnx: &Path) -> Result<PathBuf> {
    let io = |path: &Path, e: std::io::Error| {
        RuntimeError::Input(format!(
            "cannot prepare the TensorRT engine cache {}: {e}",
            path.display()
        ))
    };
    fs::create_dir_all(root).map_err(|e| io(root, e))?;
    let dir = root.join(key.dir_name());
    if dir.join("key.json").is_file() {
        return Ok(dir);
    }
    if dir.is_dir() {
        // Made by hand or by an older version: keep its engines, describe it.
        edge_ssl_core::write_atomic(&dir.join("key.json"), |w| {
            w.write_all(key.json(onnx).as_bytes())
        })?;
        return Ok(dir);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = root.join(format!(
        ".{}.tmp-{}-{nanos}",
        key.dir_name(),
        std::process::id()
    ));
    let prepared = (|| {
        fs::create_dir(&tmp)?;
        let mut file = fs::File::create(tmp.join("key.json"))?;
        file.write_all(key.json(onnx).as_bytes())?;
        file.sync_all()
    })();
    if let Err(e) = prepared {
        let _ = fs::remove_dir_all(&tmp);
        return Err(io(&tmp, e));
    }
    match fs::rename(&tmp, &dir) {
        Ok(()) => {
            if let Ok(d) = fs::File::open(root) {
                let _ = d.sync_all();
            }
            Ok(dir)
        }
        // Another process renamed its own copy first; theirs is just as good.
        Err(_) if dir.join("key.json").is_file() => {
            let _ = fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(io(&dir, e))
        }
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_ssl_core::{InputSpec, Layout, OutputSpec, ResizeMode};

    fn model(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, bytes).unwrap();
        p
    }

    fn key(onnx: &Path, shape: &[Option<usize>], fp16: bool) -> EngineCacheKey {
        EngineCacheKey::for_model(onnx, shape.to_vec(), fp16).unwrap()
    }

    const MNIST: [Option<usize>; 4] = [Some(1), Some(1), Some(28), Some(28)];

    #[test]
    fn same_model_shape_and_precision_give_the_same_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let a = model(tmp.path(), "a.onnx", b"model bytes");
        // A copy elsewhere is the same model: the key is the content, not the path.
        let copy = model(tmp.path(), "copy.onnx", b"model bytes");
        let root = tmp.path().join("cache");
        let first = engine_cache_dir(&root, &key(&a, &MNIST, true), &a).unwrap();
        fs::write(first.join("engine.bin"), b"built").unwrap();
        let again = engine_cache_dir(&root, &key(&copy, &MNIST, true), &copy).unwrap();
        assert_eq!(first, again);
        assert_eq!(fs::read(again.join("engine.bin")).unwrap(), b"built");
        let name = first.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.ends_with("-1x1x28x28-fp16"), "{name}");
        assert_eq!(name.len(), 64 + "-1x1x28x28-fp16".len());
    }

    #[test]
    fn shape_precision_or_model_change_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let a = model(tmp.path(), "a.onnx", b"model bytes");
        let b = model(tmp.path(), "b.onnx", b"other model");
        let root = tmp.path().join("cache");
        let base = engine_cache_dir(&root, &key(&a, &MNIST, false), &a).unwrap();
        let others = [
            key(&a, &[Some(1), Some(1), Some(32), Some(32)], false),
            key(&a, &[None, Some(1), Some(28), Some(28)], false),
            key(&a, &MNIST, true),
            key(&b, &MNIST, false),
        ];
        let mut dirs = vec![base];
        for k in &others {
            dirs.push(engine_cache_dir(&root, k, &a).unwrap());
        }
        let unique: std::collections::HashSet<_> = dirs.iter().collect();
        assert_eq!(unique.len(), dirs.len(), "{dirs:?}");
        assert!(dirs[2].to_str().unwrap().contains("-Nx1x28x28-fp32"));
        assert!(dirs[1].to_str().unwrap().contains("-1x1x32x32-fp32"));
    }

    #[test]
    fn directory_holds_a_key_json_and_no_temporaries() {
        let tmp = tempfile::tempdir().unwrap();
        let a = model(tmp.path(), "a \"quoted\".onnx", b"model bytes");
        let root = tmp.path().join("nested/cache");
        let k = key(&a, &[None, Some(1), Some(28), Some(28)], true);
        let dir = engine_cache_dir(&root, &k, &a).unwrap();
        let json = fs::read_to_string(dir.join("key.json")).unwrap();
        assert!(json.contains(&format!("\"model_sha256\": \"{}\"", k.model_sha256)));
        assert!(
            json.contains("\"input_shape\": [null, 1, 28, 28]"),
            "{json}"
        );
        assert!(json.contains("\"precision\": \"fp16\""));
        assert!(json.contains("a \\\"quoted\\\".onnx"), "{json}");
        let entries: Vec<_> = fs::read_dir(&root).unwrap().flatten().collect();
        assert_eq!(entries.len(), 1, "only the keyed directory: {entries:?}");
    }

    #[test]
    fn concurrent_creation_ends_in_one_complete_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let a = model(tmp.path(), "a.onnx", b"model bytes");
        let root = tmp.path().join("cache");
        let k = key(&a, &MNIST, false);
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| engine_cache_dir(&root, &k, &a).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(dirs.iter().all(|d| d == &dirs[0]));
        assert!(dirs[0].join("key.json").is_file());
        assert_eq!(fs::read_dir(&root).unwrap().count(), 1);
    }

    #[test]
    fn a_directory_made_by_hand_is_kept_and_described() {
        let tmp = tempfile::tempdir().unwrap();
        let a = model(tmp.path(), "a.onnx", b"model bytes");
        let root = tmp.path().join("cache");
        let k = key(&a, &MNIST, false);
        fs::create_dir_all(root.join(k.dir_name())).unwrap();
        fs::write(root.join(k.dir_name()).join("old.engine"), b"x").unwrap();
        let dir = engine_cache_dir(&root, &k, &a).unwrap();
        assert!(dir.join("old.engine").is_file() && dir.join("key.json").is_file());
    }

    #[test]
    fn missing_model_or_unwritable_root_is_an_error_naming_the_path() {
        let err =
            EngineCacheKey::for_model(Path::new("/nonexistent/m.onnx"), vec![], false).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/m.onnx"), "{err}");
        let tmp = tempfile::tempdir().unwrap();
        let a = model(tmp.path(), "a.onnx", b"m");
        let file_as_root = model(tmp.path(), "not-a-dir", b"");
        let err = engine_cache_dir(&file_as_root, &key(&a, &MNIST, false), &a).unwrap_err();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }

    #[test]
    fn key_shape_keeps_a_free_batch_and_fills_free_sizes_from_the_card() {
        let input = InputSpec {
            name: "x".into(),
            layout: Layout::Nchw,
            height: 28,
            width: 28,
            channels: 1,
            mean: vec![0.5],
            std: vec![0.5],
            resize: ResizeMode::Stretch,
        };
        let output = OutputSpec {
            name: "e".into(),
            dim: 8,
        };
        let card = ModelCard::assumed(input, output, vec![]);
        let declared = TensorInfo {
            name: "x".into(),
            shape: vec![None, Some(1), None, None],
            element: "float32",
        };
        assert_eq!(
            key_shape(Some(&declared), &card),
            vec![None, Some(1), Some(28), Some(28)]
        );
        let fixed = TensorInfo {
            name: "x".into(),
            shape: MNIST.to_vec(),
            element: "float32",
        };
        assert_eq!(key_shape(Some(&fixed), &card), MNIST.to_vec());
        assert_eq!(
            key_shape(None, &card),
            vec![None, Some(1), Some(28), Some(28)]
        );
    }
}
