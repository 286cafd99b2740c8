//! How well a novelty score tells out-of-domain frames from in-domain ones: the AUROC of the
//! score (1: every out-of-domain frame scores above every in-domain one, 0.5: chance) and the
//! fraction of each set the calibrated threshold flags. The in-domain flagged fraction is the
//! false-alarm rate a device will show; at the 0.99 quantile it should be near 1 %.

use std::path::{Path, PathBuf};

use edge_ssl_runtime::Backend;
use edge_ssl_source::SourceOptions;
use edge_ssl_train::novelty::{NoveltyKind, NoveltyModel, auroc};
use ndarray::{Array2, ArrayView2};
use serde::Serialize;

use crate::embed::embedder::Embedder;
use crate::error::bail;
use crate::export::NOVELTY_KIND_KEY;
use crate::frames::image_set;
use crate::model::exported::exported_head_of;
use crate::model::reference::ResolvedModel;
use crate::progress::Progress;

/// Scores of two sets of embeddings under one novelty model.
#[derive(Clone, Debug, Serialize)]
pub struct OodReport {
    pub kind: edge_ssl_train::novelty::NoveltyKind,
    pub threshold: f32,
    pub in_domain: usize,
    pub out_of_domain: usize,
    /// Probability that a random out-of-domain frame scores above a random in-domain one.
    pub auroc: f32,
    /// Fraction of in-domain frames above the threshold (false alarms).
    pub in_domain_flagged: f64,
    /// Fraction of out-of-domain frames above the threshold (detections).
    pub out_of_domain_flagged: f64,
}

impl OodReport {
    /// One line for a terminal.
    pub fn line(&self) -> String {
        format!(
            "novelty ({}): AUROC {:.4} ({} in-domain vs {} out-of-domain frames); flagged {:.2} % in-domain, {:.2} % out-of-domain at threshold {:.4}",
            self.kind,
            self.auroc,
            self.in_domain,
            self.out_of_domain,
            100.0 * self.in_domain_flagged,
            100.0 * self.out_of_domain_flagged,
            self.threshold
        )
    }
}

/// Scores `in_domain` and `out_of_domain` embeddings with `model` and compares them.
pub fn measure(
    model: &NoveltyModel,
    in_domain: ArrayView2<f32>,
    out_of_domain: ArrayView2<f32>,
) -> crate::Result<OodReport> {
    let a = model.score(in_domain)?.to_vec();
    let b = model.score(out_of_domain)?.to_vec();
    compare((model.kind(), model.threshold()), &a, &b)
}

/// The report on scores already computed by a novelty score of `kind` calibrated at `threshold`.
fn compare(
    (kind, threshold): (NoveltyKind, f32),
    a: &[f32],
    b: &[f32],
) -> crate::Result<OodReport> {
    let flagged =
        |s: &[f32]| s.iter().filter(|&&v| v > threshold).count() as f64 / s.len().max(1) as f64;
    Ok(OodReport {
        kind,
        threshold,
        in_domain: a.len(),
        out_of_domain: b.len(),
        auroc: auroc(a, b)?,
        in_domain_flagged: flagged(a),
        out_of_domain_flagged: flagged(b),
    })
}

/// [`measure`] with `model`'s novelty model on images: the in-domain `paths` (each must
/// decode) against every frame of `out_of_domain` (a folder, a video or a camera, sampled by
/// `options`), each turned into the rows the novelty model scores — `model`'s adapted
/// embeddings, or its encoder's feature means. A model without a novelty model is an error
/// before anything is embedded.
pub fn measure_images(
    backend: &dyn Backend,
    model: &ResolvedModel,
    paths: &[PathBuf],
    out_of_domain: &Path,
    options: &SourceOptions,
    batch: usize,
    progress: &Progress,
) -> crate::Result<OodReport> {
    let (mut embedder, scorer) = match exported_head_of(model)? {
        Some(exported) => {
            let Some((index, threshold)) = exported.novelty else {
                bail!(
                    Model,
                    "{}: has no novelty output (export a model directory that has a novelty model)",
                    model.onnx.display()
                );
            };
            let Some(kind) = exported.novelty_kind else {
                bail!(
                    Model,
                    "{}: its novelty output has no valid {NOVELTY_KIND_KEY} metadata",
                    model.onnx.display()
                );
            };
            let embedder = Embedder::load_output(backend, model, index)?;
            (embedder, Scorer::Output(kind, threshold))
        }
        None => {
            let Some(novelty) = super::file::load(model)? else {
                bail!(
                    Model,
                    "{}: has no novelty model (fit one with edge-ssl head, cluster or adapt)",
                    model.onnx.display()
                );
            };
            (
                Embedder::load_for_novelty(backend, model, novelty.input())?,
                Scorer::Model(novelty),
            )
        }
    };
    let inside = image_set::embed_strict(&mut embedder, paths, batch, "novelty rows", progress)?;
    let (outside, _) =
        image_set::embed_source(&mut embedder, out_of_domain, options, batch, progress)?;
    match scorer {
        Scorer::Model(novelty) => measure(&novelty, inside.view(), outside.view()),
        Scorer::Output(kind, threshold) => compare(
            (kind, threshold),
            &score_column(inside)?,
            &score_column(outside)?,
        ),
    }
}

/// What turns the embedded rows into scores.
enum Scorer {
    /// The directory's novelty model, on embeddings or feature means.
    Model(NoveltyModel),
    /// Nothing: the rows are a file from `export`'s `novelty` output, a score of this kind
    /// calibrated at this threshold.
    Output(NoveltyKind, f32),
}

/// The scores of an exported file's `novelty` output: one column, one score per image.
fn score_column(rows: Array2<f32>) -> crate::Result<Vec<f32>> {
    if rows.ncols() != 1 {
        bail!(
            Model,
            "the novelty output has {} values per image, not 1",
            rows.ncols()
        );
    }
    Ok(rows.into_iter().collect())
}
