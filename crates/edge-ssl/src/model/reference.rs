//! What `--model` names: an ONNX file, a model directory, or `default`. A directory that came in
//! a device bundle is checked against the bundle's `MANIFEST.sha256` before it is read.

use std::path::{Path, PathBuf};

use crate::error::{Context, bail};
use edge_ssl_core::{ModelCard, open_regular, open_regular_in};
use edge_ssl_runtime::card_for;

use crate::bundle::manifest_check::verify_model_dir;

/// The card a model directory carries.
pub const DIR_CARD: &str = "edge-ssl.toml";

/// A model ready to load: its ONNX, its card, and the directory when it came from one.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    pub onnx: PathBuf,
    pub card: ModelCard,
    pub dir: Option<PathBuf>,
}

/// Where the bundled encoder lives: `EDGE_SSL_DEFAULT_MODEL`, next to an installed binary
/// (`../share/edge-ssl/fmnist-ssl/encoder.onnx`, or `models/…` beside it in a device bundle),
/// or the source tree this binary was built from.
pub fn default_model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("EDGE_SSL_DEFAULT_MODEL") {
        return PathBuf::from(p);
    }
    let rel = Path::new("fmnist-ssl/encoder.onnx");
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned))
    {
        for base in [dir.join("../share/edge-ssl"), dir.join("models")] {
            if base.join(rel).is_file() {
                return base.join(rel);
            }
        }
    }
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("models")
        .join(rel)
}

pub fn resolve(spec: &str) -> crate::Result<ResolvedModel> {
    if spec != "default" {
        return resolve_path(Path::new(spec));
    }
    let path = default_model_path();
    if !path.exists() {
        bail!(
            Model,
            "the bundled model is missing at {} (set EDGE_SSL_DEFAULT_MODEL)",
            path.display()
        );
    }
    resolve_path(&path)
}

/// [`resolve`] for a path: a model directory or an ONNX file (whatever the encoding of its
/// name), never the bundled default.
pub fn resolve_path(path: &Path) -> crate::Result<ResolvedModel> {
    let path = path.to_path_buf();
    if path.is_dir() {
        // Before anything of it is read: a bundled directory must still be what was bundled.
        verify_model_dir(&path)?;
        let card_path = path.join(DIR_CARD);
        if !card_path.is_file() {
            bail!(
                Model,
                "{}: not a model directory (no {DIR_CARD}); pass an .onnx file or a directory made by `edge-ssl adapt`/`head`",
                path.display()
            );
        }
        // The card and the encoder it names must be regular files inside the directory: an
        // `onnx = "/dev/zero"` or `"../../etc/shadow"` is an error, not a hang or a leak.
        open_regular_in(&path, Path::new(DIR_CARD))?;
        let card = ModelCard::load(&card_path)?;
        let rel = card.onnx.clone().unwrap_or_else(|| "encoder.onnx".into());
        open_regular_in(&path, Path::new(&rel))?;
        let onnx = path.join(&rel);
        let card = card_for(&onnx, Some(&card_path))
            .with_context(|| format!("model directory {}", path.display()))?;
        return Ok(ResolvedModel {
            onnx,
            card,
            dir: Some(path),
        });
    }
    if !path.exists() {
        bail!(Model, "{}: no such model file or directory", path.display());
    }
    // An ONNX file inside a bundled model directory (or an unpacked bundle) is checked too.
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => verify_model_dir(dir)?,
        None => verify_model_dir(Path::new("."))?,
    }
    // A bare ONNX must be a regular file too: `--model /dev/zero` or a FIFO never ends.
    open_regular(&path)?;
    let card = card_for(&path, None)?;
    Ok(ResolvedModel {
        onnx: path,
        card,
        dir: None,
    })
}
