//! The training phase: epochs over the cached view embeddings (MLP math only), with atomic
//! checkpoints in the work directory and a progress bar.

use std::ops::ControlFlow;
use std::path::Path;

use anyhow::{Context, bail};
use edge_ssl_train::trainer::{AdapterTrainer, TrainConfig, Views};

use super::AdaptOptions;
use crate::progress;

/// Trains (or, when resuming, continues) the adapter on `views`.
pub fn train(
    views: &Views,
    opts: &AdaptOptions,
    work: &Path,
    resuming: bool,
) -> anyhow::Result<AdapterTrainer> {
    let config = TrainConfig::default()
        .with_method(opts.method)
        .with_epochs(opts.epochs)
        .with_batch(opts.batch)
        .with_seed(opts.seed);
    let ckpt = work.join("checkpoint.safetensors");
    let mut trainer = (if resuming && ckpt.is_file() {
        let t = AdapterTrainer::load_checkpoint(&ckpt).context("reading the checkpoint")?;
        if *t.config() != config {
            bail!(
                "--resume: {} was written with other training settings",
                ckpt.display()
            );
        }
        t
    } else {
        AdapterTrainer::new(config, views)?
    })
    .with_checkpoint(&ckpt, opts.checkpoint_every);
    let bar = progress::bar(trainer.total_steps(), "adapting");
    bar.set_position(trainer.steps_done());
    trainer.fit(views, |s| {
        bar.set_position(s.step);
        bar.set_prefix(format!("epoch {} loss {:.4}", s.epoch + 1, s.loss));
        ControlFlow::Continue(())
    })?;
    bar.finish_and_clear();
    Ok(trainer)
}
