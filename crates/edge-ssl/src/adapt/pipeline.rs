//! `adapt` from frames to model directory, one phase after the other: list the frames → BN
//! re-estimation → encoder training (when asked) → view cache → adapter training → novelty model
//! → model directory. A novelty model on feature means (the default) needs only the final
//! encoder: its rows are embedded before the view cache and it is fitted on a thread beside the
//! view pass and the training, filling the core its matrix products leave idle. Frames are never all in memory:
//! the BN and view passes read them again ([`FrameList`]), and only embeddings stay. Each phase is timed
//! ([`PhaseTimes`]); the work directory makes every phase resumable.

use std::path::Path;

use crate::error::{Context, bail};
use edge_ssl_core::Preprocessor;
use edge_ssl_runtime::{Backend, SessionPool};
use edge_ssl_train::augment::Augmenter;
use edge_ssl_train::trainer::Views;
use ndarray::Array3;
use serde_json::json;

use serde::Serialize;

use super::model_output::{self, Trained};
use super::phase_times::{PhaseClock, PhaseTimes};
use super::view_cache::Slots;
use super::{
    AdaptOptions, EncoderTraining, bn_phase, bn_stream, encoder_phase, labeled_phase,
    novelty_phase, train_phase, view_cache, work_dir,
};
use crate::frames::frame_list::FrameList;
use crate::model::directory as model_dir;
use crate::model::reference::ResolvedModel;
use crate::progress::Progress;

/// What an adaptation did; also written as the model directory's `metrics.json`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct AdaptReport {
    /// Frames adapted on, and files or frames skipped as undecodable.
    pub frames: usize,
    pub skipped: usize,
    pub method: String,
    pub epochs: usize,
    pub views: usize,
    pub batch: usize,
    pub seed: u64,
    pub bn_adapt: bool,
    /// Which of the encoder's own weights trained: `none`, `bn`, `tail:N` or `all`.
    pub train: String,
    /// What encoder training did (`null` for `none`).
    pub encoder: Option<EncoderTraining>,
    pub adapter: bool,
    /// Adapter optimizer steps run (over all runs, when resumed).
    pub steps: u64,
    /// The adapter's loss at every step.
    pub loss_curve: Vec<f32>,
    /// BN re-estimation's report (`null` without it).
    pub bn: serde_json::Value,
    /// Whether an interrupted run was continued.
    pub resumed: bool,
    /// The novelty model fitted on the adapted frames, with its calibration.
    pub novelty: crate::novelty::NoveltyOutcome,
    /// Seconds per phase.
    pub seconds: PhaseTimes,
    /// When `out` already had a head: it was fitted on the embeddings of the model this run
    /// replaced, so it no longer matches and is not used until fitted again (why, in words).
    /// `None` when there is no head or it still matches (the same encoder and adapter).
    #[serde(skip)]
    pub stale_head: Option<String>,
}

