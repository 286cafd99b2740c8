//! The federation's current model as a model directory on the device: the device's encoder,
//! the global adapter and head, and the device's own novelty model fitted behind them.
//! Replaced atomically with [`commit`](crate::model::commit::commit) (parts staged, card moved
//! in last), so a reader — `run` on the same device, a copy to another — sees the previous
//! round's model or this one.

use std::path::{Path, PathBuf};

use edge_ssl_train::head::Head;
use edge_ssl_train::nn::Adapter;
use edge_ssl_train::novelty::NoveltyModel;

use super::error::Result;
use crate::error::Context;
use crate::model::commit;
use crate::model::directory::{self as model_dir, ADAPTER, ENCODER, HEAD, METRICS, NOVELTY};
use crate::model::reference::ResolvedModel;

/// Where a global model came from, for its card's `[provenance]`.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// `train` or `evaluate`: the message that carried the arrays.
    pub message: String,
    /// FedAvg's `server-round` of that message, when it had one.
    pub server_round: Option<i64>,
}

/// Writes `encoder` (the device's model) with `adapter`, `head` and `novelty` (fitted on
/// embeddings behind this `adapter`) as the model directory `out`.
pub fn write(
    out: &Path,
    encoder: &ResolvedModel,
    adapter: &Adapter,
    head: Option<&Head>,
    novelty: Option<&NoveltyModel>,
    provenance: &Provenance,
) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let stage = commit::stage_dir(out)?;
    model_dir::copy_encoder_atomic(&encoder.onnx, &stage.join(ENCODER))?;
    let encoder_sha = model_dir::encoder_sha(encoder)?;
    let round = provenance
        .server_round
        .map_or_else(|| "none".to_owned(), |r| r.to_string());
    let meta = model_dir::adapter_metadata(
        &encoder_sha,
        &[("method", "fleet".into()), ("fleet_round", round.clone())],
    );
    adapter
        .save_with_metadata(&stage.join(ADAPTER), &meta)
        .map_err(crate::Error::from)?;
    let mut card = encoder.card.clone();
    card.onnx = Some(ENCODER.into());
    let staged = ResolvedModel {
        onnx: stage.join(ENCODER),
        card: card.clone(),
        dir: Some(stage.clone()),
    };
    if let Some(h) = head {
        model_dir::save_head(h, &staged, &stage, &[("fleet_round", round.clone())])?;
    }
    if let Some(n) = novelty {
        crate::novelty::file::save(n, &staged, &stage)?;
    }
    let mut table = toml::Table::new();
    table.insert(
        "source_model".into(),
        encoder.onnx.display().to_string().into(),
    );
    table.insert("method".into(), "fleet".into());
    table.insert("fleet_message".into(), provenance.message.clone().into());
    if let Some(r) = provenance.server_round {
        table.insert("fleet_server_round".into(), r.into());
    }
    model_dir::write_card(&stage, card, table)?;
    // A novelty model fitted behind the previous adapter would be refused: without a new one
    // it goes with it.
    commit::commit(&stage, out, &[ENCODER, ADAPTER, HEAD, NOVELTY, METRICS])?;
    std::fs::remove_dir_all(&stage).with_context(|| format!("removing {}", stage.display()))?;
    Ok(out.to_owned())
}
