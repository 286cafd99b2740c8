//! The novelty model of an adapted directory: every frame embedded un-augmented through the
//! final encoder and the adapter just trained — the embeddings `run` will see — and a novelty
//! model fitted on them (see [`crate::novelty`]), or the final encoder's feature means. Frames
//! kept at another size than the input are read once more here as `run` reads them (a second
//! resize moved a 224×224 encoder's scores of its own training frames past the threshold);
//! frames kept at the input size, and a camera's, which cannot be read again, are replayed,
//! and their embeddings ride in the view pass (one more slot per frame) when an adapter
//! trains. Memory holds the rows, not the frames. Feature means need no adapter: [`rows`] embeds
//! them before the view pass and the pipeline fits on them beside it ([`fits_early`]).

use std::path::Path;

use edge_ssl_core::{ModelCard, Preprocessor};
use edge_ssl_runtime::{Backend, SessionPool};
use edge_ssl_train::nn::Adapter;
use edge_ssl_train::novelty::{NoveltyInput, NoveltyModel};
use ndarray::{Array2, s};

use super::AdaptOptions;
use crate::embed::embedder::{Embedder, embedding_rows};
use crate::error::Context;
use crate::frames::as_run_reads::embed_as_run_reads;
use crate::frames::frame_list::FrameList;
use crate::model::reference::ResolvedModel;
use crate::novelty::{MIN_ROWS, NoveltyOutcome};
use crate::progress::Progress;

/// Whether a novelty model will be fitted on `frames` frames: novelty on, and enough frames.
pub fn wanted(opts: &AdaptOptions, frames: usize) -> bool {
    opts.novelty.is_some() && frames >= MIN_ROWS
}

/// Whether the view pass should embed each frame un-augmented for the novelty model: it
/// scores embeddings, and the kept frames are what `run` reads (already at the input size, or
/// a camera's). Feature means, and frames resized when kept, get this phase's own pass.
pub fn wants_plain_rows(opts: &AdaptOptions, frames: &FrameList) -> bool {
    wanted(opts, frames.len())
        && frames.kept_at_input()
        && opts
            .novelty
            .as_ref()
            .is_some_and(|c| c.input() == NoveltyInput::Embedding)
}

/// Whether the novelty model can be fitted before the view pass, beside it: it is wanted and
/// scores the encoder's feature means, which come before the adapter (embeddings go through the
/// adapter, which the view pass is there to train). The fit then fills the core its matrix
/// products leave idle (1.3 cores of 2 on MobileNetV3-Small's 1,000 frames) instead of running
/// alone after the training.
pub fn fits_early(opts: &AdaptOptions, frames: &FrameList) -> bool {
    wanted(opts, frames.len())
        && opts.adapter
        && opts
            .novelty
            .as_ref()
            .is_some_and(|c| c.input() == NoveltyInput::Features)
}

/// Fits `opts.novelty` on the adapted embeddings of `frames` with the encoder `onnx` (and
/// `adapter`), or on the encoder's feature means when the config says so. `plain` holds the encoder's rows of the un-augmented frames when the view pass
/// embedded them already; otherwise the frames are read and embedded here. Nothing is embedded
/// when novelty is off or there are too few frames.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    backend: &dyn Backend,
    data: &Path,
    onnx: &Path,
    card: &ModelCard,
    adapter: Option<&Adapter>,
    plain: Option<Array2<f32>>,
    frames: &FrameList,
    opts: &AdaptOptions,
    progress: &Progress,
) -> crate::Result<(Option<NoveltyModel>, NoveltyOutcome)> {
    let Some(config) = &opts.novelty else {
        return Ok((None, NoveltyOutcome::Disabled));
    };
    let Some(rows) = rows(backend, data, onnx, card, plain, frames, opts, progress)? else {
        let skipped = NoveltyOutcome::Skipped {
            rows: frames.len(),
            needed: MIN_ROWS,
        };
        return Ok((None, skipped));
    };
    // Feature means come before the adapter; embeddings go through it.
    let rows = match (config.input(), adapter) {
        (NoveltyInput::Embedding, Some(a)) => {
            a.apply(rows.view()).context("applying the adapter")?
        }
        _ => rows,
    };
    crate::novelty::fit(rows.view(), config, progress)
}