/// Adapts `model` to the frames of `data` (an image folder, a video file or a camera) and
/// writes the adapted model directory `out`; progress and cancellation go through `progress`.
/// An interrupted run continues where it stopped when `opts.resume` is set.
pub fn adapt(
    backend: &dyn Backend,
    model: &ResolvedModel,
    data: &Path,
    out: &Path,
    opts: &AdaptOptions,
    progress: &Progress,
) -> crate::Result<AdaptReport> {
    if opts.views < 2 || opts.batch < 2 || opts.epochs == 0 {
        bail!(
            Options,
            "views and batch must be at least 2 and epochs at least 1 (got {}, {}, {})",
            opts.views,
            opts.batch,
            opts.epochs
        );
    }
    let edits_weights = opts.bn_adapt || opts.train != crate::tune::Train::None;
    crate::model::exported::ensure_adaptable(model, "adapted", edits_weights)?;
    // The card's width, when it knows one, before any frame is read; the trainer checks the
    // embeddings' own.
    if opts.adapter {
        edge_ssl_train::nn::check_adapter_width(model.card.output.dim)?;
    }
    // Before any frame is read or BN pass run: the part `--train` selects must import (BN
    // re-estimation changes statistics, not operators, so the source model answers for the
    // patched one). An operator the trainer lacks is one error now, not after minutes of work.
    if opts.labeled.is_some() && opts.train == crate::tune::Train::None {
        bail!(
            Options,
            "labeled images train together with the encoder: choose which part of it trains"
        );
    }
    let labeled = opts
        .labeled
        .as_deref()
        .map(crate::frames::image_set::LabeledSet::read)
        .transpose()?;
    if opts.train != crate::tune::Train::None {
        crate::tune::import_output(&model.onnx, &model.card.output.name, opts.train).with_context(
            || {
                format!(
                    "preparing {} to train ({})",
                    model.onnx.display(),
                    opts.train
                )
            },
        )?;
    }
    let mut clock = PhaseClock::start();
    let mut times = PhaseTimes::default();
    // BN statistics are re-estimated beside the listing when they can be (`bn_stream`).
    let listed = bn_stream::list_frames(backend, model, data, out, opts, progress)?;
    let (frames, streamed) = (listed.frames, listed.streamed);
    if frames.len() < 2 {
        bail!(
            Options,
            "{}: adaptation needs at least 2 decodable frames, found {}",
            data.display(),
            frames.len()
        );
    }
    if let Some(note) = frames.skipped_note() {
        progress.note(note);
    }
    check_cache_size(frames.len(), opts.views, model.card.output.dim)?;
    // The BN pass may have run beside the listing and gone on after it: its time counts as BN.
    let listing = clock.lap();
    times.decode = listed.listing_s.min(listing);
    times.bn = listing - times.decode;

    let work = out.join(".adapt-work");
    // The frames are read again in later passes and on resume: the plan names every one.
    let plan = json!({
        "source_sha256": model_dir::encoder_sha(model)?, "frames": frames.len(),
        // Shown as text (a path that is not UTF-8 cannot be a JSON string); the hash below is
        // over the exact bytes.
        "first": frames.origins.first().map(|p| p.display().to_string()),
        "last": frames.origins.last().map(|p| p.display().to_string()),
        "origins_sha256": origins_sha256(&frames.origins),
        "method": opts.method.name(), "epochs": opts.epochs, "views": opts.views,
        "batch": opts.batch, "seed": opts.seed, "bn_adapt": opts.bn_adapt, "adapter": opts.adapter,
        "train": opts.train.to_string(),
        // As text: f32 fields would compare unequal after a JSON round trip as numbers.
        "tune": serde_json::to_string(&opts.tune)?,
        "labeled": labeled.as_ref().map(|set| origins_sha256(&set.paths)),
    });
    let resuming = work_dir::prepare(&work, &plan, opts.resume, progress)?;

    let (encoder, bn_report) = bn_phase::encoder(
        backend, model, &frames, streamed, opts, &work, resuming, progress,
    )?;
    times.bn += clock.lap();
    let mut card = model.card.clone();
    card.sha256 = None;
    let encoder_training = encoder_phase::train(
        backend,
        &card,
        &frames,
        labeled.as_ref(),
        opts,
        &work,
        resuming,
        progress,
    )?;
    times.encoder = clock.lap();
    let patched = ResolvedModel {
        onnx: encoder.clone(),
        card: card.clone(),
        dir: None,
    };

    // Feature means need only the final encoder: embedded now, and the novelty model fitted on
    // a thread of its own beside the view pass (`novelty_phase::fits_early`).
    let early_rows = match novelty_phase::fits_early(opts, &frames) {
        true => novelty_phase::rows(
            backend,
            data,
            &work.join(model_dir::ENCODER),
            &card,
            None,
            &frames,
            opts,
            progress,
        )?,
        false => None,
    };
    let early_novelty = clock.lap();
    let fit_progress = Progress::silent();
    let (mut losses, mut adapter, mut steps, mut plain) = (Vec::new(), None, 0, None);
    let early_fit = std::thread::scope(|scope| -> crate::Result<_> {
        let fitting = match (&early_rows, &opts.novelty) {
            (Some(rows), Some(config)) => {
                Some(scope.spawn(|| crate::novelty::fit(rows.view(), config, &fit_progress)))
            }
            _ => None,
        };
        let mut views_and_training = || -> crate::Result<()> {
            if opts.adapter {
                // The novelty model's rows (each frame un-augmented) ride in the same pass.
                let slots = Slots {
                    views: opts.views,
                    plain: novelty_phase::wants_plain_rows(opts, &frames),
                    first_view: 0,
                };
                let cache = view_cache_phase(
                    backend, &patched, &frames, opts, slots, &work, resuming, &mut times, progress,
                )?;
                let (cache, rows) = slots.split(cache);
                plain = rows;
                times.views = clock.lap();
                let views = Views::new(cache).context("the view cache")?;
                let trained = train_phase::train(&views, opts, &work, resuming, progress)?;
                steps = trained.steps_done();
                losses = trained.loss_curve().to_vec();
                adapter = Some(trained.into_adapter());
                times.train = clock.lap();
            }
            Ok(())
        };
        let trained = views_and_training();
        if trained.is_err() {
            fit_progress.cancel();
        }
        let fitted = fitting.map(|fit| {
            fit.join()
                .unwrap_or_else(|_| Err(crate::Error::Data("the novelty fit panicked".into())))
        });
        trained?;
        fitted.transpose()
    })?;

    let (novelty, novelty_outcome) = match early_fit {
        Some(fitted) => fitted,
        None => novelty_phase::fit(
            backend,
            data,
            &work.join(model_dir::ENCODER),
            &card,
            adapter.as_ref(),
            plain,
            &frames,
            opts,
            progress,
        )?,
    };
    times.novelty = early_novelty + clock.lap();

    let mut report = AdaptReport {
        frames: frames.len(),
        skipped: frames.skipped.len(),
        method: opts.method.name().into(),
        epochs: opts.epochs,
        views: opts.views,
        batch: opts.batch,
        seed: opts.seed,
        bn_adapt: opts.bn_adapt,
        train: opts.train.to_string(),
        encoder: encoder_training,
        adapter: opts.adapter,
        steps,
        loss_curve: losses.clone(),
        bn: bn_report,
        resumed: resuming,
        novelty: novelty_outcome,
        seconds: PhaseTimes::default(),
        stale_head: None,
    };
    drop(frames);
    let trained = Trained {
        adapter: adapter.as_ref(),
        losses: &losses,
        novelty: novelty.as_ref(),
    };
    // metrics.json is written with the directory, so its `write` and `total` are measured
    // up to that point; the report returned has the final figures.
    times.write = clock.lap();
    times.total = clock.total();
    report.seconds = times.clone();
    let metrics = serde_json::to_value(&report)?;
    model_output::write(out, &work, model, card, trained, &metrics, opts)?;
    let _ = std::fs::remove_dir_all(&work);
    if let Some(set) = &labeled {
        labeled_phase::write_head(backend, out, set, opts, progress)?;
    }
    report.stale_head = stale_head(out)?;
    if let Some(why) = &report.stale_head {
        progress.note(format!(
            "the directory's head is now stale, not used: {why}"
        ));
    }
    times.write += clock.lap();
    times.total = clock.total();
    report.seconds = times;
    Ok(report)
}

