//! The training phase: epochs over the cached view embeddings (MLP math only), with atomic
//! checkpoints in the work directory and a progress bar.

use std::path::Path;

use crate::error::Context;
use edge_ssl_train::trainer::{AdapterTrainer, TrainConfig, Views};

use super::AdaptOptions;
use crate::progress::Progress;

/// Trains (or, when resuming, continues) the adapter on `views`.
pub fn train(
    views: &Views,
    opts: &AdaptOptions,
    work: &Path,
    resuming: bool,
    progress: &Progress,
) -> crate::Result<AdapterTrainer> {
    let config = TrainConfig::default()
        .with_method(opts.method)
        .with_epochs(opts.epochs)
        .with_batch(opts.batch)
        .with_seed(opts.seed);
    let ckpt = work.join("checkpoint.safetensors");
    let mut trainer = (if resuming && ckpt.is_file() {
        let t = AdapterTrainer::load_checkpoint(&ckpt).context("reading the checkpoint")?;
        if *t.config() != config {
            return Err(crate::Error::ResumeMismatch(format!(
                "{} was written with other training settings",
                ckpt.display()
            )));
        }
        t
    } else {
        AdapterTrainer::new(config, views)?
    })
    .with_checkpoint(&ckpt, opts.checkpoint_every);
    let mut phase = progress.phase("adapting", Some(trainer.total_steps()));
    phase.advance(trainer.steps_done())?;
    trainer.fit(views, |s| phase.training_step(s.step, s.loss))?;
    progress.check()?;
    phase.finish();
    Ok(trainer)
}
