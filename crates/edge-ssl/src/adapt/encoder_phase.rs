//! The encoder-training phase (`Train::Bn`, `Tail(n)`, `All`; issue 14), between BN
//! re-estimation and the adapter. The work directory's (BN-patched) encoder is split by
//! [`tune::import`]; the frozen prefix is written beside it as an ONNX of its own and run by
//! the backend once per view — two views of every frame ([`paired_cache`]) — and SimCLR trains
//! the imported tail on those cached activations ([`EncoderTrainer`], checkpointed every
//! `checkpoint_every` steps). The trained weights and BatchNormalization statistics are then
//! written back into the work directory's `encoder.onnx`, so the adapter's view cache and the
//! model directory see the trained encoder and every reader of a model directory works
//! unchanged.
//!
//! The adapter, when on, trains afterwards on the trained encoder's embeddings: the two
//! compose (the adapter starts as the identity), and `adapter: false` ships the trained
//! encoder alone.
//!
//! With labeled images ([`super::labeled_phase`]) a softmax head trains beside the encoder, and
//! the trained encoder replaces the old one only if held-out labeled images are classified at
//! least as well as before.
//!
//! Resume: the paired cache is saved in the work directory, the trainer's checkpoint resumes
//! bit for bit, and the result lands in three atomic steps — `encoder.tuned.onnx`, then
//! `tuned.json` (the report and that file's SHA-256), then a rename over `encoder.onnx` — so
//! a run stopped anywhere neither trains twice nor loses what it trained.

use std::path::Path;

use edge_ssl_core::{ModelCard, Preprocessor, sha256_file, write_atomic};
use edge_ssl_runtime::Backend;
use serde::{Deserialize, Serialize};

use super::labeled_phase::{LabeledSplit, LabelsReport};
use super::{AdaptOptions, paired_cache};
use crate::error::Context;
use crate::frames::frame_list::FrameList;
use crate::frames::image_set::LabeledSet;
use crate::model::directory::ENCODER;
use crate::progress::Progress;
use crate::tune::{self, EncoderTrainer, Train};

const CHECKPOINT: &str = "encoder-training.ckpt";
const TUNED: &str = "encoder.tuned.onnx";
const DONE: &str = "tuned.json";

/// What encoder training did; part of [`super::AdaptReport`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct EncoderTraining {
    /// `bn`, `tail:N` or `all`.
    pub selection: String,
    /// Blocks the encoder has, and how many of them trained ([`tune::blocks`]).
    pub blocks: usize,
    pub trained_blocks: usize,
    /// The activation the frozen prefix hands the trained part (`None`: the model's input).
    pub cut: Option<String>,
    /// Floats per frame of that activation (both views are cached).
    pub cached_floats_per_frame: usize,
    /// Whether every epoch trained on a fresh pair of views (the whole encoder trains: a pair
    /// costs only its rendering), or all on the first pair (a frozen prefix would have to run
    /// again on every view).
    #[serde(default)]
    pub fresh_views: bool,
    /// Trainable floats of the encoder (the projector excluded).
    pub parameters: usize,
    pub epochs: usize,
    pub batch: usize,
    /// Written as the f32's shortest decimal (0.001, not 0.0010000000474974513).
    #[serde(serialize_with = "f32_as_written")]
    pub lr: f32,
    /// Optimizer steps run (over all runs, when resumed), and the loss of each.
    pub steps: u64,
    pub loss_curve: Vec<f32>,
    /// Joint training with labeled images: the held-out check and which encoder was kept.
    #[serde(default)]
    pub labels: Option<LabelsReport>,
}

fn f32_as_written<S: serde::Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(v.to_string().parse().unwrap_or(f64::from(*v)))
}

#[derive(Serialize, Deserialize)]
struct Done {
    report: EncoderTraining,
    encoder_sha256: String,
}