/// The rows the novelty model of `opts` fits on, before any adapter: `plain` (the view pass's
/// un-augmented rows) when it has them, else every frame of `frames` embedded by the encoder
/// `onnx` as `run` reads it. `None` when novelty is off or there are too few frames.
#[allow(clippy::too_many_arguments)]
pub fn rows(
    backend: &dyn Backend,
    data: &Path,
    onnx: &Path,
    card: &ModelCard,
    plain: Option<Array2<f32>>,
    frames: &FrameList,
    opts: &AdaptOptions,
    progress: &Progress,
) -> crate::Result<Option<Array2<f32>>> {
    let Some(config) = &opts.novelty else {
        return Ok(None);
    };
    if frames.len() < MIN_ROWS {
        return Ok(None);
    }
    let encoder = ResolvedModel {
        onnx: onnx.to_path_buf(),
        card: card.clone(),
        dir: None,
    };
    let pre = Preprocessor::new(card.input.clone());
    let per_call = opts.images_per_call(&card.input);
    // The view pass's un-augmented rows are embeddings: never feature means.
    let plain = plain.filter(|_| config.input() == NoveltyInput::Embedding);
    if let Some(rows) = plain {
        return Ok(Some(rows));
    }
    // As `run` will see them: decoded and resized straight to the input. The kept frames went
    // through a second resize, and on a 224×224 encoder that alone moved the scores of the
    // very frames fitted on past the threshold.
    let rows = if frames.pass_at_input_is_exact() || !frames.can_read_again() {
        let (sessions, output, width) =
            Embedder::novelty_sessions(backend, &encoder, config.input())?;
        let pool = SessionPool::new(sessions)?;
        embed_all(pool, (output, width), frames, &pre, per_call, progress)?
    } else {
        let mut embedder = Embedder::load_for_novelty(backend, &encoder, config.input())?;
        let (files, sampling) = (frames.image_files(), &opts.sampling);
        embed_as_run_reads(&mut embedder, data, files, sampling, per_call, progress)?
    };
    Ok(Some(rows))
}

/// Output `output.0`'s rows (of width `output.1` when given) of every frame of `frames` as `run`
/// reads them, `batch` frames a
/// call, made on a producer thread while the sessions of `pool` run earlier batches side by
/// side (one single-threaded session per core: no barrier after every op, as in the view
/// pass). Rows are placed by batch index, whichever session ran a batch.
fn embed_all(
    mut pool: SessionPool,
    (output, width): (usize, Option<usize>),
    frames: &FrameList,
    pre: &Preprocessor,
    batch: usize,
    progress: &Progress,
) -> crate::Result<Array2<f32>> {
    let (n, batch) = (frames.len(), batch.max(1));
    let mut phase = progress.phase("novelty embeddings", Some(n as u64));
    let mut pass = frames.pass_at_input(pre)?;
    let read = std::sync::atomic::AtomicUsize::new(0);
    let inputs = std::iter::from_fn(|| {
        let mut held = Vec::with_capacity(batch);
        for pixels in pass.by_ref() {
            read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match pixels {
                Ok(pixels) => held.push(pixels),
                Err(e) => return Some(Err(e)),
            }
            if held.len() == batch {
                break;
            }
        }
        let views: Vec<_> = held.iter().map(|f| f.view()).collect();
        (!held.is_empty()).then(|| pre.batch_bytes(&views).map_err(crate::Error::from))
    });
    let mut rows: Option<Array2<f32>> = None;
    pool.run_batches(inputs, |index, outputs| {
        let start = index * batch;
        let len = batch.min(n.saturating_sub(start));
        let part = embedding_rows(outputs.into_iter().skip(output).collect(), len)?;
        if let Some(want) = width.filter(|&w| w != part.ncols()) {
            crate::error::bail!(
                Model,
                "the feature model returned {} feature means per image, not {want}",
                part.ncols()
            );
        }
        let all = rows.get_or_insert_with(|| Array2::zeros((n, part.ncols())));
        if start + len > all.nrows() || part.ncols() != all.ncols() {
            crate::error::bail!(Model, "the novelty model's rows do not fit {n} frames");
        }
        all.slice_mut(s![start..start + len, ..]).assign(&part);
        phase.advance(len as u64)
    })?;
    // Rows are placed by batch index: a source that gave other than `n` frames would leave
    // rows unwritten (or none to hold the extra ones).
    let read = read.into_inner();
    if read != n {
        crate::error::bail!(Data, "the frames ended after {read} of {n}");
    }
    phase.finish();
    rows.ok_or_else(|| crate::Error::Data("no frames to embed for the novelty model".into()))
}
