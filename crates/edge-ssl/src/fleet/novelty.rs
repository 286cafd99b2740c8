//! The device's own novelty model behind each global model: fitted on this device's frames,
//! un-augmented, through the device's encoder and the global adapter (the embeddings `run`
//! will see on `WORK/model`) or on the encoder's feature means, and written into that
//! directory with the global adapter and head, so `run` on it says when a frame is unlike what
//! this camera saw.
//!
//! **Local, not federated.** The novelty model never travels: what is unusual is judged
//! against this camera's frames, and its threshold is calibrated on held-out frames of them
//! (the 0.99 quantile by default), as `adapt` does.
//!
//! **Every global model, not only the final one.** A device cannot tell which message is the
//! last (the ServerApp decides how many rounds there are; with `fraction-evaluate = 0` the final
//! arrays come in one extra evaluate message; a device may be stopped between any two), and
//! `WORK/model` is replaced on every message, where a novelty model fitted behind an earlier
//! adapter would be refused. So every written model gets one, and the cost stays small:
//!
//! - the rows are embedded once, at start, in the same pass as the training views (one more,
//!   un-augmented slot per frame, [`Slots`](crate::adapt::view_cache::Slots)), so a fit reads
//!   and encodes nothing: it applies the global adapter to those rows and trains a small MLP
//!   (or, for k-NN, only calibrates);
//! - a train message carries the same global adapter as the evaluate message before it (FedAvg's
//!   aggregate of the previous round): the adapted rows are then equal and the model fitted
//!   for them is written again without a new fit;
//! - a model of the encoder's feature means (`NoveltyInput::Features`, what `adapt` scores by
//!   default: they catch the texture and contrast the embedding ignores) comes before the
//!   adapter, so it is fitted once, on rows embedded once after the view pass, and written
//!   behind every global model.

use edge_ssl_train::nn::Adapter;
use edge_ssl_train::novelty::{NoveltyConfig, NoveltyInput, NoveltyModel};
use ndarray::Array2;

use crate::error::Context;
use crate::novelty::{MIN_ROWS, NoveltyOutcome};
use crate::progress::Progress;

/// The novelty model of the latest global adapter, refitted when the adapter changes.
pub struct LocalNovelty {
    config: Option<NoveltyConfig>,
    /// The encoder's rows of the un-augmented frames, embeddings or feature means as `config`
    /// says (`None` when no model is fitted).
    plain: Option<Array2<f32>>,
    frames: usize,
    /// The adapted rows the last model was fitted on (`None` for feature means, which no
    /// adapter moves), and that model.
    last: Option<(Option<Array2<f32>>, Option<NoveltyModel>)>,
    outcome: NoveltyOutcome,
}

impl LocalNovelty {
    /// Whether `config` will fit a model on `frames` frames (whose un-augmented rows the view
    /// pass then embeds).
    pub fn wanted(config: Option<&NoveltyConfig>, frames: usize) -> bool {
        config.is_some() && frames >= MIN_ROWS
    }

    /// Fits `config` on `plain` (the encoder's rows of the `frames` frames, present when
    /// [`LocalNovelty::wanted`]) behind each global adapter.
    pub fn new(config: Option<NoveltyConfig>, plain: Option<Array2<f32>>, frames: usize) -> Self {
        Self {
            config,
            plain,
            frames,
            last: None,
            outcome: NoveltyOutcome::Disabled,
        }
    }

    /// What the last fit did (before any: [`NoveltyOutcome::Disabled`]).
    pub fn outcome(&self) -> &NoveltyOutcome {
        &self.outcome
    }

