//! [`ModelDir`]: a model that can classify — a directory with encoder, optional adapter and a
//! head fitted on this encoder's embeddings, all checked when it is opened; or the one ONNX file
//! `export` writes, which carries its head and class names.

use std::path::Path;

use edge_ssl_core::ModelCard;
use edge_ssl_runtime::Backend;
use edge_ssl_train::head::Head;
use edge_ssl_train::novelty::NoveltyModel;

use super::Encoder;
use super::reference::{self, ResolvedModel};
use crate::embed::classifier::{Classifier, Scorer};

/// A model directory with a head.
#[derive(Debug, Clone)]
pub struct ModelDir {
    model: ResolvedModel,
    scorer: Scorer,
    novelty: Option<NoveltyModel>,
}

impl ModelDir {
    /// Opens `path`: its card, the sha256 ties between its parts, the CRCs of its tensors and,
    /// for a directory from a device bundle, the bundle's manifest. A bare ONNX file or a
    /// directory without `head.safetensors` is [`Error::NoHead`](crate::Error::NoHead); an
    /// ONNX written by `export` opens with the head inside it. A `novelty.safetensors` is
    /// loaded and checked too (a directory without one has no novelty).
    pub fn open(path: impl AsRef<Path>) -> crate::Result<Self> {
        let path = path.as_ref();
        let model = reference::resolve(&path.to_string_lossy())?;
        let scorer = Scorer::of(&model)?;
        let novelty = crate::novelty::file::load(&model)?;
        Ok(ModelDir {
            model,
            scorer,
            novelty,
        })
    }

    /// The novelty model, when the directory has one.
    pub fn novelty(&self) -> Option<&NoveltyModel> {
        self.novelty.as_ref()
    }

    /// The directory, or the exported ONNX file.
    pub fn path(&self) -> &Path {
        self.model.dir.as_deref().unwrap_or(&self.model.onnx)
    }

    /// The classes the head tells apart, in its order.
    pub fn class_names(&self) -> &[String] {
        self.scorer.class_names()
    }

    /// The head of a model directory (`None` for an exported ONNX, whose head is in its graph).
    pub fn head(&self) -> Option<&Head> {
        match &self.scorer {
            Scorer::Head(h) => Some(h),
            Scorer::Exported(_) => None,
        }
    }

    /// The model card.
    pub fn card(&self) -> &ModelCard {
        &self.model.card
    }

    /// The encoder part (with the adapter), e.g. to embed or to adapt again.
    pub fn encoder(&self) -> Encoder {
        Encoder::from(self.model.clone())
    }

    /// The resolved parts, for the lower-level functions that take them.
    pub fn resolved(&self) -> &ResolvedModel {
        &self.model
    }

    /// Compiles encoder, adapter, head (and novelty model) on `backend`.
    pub fn load(&self, backend: &dyn Backend) -> crate::Result<Classifier> {
        Ok(
            Classifier::from_parts(backend, &self.model, self.scorer.clone())?
                .with_novelty(self.novelty.clone()),
        )
    }
}
