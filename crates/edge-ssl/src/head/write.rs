//! A fitted head (and the novelty model fitted beside it) written as a model directory: `out`
//! becomes a copy of the model's encoder, adapter and card unless it already is that directory,
//! then the head goes in tied to those embeddings, all under the directory's lock so two writers
//! never interleave.

use std::path::{Path, PathBuf};

use edge_ssl_train::head::Head;
use edge_ssl_train::novelty::NoveltyModel;

use crate::model::directory as model_dir;
use crate::model::reference::{ResolvedModel, resolve_path};

/// Writes `head` (of kind `kind`, recorded in its metadata) and `novelty` into `out` for the
/// embeddings of `model`; returns the head's path.
pub fn write_head(
    model: &ResolvedModel,
    out: &Path,
    head: &Head,
    kind: &str,
    novelty: Option<&NoveltyModel>,
) -> crate::Result<PathBuf> {
    let _lock = crate::model::dir_lock::lock(out)?;
    write_head_unlocked(model, out, head, kind, novelty)
}

/// [`write_head`] for a caller that already holds `out`'s lock (`adapt --labeled`, whose
/// caller locked the directory it writes).
pub(crate) fn write_head_unlocked(
    model: &ResolvedModel,
    out: &Path,
    head: &Head,
    kind: &str,
    novelty: Option<&NoveltyModel>,
) -> crate::Result<PathBuf> {
    model_dir::materialize(model, out)?;
    let written = resolve_path(out)?;
    let path = model_dir::save_head(head, &written, out, &[("kind", kind.into())])?;
    if let Some(n) = novelty {
        crate::novelty::file::save(n, &written, out)?;
    }
    Ok(path)
}
