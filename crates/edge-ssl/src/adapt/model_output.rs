//! The last phase: turning the work directory's results into a model directory. Every part and
//! the card are staged in the work directory, then moved in by [`dir_commit`](crate::model::commit),
//! card last, so a directory with `edge-ssl.toml` is always one whole model (the previous one or
//! the new one), whatever kill or full disk interrupts it.

use std::path::Path;

use edge_ssl_core::{ModelCard, write_atomic};
use edge_ssl_train::nn::Adapter;
use edge_ssl_train::novelty::NoveltyModel;

use super::AdaptOptions;
use crate::model::commit as dir_commit;
use crate::model::directory::{self as model_dir, ADAPTER, ENCODER, LOSS_PNG, METRICS, NOVELTY};
use crate::model::reference::ResolvedModel;
use crate::plot;

/// What training produced, for the model directory.
pub struct Trained<'a> {
    pub adapter: Option<&'a Adapter>,
    pub losses: &'a [f32],
    pub novelty: Option<&'a NoveltyModel>,
}

/// Stages the adapter, its loss plot, metrics.json and the card in `work` (where the BN-patched
/// encoder already is), then commits them all into `out`, card last.
pub fn write(
    out: &Path,
    work: &Path,
    source: &ResolvedModel,
    card: ModelCard,
    trained: Trained,
    metrics: &serde_json::Value,
    opts: &AdaptOptions,
) -> crate::Result<()> {
    let encoder_sha = edge_ssl_core::sha256_file(&work.join(ENCODER))?;
    let adapter_path = work.join(ADAPTER);
    if let Some(a) = trained.adapter {
        let meta = model_dir::adapter_metadata(
            &encoder_sha,
            &[
                ("method", opts.method.name().into()),
                ("seed", opts.seed.to_string()),
                ("epochs", opts.epochs.to_string()),
                ("views", opts.views.to_string()),
            ],
        );
        a.save_with_metadata(&adapter_path, &meta)?;
        plot::loss_curve(
            trained.losses,
            &format!("{} adapter loss", opts.method),
            &work.join(LOSS_PNG),
        )?;
    } else {
        // A stale one from an interrupted run with other flags must not be committed.
        for stale in [&adapter_path, &work.join(LOSS_PNG)] {
            if stale.is_file() {
                std::fs::remove_file(stale)?;
            }
        }
    }
    // Tied to the staged encoder and adapter, exactly as the card will name them.
    let novelty_path = work.join(NOVELTY);
    match trained.novelty {
        Some(n) => {
            let adapter = trained.adapter.map(|_| adapter_path.as_path());
            let key = model_dir::embedding_key_of(&encoder_sha, adapter)?;
            crate::novelty::file::save_with_key(n, work, &key)?;
        }
        None if novelty_path.is_file() => std::fs::remove_file(&novelty_path)?,
        None => {}
    }
    write_atomic(&work.join(METRICS), |w| {
        w.write_all(serde_json::to_string_pretty(metrics)?.as_bytes())
    })?;
    model_dir::write_card(work, card, provenance(source, opts)?)?;
    dir_commit::commit(work, out, &[ENCODER, ADAPTER, NOVELTY, LOSS_PNG, METRICS])?;
    Ok(())
}

fn provenance(model: &ResolvedModel, opts: &AdaptOptions) -> crate::Result<toml::Table> {
    let mut t = toml::Table::new();
    t.insert(
        "source_model".into(),
        model.onnx.display().to_string().into(),
    );
    t.insert(
        "source_sha256".into(),
        model_dir::encoder_sha(model)?.into(),
    );
    let method = if opts.adapter {
        opts.method.name()
    } else {
        "none"
    };
    t.insert("method".into(), method.into());
    t.insert("bn_adapt".into(), opts.bn_adapt.into());
    t.insert("train".into(), opts.train.to_string().into());
    t.insert("seed".into(), (opts.seed as i64).into());
    t.insert("epochs".into(), (opts.epochs as i64).into());
    t.insert("views".into(), (opts.views as i64).into());
    let command: Vec<String> = std::env::args().collect();
    t.insert("command".into(), command.join(" ").into());
    Ok(t)
}
