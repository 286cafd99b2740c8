//! The page's "refit" button: `edge-ssl head` on the labels directory, run on the page's
//! refit thread. The head is fitted with `head`'s own code, written with the atomic write every
//! head save uses (readers see the old file or the new one), and a classifier is loaded from
//! the directory as it now is — so the head the loop switches to is the one on disk, checked
//! against the encoder and adapter like any other load.

use std::path::Path;

use anyhow::{Context, bail};
use edge_ssl::embed::classifier::Classifier;
use edge_ssl::embed::embedder::Embedder;
use edge_ssl::frames::image_set;
use edge_ssl::head::write::write_head;
use edge_ssl::model::reference::ResolvedModel;
use edge_ssl_train::head::HeadKind;

use crate::cli::BackendArgs;

const BATCH: usize = 32;
const MANIFEST: &str = "MANIFEST.sha256";

/// Fits a softmax head on `labels`, saves it into the model directory, and loads the result.
pub fn refit(
    model: &ResolvedModel,
    backend: &BackendArgs,
    labels: &Path,
) -> anyhow::Result<(Classifier, String)> {
    let Some(dir) = &model.dir else {
        bail!("the model is not a directory: there is no head to replace");
    };
    // A bundled directory's manifest lists head.safetensors; replacing it would make the next
    // load refuse the directory.
    if dir.join(MANIFEST).is_file() || dir.parent().is_some_and(|p| p.join(MANIFEST).is_file()) {
        bail!(
            "{} is part of a bundle (it has a {MANIFEST}); copy it out of the bundle to refit its head",
            dir.display()
        );
    }
    let set = image_set::LabeledSet::read(labels)?;
    let backend = backend.backend()?;
    let mut embedder = Embedder::load(backend.as_ref(), model)?;
    let x = image_set::embed_strict(
        &mut embedder,
        &set.paths,
        BATCH,
        "labeled",
        &edge_ssl::progress::Progress::silent(),
    )?;
    drop(embedder);
    let kind = HeadKind::Softmax;
    let (head, _) =
        edge_ssl::head::fit::fit_head(kind, x.view(), &set.labels, &set.class_names, None)?;
    // Under the directory's lock, as `head` writes it.
    let path = write_head(model, dir, &head, kind.name(), None)?;
    let classifier =
        Classifier::load(backend.as_ref(), model).context("loading the refitted head")?;
    Ok((
        classifier,
        format!(
            "fitted a {} head on {} labeled frame(s) of {} classes ({}); wrote {}",
            kind.name(),
            set.paths.len(),
            set.class_names.len(),
            set.class_names.join(", "),
            path.display()
        ),
    ))
}