/// Why the head `out` holds (from an earlier `head` on this directory) no longer matches the
/// model just written, if it does not.
fn stale_head(out: &Path) -> crate::Result<Option<String>> {
    if !out.join(crate::model::directory::HEAD).is_file() {
        return Ok(None);
    }
    let written = crate::model::reference::resolve_path(out)?;
    match crate::model::directory::load_head(&written) {
        Err(e @ crate::Error::StaleHead { .. }) => Ok(Some(e.to_string())),
        _ => Ok(None),
    }
}

/// The view cache: reloaded when resuming, else rendered and embedded (and saved for a resume).
#[allow(clippy::too_many_arguments)]
fn view_cache_phase(
    backend: &dyn Backend,
    encoder: &ResolvedModel,
    frames: &FrameList,
    opts: &AdaptOptions,
    slots: Slots,
    work: &Path,
    resuming: bool,
    times: &mut PhaseTimes,
    progress: &Progress,
) -> crate::Result<Array3<f32>> {
    let path = work.join("views.npy");
    if resuming && let Some(cache) = view_cache::load(&path, slots.count(), frames.len()) {
        return Ok(cache);
    }
    let sessions = backend
        .load_parallel(&encoder.onnx, &encoder.card)
        .with_context(|| format!("loading {} with {}", encoder.onnx.display(), backend.name()))?;
    if let Some(note) = sessions.first().and_then(|s| s.fallback_note()) {
        progress.note(note);
    }
    let mut pool = SessionPool::new(sessions)?;
    let pre = Preprocessor::new(encoder.card.input.clone());
    let input = &encoder.card.input;
    let augmenter = Augmenter::new(opts.augment.clone(), input.height, input.width, opts.seed)?;
    let (cache, render) = view_cache::build_stream(
        frames.pass(&pre)?,
        frames.len(),
        &augmenter,
        &pre,
        slots,
        opts.images_per_call(input),
        opts.render_workers,
        &mut pool,
        progress,
    )?;
    times.render = render;
    view_cache::save(&path, &cache)?;
    Ok(cache)
}

/// SHA-256 of the frame origins, one per line: a resumed run must read the same frames.
fn origins_sha256(origins: &[std::path::PathBuf]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for origin in origins {
        hash.update(origin.as_os_str().as_encoded_bytes());
        hash.update(b"\n");
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The view cache is held in memory (frames × views × embedding floats): an absurd `--views`
/// must be refused up front, not discovered when the allocator gives up.
const MAX_VIEW_CACHE_BYTES: u64 = 2 << 30;

fn check_cache_size(frames: usize, views: usize, dim: usize) -> crate::Result<()> {
    let bytes = (frames as u64)
        .saturating_mul(views as u64)
        .saturating_mul(dim as u64)
        .saturating_mul(4);
    if bytes > MAX_VIEW_CACHE_BYTES {
        return Err(crate::Error::ViewCacheTooLarge {
            frames,
            views,
            dim,
            bytes,
            limit_gib: MAX_VIEW_CACHE_BYTES >> 30,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_cache_size;

    #[test]
    fn an_absurd_view_count_is_refused_before_anything_is_allocated() {
        assert!(check_cache_size(5000, 8, 128).is_ok());
        let err = check_cache_size(16, 1_000_000_000, 128)
            .unwrap_err()
            .to_string();
        assert!(err.contains("GiB allowed"), "{err}");
        assert!(check_cache_size(usize::MAX, usize::MAX, usize::MAX).is_err());
    }
}
