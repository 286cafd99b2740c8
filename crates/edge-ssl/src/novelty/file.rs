//! The model directory's `novelty.safetensors`: written with the embedding key of the encoder
//! and adapter it was fitted behind, and loaded only when that key is the directory's.
//!
//! The key is the one a head records ([`embedding_key`](crate::model::directory::embedding_key):
//! the encoder's sha256 and the adapter's, or `none`). A novelty model fitted on other
//! embeddings scores every frame as novel or none of them, so a mismatch is an error, like a
//! mismatched head; a file without the key is refused for the same reason. The tensor file's
//! own checks (CRC, shapes, finite values, bounded size) come first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edge_ssl_train::novelty::{NoveltyInput, NoveltyModel};

use crate::error::bail;
use crate::model::directory::{self as model_dir, NOVELTY};
use crate::model::reference::ResolvedModel;

/// Writes `novelty` into `dir` (atomically) with `key`, the embedding key of the encoder and
/// adapter it scores.
pub fn save_with_key(
    novelty: &NoveltyModel,
    dir: &Path,
    key: &BTreeMap<String, String>,
) -> crate::Result<PathBuf> {
    let path = dir.join(NOVELTY);
    novelty.save_with_metadata(&path, key)?;
    Ok(path)
}

/// Writes `novelty` into `dir`, tied to `model`'s embeddings (whose files `dir` now holds).
pub fn save(novelty: &NoveltyModel, model: &ResolvedModel, dir: &Path) -> crate::Result<PathBuf> {
    save_with_key(novelty, dir, &model_dir::embedding_key(model)?)
}

/// The novelty model of a model directory: `None` when it has none (or `model` is a bare
/// ONNX); an error when the file is corrupt, was fitted on other embeddings, or takes another
/// width than the model gives.
pub fn load(model: &ResolvedModel) -> crate::Result<Option<NoveltyModel>> {
    let Some(dir) = &model.dir else {
        return Ok(None);
    };
    let Some(path) = model_dir::part(dir, NOVELTY)? else {
        return Ok(None);
    };
    // The typed error names the file already.
    let (novelty, meta) = NoveltyModel::load_with_metadata(&path)?;
    for (k, v) in model_dir::embedding_key(model)? {
        match meta.get(&k) {
            Some(m) if *m == v => {}
            Some(_) => bail!(
                Model,
                "mismatched model directory: {} was fitted on other embeddings ({k} differs); fit it again",
                path.display()
            ),
            None => bail!(
                Model,
                "{}: does not record the embeddings it was fitted on (no {k}); fit it again",
                path.display()
            ),
        }
    }
    // A model of feature means is checked against the feature model's width when the
    // encoder is loaded with them (`Classifier::load`).
    if novelty.input() == NoveltyInput::Embedding && novelty.dim() != model.card.output.dim {
        bail!(
            Model,
            "mismatched model directory: {} takes {}-d embeddings, the model gives {}-d",
            path.display(),
            novelty.dim(),
            model.card.output.dim
        );
    }
    Ok(Some(novelty))
}
