//! Novelty: a model directory's answer to "is this frame unlike anything I was fitted on?".
//!
//! A head always names one of its classes — a head fitted on garments calls every frame of a
//! street video an ankle boot, with confidence 0.4–0.7 and no warning. The novelty model is
//! what lets a device say "I don't know this": a small autoencoder (or VAE) fitted, without
//! labels, on the same adapted embeddings as the head, scoring a new frame by how badly it
//! reconstructs that frame's embedding (or a k-NN distance, the training-free baseline). The
//! math lives in [`edge_ssl_train::novelty`]; this module wires it into the product:
//!
//! - [`fit`](mod@fit): `head` and `adapt` fit one on the embeddings they already computed
//!   (too few rows is a [`NoveltyOutcome::Skipped`], not an error: a 16-image head still works),
//!   with the threshold calibrated on held-out rows at a quantile (0.99 by default). A head
//!   written over an adapted directory keeps the model `adapt` fitted on all its frames
//!   ([`NoveltyPlan`]) unless asked to fit a new one.
//! - [`mod@file`]: the model directory's `novelty.safetensors`, tied like the head to the encoder
//!   and adapter whose embeddings it scores (their sha256 in the file's metadata), so a novelty
//!   model left over from another encoder or adapter is refused, not silently wrong. A
//!   directory without one still classifies; its decisions carry no novelty.
//! - [`ood`]: how well the score separates in-domain frames from out-of-domain ones (AUROC)
//!   and how many in-domain frames the calibrated threshold flags — what `eval
//!   --novelty-ood` prints.
//!
//! Scoring happens in [`Classifier`](crate::Classifier): every [`Decision`](crate::Decision)
//! of a directory with a novelty model has `novelty` (the score) and `novel` (above the
//! threshold).

pub mod file;
pub mod fit;
pub mod ood;
pub mod plan;

pub use edge_ssl_train::novelty::{
    Calibration, NoveltyConfig, NoveltyInput, NoveltyKind, NoveltyModel,
};
pub use fit::{MIN_ROWS, NoveltyOutcome, NoveltyReport, fit, fit_parts};
pub use plan::NoveltyPlan;

/// Whether the encoder `onnx` has convolutional activations to take feature means of (what a
/// novelty model of [`NoveltyInput::Features`] scores; a ViT has none).
pub fn has_feature_means(onnx: &std::path::Path) -> crate::Result<bool> {
    let mut g = edge_ssl_runtime::onnx::GraphBuilder::open(onnx)?;
    Ok(g.append_feature_means().is_some())
}

/// `config` set to score the feature means of the encoder `onnx` when it has any, its
/// embedding otherwise: `adapt`'s default (tree.avi AUROC 0.99 against 0.75 on the bundled
/// encoder's embedding).
pub fn prefer_feature_means(
    config: NoveltyConfig,
    onnx: &std::path::Path,
) -> crate::Result<NoveltyConfig> {
    let input = match has_feature_means(onnx)? {
        true => NoveltyInput::Features,
        false => NoveltyInput::Embedding,
    };
    Ok(config.with_input(input))
}
