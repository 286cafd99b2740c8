//! The model directory a federation starts from: a device's model with a fresh adapter
//! (`W2 = 0`, so exactly the encoder) when it has none. The ServerApp in `fleet/` reads its
//! initial arrays from such a directory (`initial-model`).

use std::path::{Path, PathBuf};

use edge_ssl_train::Rng;
use edge_ssl_train::nn::Adapter;
use edge_ssl_train::trainer::TrainConfig;

use super::error::Result;
use super::global::{self, Provenance};
use crate::model::directory as model_dir;
use crate::model::reference::ResolvedModel;

/// Writes `model` into `out` with its own adapter and head, or a fresh adapter of
/// `hidden` units (seeded by `seed`) when it has none. Returns `out`.
pub fn write(
    model: &ResolvedModel,
    out: &Path,
    hidden: Option<usize>,
    seed: u64,
) -> Result<PathBuf> {
    let adapter = match model_dir::load_adapter(model)? {
        Some(a) => a,
        None => {
            let hidden = hidden.unwrap_or(TrainConfig::default().adapter_hidden);
            if hidden == 0 {
                return Err(super::FleetTaskError::Config {
                    key: "hidden".into(),
                    reason: "the adapter needs at least one hidden unit".into(),
                });
            }
            Adapter::new(model.card.output.dim, hidden, &mut Rng::new(seed))
        }
    };
    let head = match &model.dir {
        Some(dir) if dir.join(model_dir::HEAD).is_file() => Some(model_dir::load_head(model)?),
        _ => None,
    };
    let bare = ResolvedModel {
        onnx: model.onnx.clone(),
        card: model.card.clone(),
        dir: None,
    };
    global::write(
        out,
        &bare,
        &adapter,
        head.as_ref(),
        None,
        &Provenance {
            message: "initial".into(),
            server_round: None,
        },
    )
}