    /// The novelty model behind `adapter`: fitted now, or the last one when `adapter` moves
    /// the rows exactly as the last one did. `None` when disabled or with too few frames.
    pub fn behind(
        &mut self,
        adapter: &Adapter,
        progress: &Progress,
    ) -> crate::Result<Option<&NoveltyModel>> {
        let (Some(config), Some(plain)) = (&self.config, &self.plain) else {
            self.outcome = match self.config {
                None => NoveltyOutcome::Disabled,
                Some(_) => NoveltyOutcome::Skipped {
                    rows: self.frames,
                    needed: MIN_ROWS,
                },
            };
            return Ok(None);
        };
        // Feature means come before the adapter: the first fit serves every global model.
        let rows = match config.input() {
            NoveltyInput::Features => None,
            NoveltyInput::Embedding => Some(
                adapter
                    .apply(plain.view())
                    .context("applying the global adapter")?,
            ),
        };
        if self.last.as_ref().is_none_or(|(last, _)| *last != rows) {
            let fitted_on = rows.as_ref().unwrap_or(plain);
            let (model, outcome) = crate::novelty::fit(fitted_on.view(), config, progress)?;
            self.outcome = outcome;
            self.last = Some((rows, model));
        }
        Ok(self.last.as_ref().and_then(|(_, m)| m.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_ssl_train::Rng;

    fn rows(n: usize, d: usize) -> Array2<f32> {
        Array2::from_shape_fn((n, d), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.1)
    }

    #[test]
    fn a_new_adapter_refits_and_the_same_one_reuses_the_fit() {
        use std::sync::atomic::Ordering;
        let (progress, fits) = counting();
        let mut local = LocalNovelty::new(Some(NoveltyConfig::default()), Some(rows(40, 8)), 40);
        let a = Adapter::new(8, 4, &mut Rng::new(1));
        let first = local.behind(&a, &progress).unwrap().unwrap().clone();
        assert!(matches!(local.outcome(), NoveltyOutcome::Fitted(_)));
        assert_eq!(fits.load(Ordering::SeqCst), 1);
        local.behind(&a.clone(), &progress).unwrap().unwrap();
        // Another fresh adapter is the identity too (W2 = 0): the same rows, no new fit.
        let mut b = Adapter::new(8, 4, &mut Rng::new(2));
        let same = local.behind(&b, &progress).unwrap().unwrap();
        assert_eq!(same.threshold(), first.threshold());
        assert_eq!(
            fits.load(Ordering::SeqCst),
            1,
            "the same rows are not fitted again"
        );
        // One whose W2 is not zero moves the rows: a new fit, another threshold.
        b.fc2.weight.value.fill(0.5);
        let refit = local.behind(&b, &progress).unwrap().unwrap();
        assert_ne!(refit.threshold(), first.threshold());
        assert_eq!(fits.load(Ordering::SeqCst), 2);
    }

    /// A progress that counts the novelty fits started.
    fn counting() -> (Progress, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let fits = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = fits.clone();
        let progress = Progress::new(move |e| {
            if let crate::progress::Event::Start {
                phase: "novelty", ..
            } = e
            {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            std::ops::ControlFlow::Continue(())
        });
        (progress, fits)
    }

    #[test]
    fn feature_means_are_fitted_once_whatever_the_adapter() {
        use std::sync::atomic::Ordering;
        let (progress, fits) = counting();
        let config = NoveltyConfig::default().with_input(NoveltyInput::Features);
        // Feature means are wider than the embedding the adapter takes: they never meet it.
        let mut local = LocalNovelty::new(Some(config), Some(rows(40, 12)), 40);
        let a = Adapter::new(8, 4, &mut Rng::new(1));
        let first = local.behind(&a, &progress).unwrap().unwrap().clone();
        assert_eq!(first.dim(), 12);
        let mut b = Adapter::new(8, 4, &mut Rng::new(2));
        b.fc2.weight.value.fill(0.5);
        let after = local.behind(&b, &progress).unwrap().unwrap();
        assert_eq!(after.threshold().to_bits(), first.threshold().to_bits());
        assert_eq!(
            fits.load(Ordering::SeqCst),
            1,
            "fitted again for another adapter"
        );
        assert!(matches!(local.outcome(), NoveltyOutcome::Fitted(r) if r.dim == 12));
    }

    #[test]
    fn too_few_frames_or_none_wanted_fit_nothing() {
        let a = Adapter::new(8, 4, &mut Rng::new(1));
        let progress = Progress::silent();
        assert!(!LocalNovelty::wanted(
            Some(&NoveltyConfig::default()),
            MIN_ROWS - 1
        ));
        let mut few = LocalNovelty::new(Some(NoveltyConfig::default()), None, MIN_ROWS - 1);
        assert!(few.behind(&a, &progress).unwrap().is_none());
        assert!(matches!(few.outcome(), NoveltyOutcome::Skipped { .. }));
        let mut off = LocalNovelty::new(None, None, 100);
        assert!(off.behind(&a, &progress).unwrap().is_none());
        assert!(matches!(off.outcome(), NoveltyOutcome::Disabled));
    }
}
