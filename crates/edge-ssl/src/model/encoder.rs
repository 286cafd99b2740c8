//! [`Encoder`]: what can embed images — a bare ONNX file with its card, the bundled encoder, or
//! the encoder (and adapter) of a model directory. It has no head: classifying needs a
//! [`ModelDir`](super::ModelDir), so "no head" is a type error, not a run-time surprise.

use std::path::Path;

use edge_ssl_core::ModelCard;
use edge_ssl_runtime::Backend;

use super::reference::{self, ResolvedModel};
use crate::adapt::{AdaptOptions, AdaptReport, adapt};
use crate::embed::embedder::Embedder;
use crate::progress::Progress;

/// An encoder ready to load on a backend.
#[derive(Debug, Clone)]
pub struct Encoder {
    model: ResolvedModel,
}

impl Encoder {
    /// Opens an ONNX file (its card `x.toml` beside `x.onnx` when present, else one inferred
    /// from the graph; see [`Encoder::assumptions`]) or a model directory's encoder. A
    /// directory from a device bundle is checked against the bundle's manifest first.
    pub fn open(path: impl AsRef<Path>) -> crate::Result<Self> {
        let spec = path.as_ref().to_string_lossy().into_owned();
        Ok(Encoder {
            model: reference::resolve(&spec)?,
        })
    }

    /// The bundled Fashion-MNIST encoder (or the one `EDGE_SSL_DEFAULT_MODEL` names).
    pub fn bundled() -> crate::Result<Self> {
        Ok(Encoder {
            model: reference::resolve("default")?,
        })
    }

    /// The model card: input size, layout, normalization, output.
    pub fn card(&self) -> &ModelCard {
        &self.model.card
    }

    /// The ONNX file.
    pub fn onnx(&self) -> &Path {
        &self.model.onnx
    }

    /// What had to be assumed about a card-less ONNX (show these to the user).
    pub fn assumptions(&self) -> &[String] {
        &self.model.card.assumptions
    }

    /// The resolved parts, for the lower-level functions that take them.
    pub fn resolved(&self) -> &ResolvedModel {
        &self.model
    }

    /// Compiles the encoder (and a model directory's adapter) on `backend`.
    pub fn load(&self, backend: &dyn Backend) -> crate::Result<Embedder> {
        Embedder::load(backend, &self.model)
    }

    /// Adapts this encoder to the frames of `data` (an image folder, a video file or a camera)
    /// without labels and writes the adapted model directory `out` (no head yet).
    pub fn adapt(
        &self,
        backend: &dyn Backend,
        data: &Path,
        out: &Path,
        options: &AdaptOptions,
        progress: &Progress,
    ) -> crate::Result<AdaptReport> {
        adapt(backend, &self.model, data, out, options, progress)
    }
}

impl From<ResolvedModel> for Encoder {
    fn from(model: ResolvedModel) -> Self {
        Encoder { model }
    }
}