/// Trains the part of `work/encoder.onnx` that `opts.train` selects and writes it back in
/// place; `None` for `Train::None`. `card` is the source model's (the prefix has its input);
/// `labeled` is `opts.labeled`'s set, read once by the caller.
#[allow(clippy::too_many_arguments)]
pub fn train(
    backend: &dyn Backend,
    card: &ModelCard,
    frames: &FrameList,
    labeled: Option<&LabeledSet>,
    opts: &AdaptOptions,
    work: &Path,
    resuming: bool,
    progress: &Progress,
) -> crate::Result<Option<EncoderTraining>> {
    if opts.train == Train::None {
        return Ok(None);
    }
    let encoder = work.join(ENCODER);
    if resuming && let Some(done) = finished(work)? {
        progress.note("the encoder was already trained; resuming after it");
        return Ok(Some(done));
    }
    let split = tune::import_output(&encoder, &card.output.name, opts.train)
        .with_context(|| format!("preparing {} to train ({})", encoder.display(), opts.train))?;
    edge_ssl_train::parallel::set_threads(opts.train_threads);
    let pre = Preprocessor::new(card.input.clone());
    let views = paired_cache::build(
        backend,
        card,
        &pre,
        &split,
        frames,
        opts,
        work,
        resuming,
        progress,
        paired_cache::FRAMES_CACHE,
    )?;
    let labeled = labeled.map(LabeledSplit::of);
    let (labeled_views, before) = match &labeled {
        Some(l) => (
            Some(l.views(backend, card, &pre, &split, opts, work, resuming, progress)?),
            l.held_out_accuracy(backend, &encoder, card, opts, progress)?,
        ),
        None => (None, None),
    };
    let config = opts.tune.with_seed(opts.seed);
    let mut report = EncoderTraining {
        selection: opts.train.to_string(),
        blocks: split.blocks(),
        trained_blocks: split.trained_blocks(),
        cut: split.cut().map(str::to_string),
        cached_floats_per_frame: views.item_shape().iter().product(),
        fresh_views: split.cut().is_none(),
        parameters: split.graph().params().iter().map(|p| p.value.len()).sum(),
        epochs: config.epochs(),
        batch: config.batch_size(),
        lr: config.lr(),
        steps: 0,
        loss_curve: Vec::new(),
        labels: None,
    };
    let ckpt = work.join(CHECKPOINT);
    let graph = split.into_graph();
    let mut trainer = (if resuming && ckpt.is_file() {
        let t = EncoderTrainer::load_checkpoint(&ckpt, graph, &views, labeled_views)
            .context("reading the encoder-training checkpoint")?;
        if *t.config() != config {
            return Err(crate::Error::ResumeMismatch(format!(
                "{} was written with other training settings",
                ckpt.display()
            )));
        }
        t
    } else {
        let t = EncoderTrainer::new(graph, config, &views)?;
        match labeled_views {
            Some(l) => t.with_labeled(l)?,
            None => t,
        }
    })
    .with_checkpoint(&ckpt, opts.checkpoint_every);
    progress.note(format_args!(
        "training {} of {} encoder blocks ({} parameters) on {} frames",
        report.trained_blocks,
        report.blocks,
        report.parameters,
        views.len()
    ));
    let mut phase = progress.phase("training encoder", Some(trainer.total_steps()));
    phase.advance(trainer.step())?;
    if report.fresh_views {
        let (per_epoch, total) = (trainer.steps_per_epoch(), trainer.total_steps());
        let item = views.item_shape().to_vec();
        let mut first = Some(views);
        while trainer.step() < total {
            let epoch = trainer.step() / per_epoch;
            let pair = match first.take() {
                Some(pair) if epoch == 0 => pair,
                _ => paired_cache::fresh_pair(
                    card,
                    &pre,
                    frames,
                    opts,
                    epoch as usize,
                    &item,
                    &Progress::silent(),
                )?,
            };
            let end = (epoch + 1) * per_epoch;
            if !trainer.fit_until(&pair, end, |s| phase.training_step(s.step, s.loss))? {
                break;
            }
        }
    } else {
        trainer.fit(&views, |s| phase.training_step(s.step, s.loss))?;
        drop(views);
    }
    progress.check()?;
    phase.finish();
    report.steps = trainer.step();
    report.loss_curve = trainer.losses().to_vec();
    let tuned = work.join(TUNED);
    tune::write_back(&encoder, trainer.graph(), &tuned)
        .with_context(|| format!("writing the trained weights into {}", tuned.display()))?;
    let mut keep = true;
    if let Some(l) = &labeled {
        let after = l.held_out_accuracy(backend, &tuned, card, opts, progress)?;
        keep = !matches!((before, after), (Some(b), Some(a)) if a < b);
        let kept = if keep { "trained" } else { "original" };
        let shown = |a: Option<f64>| a.map_or("-".into(), |a| format!("{:.1} %", 100.0 * a));
        progress.note(format_args!(
            "held-out labeled images ({} of {}): {} before training, {} after; kept the {kept} encoder",
            l.held_out.len(),
            l.set.paths.len(),
            shown(before),
            shown(after)
        ));
        report.labels = Some(LabelsReport {
            classes: l.set.class_names.clone(),
            trained_on: l.train.len(),
            held_out: l.held_out.len(),
            accuracy_before: before,
            accuracy_after: after,
            kept: kept.into(),
        });
    }
    if !keep {
        std::fs::remove_file(&tuned).map_err(|e| crate::Error::io(&tuned, e))?;
    }
    let done = Done {
        report,
        encoder_sha256: sha256_file(if keep { &tuned } else { &encoder })?,
    };
    write_atomic(&work.join(DONE), |w| {
        w.write_all(serde_json::to_string(&done)?.as_bytes())
    })?;
    if keep {
        std::fs::rename(&tuned, &encoder).map_err(|e| crate::Error::io(&encoder, e))?;
    }
    Ok(Some(done.report))
}

/// The report of a training an interrupted run finished, completing its last step (the
/// rename) when it was stopped before it; `None` when it did not finish.
fn finished(work: &Path) -> crate::Result<Option<EncoderTraining>> {
    let Ok(text) = std::fs::read_to_string(work.join(DONE)) else {
        return Ok(None);
    };
    let done: Done = serde_json::from_str(&text)?;
    let (tuned, encoder) = (work.join(TUNED), work.join(ENCODER));
    if tuned.is_file() {
        std::fs::rename(&tuned, &encoder).map_err(|e| crate::Error::io(&encoder, e))?;
    }
    if sha256_file(&encoder)? != done.encoder_sha256 {
        return Err(crate::Error::ResumeMismatch(format!(
            "{} is not the encoder {} says was trained",
            encoder.display(),
            work.join(DONE).display()
        )));
    }
    Ok(Some(done.report))
}
