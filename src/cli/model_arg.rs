//! What the CLI says around loading a model that the library only reports: the card's
//! assumptions (an ONNX without a card) and an execution-provider fallback.

use edge_ssl::embed::embedder::Embedder;
use edge_ssl::model::reference::{self, ResolvedModel};
use edge_ssl_runtime::Backend;

/// Resolves a MODEL argument, printing what had to be assumed about a card-less ONNX.
pub fn resolve(spec: &str) -> anyhow::Result<ResolvedModel> {
    let model = reference::resolve(spec)?;
    for note in &model.card.assumptions {
        eprintln!("assumed: {note}");
    }
    Ok(model)
}

/// Loads the encoder (and adapter) of `model`, with the feature means `novelty` scores when it
/// scores them ([`Embedder::load_fitting`]), printing a provider fallback.
pub fn embedder(
    backend: &dyn Backend,
    model: &ResolvedModel,
    novelty: Option<&edge_ssl::novelty::NoveltyConfig>,
) -> anyhow::Result<Embedder> {
    let embedder = Embedder::load_fitting(backend, model, novelty)?;
    if let Some(note) = embedder.fallback_note() {
        eprintln!("{note}");
    }
    Ok(embedder)
}

/// Every file of `model` a command reads: the encoder, and in a model directory its card,
/// adapter, head, novelty model and metrics. An output that is one of these is refused
/// ([`edge_ssl_core::ensure_not_input`]): `export --out MODEL/head.safetensors` would replace
/// the head it exports.
pub fn model_files(model: &ResolvedModel) -> Vec<std::path::PathBuf> {
    use edge_ssl::model::directory::{ADAPTER, HEAD, METRICS, NOVELTY};
    let mut files = vec![model.onnx.clone()];
    if let Some(dir) = &model.dir {
        for name in [reference::DIR_CARD, ADAPTER, HEAD, NOVELTY, METRICS] {
            files.push(dir.join(name));
        }
    }
    files
}
