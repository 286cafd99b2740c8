//! BatchNorm re-estimation (AdaBN) in one streaming pass: recompute every BatchNormalization
//! node's running mean and variance from the target camera's frames, with forward passes only,
//! and write a patched ONNX.
//!
//! The statistics are PyTorch's: what `model.train()` with `momentum=None` would leave in
//! `running_mean`/`running_var` after seeing the same batches (see [`super::accumulate`] for the
//! one departure, batches of unequal size). Each batch goes once through the probe graph
//! ([`super::probe`]), which normalizes every BN layer with the batch's own statistics and
//! returns them; the per-batch results are a few floats per channel, so the batches are streamed
//! (made, run, dropped) and memory holds only as many as the session pool runs at once.
//!
//! This replaces a fixed point that ran up to one full pass per BN layer (18 passes for ResNet-18,
//! 34 for MobileNetV3-Small), each pass exposing every BN input as a graph output and holding all
//! batches in memory. The fixed point measured something slightly different — population
//! statistics of all frames with every layer in eval mode — which agreed with PyTorch's
//! train-mode statistics within 0.1–0.2 %; the probe computes those statistics themselves.
//!
//! Models whose weights lie in external data files are refused for now: the probe and the
//! patched model are written beside `out`, where the weights' relative locations would not
//! resolve.
//!
//! A model whose input declares a fixed batch gets its frames in batches of that size (a batch
//! that does not divide evenly is an error): the probe must see exactly the batch the model was
//! exported for, and its statistics are then those of batches of that size.

use std::collections::HashSet;
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::Path;

use edge_ssl_core::{ModelCard, Tensor};
use ndarray::Axis;

use super::accumulate::{Accumulator, BatchStats};
use super::probe;
use super::report::{BnReport, layer_reports};
use crate::onnx::edit;
use crate::{Backend, Result, RuntimeError, SessionPool};

/// Where a re-estimation stands, after each batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BnProgress {
    pub frames_done: usize,
    /// As the caller announced it.
    pub frames_total: Option<usize>,
}

/// Re-estimates the BN statistics of `onnx` on the preprocessed input batches `batches`, pulled
/// one at a time (the iterator runs on a producer thread, so making the next batch overlaps
/// running this one), and writes the patched model to `out` atomically: the same graph, new
/// running mean and variance initializers. `frames_total` is only passed on to `progress`, which
/// is called before the first batch and after each one and cancels the run by returning
/// `Break` ([`RuntimeError::Cancelled`]; `out` is then not written). The first error of
/// `batches` stops the run and is returned.
///
/// A model without BatchNormalization nodes is copied (float `Constant` nodes lifted into
/// initializers: the same graph), without pulling a batch, and reported with no layers and no
/// pass.
pub fn reestimate_batch_norm_stream(
    backend: &dyn Backend,
    onnx: &Path,
    card: &ModelCard,
    batches: &mut (dyn Iterator<Item = Result<Tensor>> + Send),
    frames_total: Option<usize>,
    out: &Path,
    progress: &mut dyn FnMut(BnProgress) -> ControlFlow<()>,
) -> Result<BnReport> {
    // External data read in (the probe and the patched model are written elsewhere) and
    // Constant-node weights lifted (the statistics are written into initializers).
    let original = edit::read_for_editing(onnx)?;
    let bns = edit::batch_norms(&original);
    if bns.is_empty() {
        edit::save(&original, out)?;
        return Ok(BnReport {
            frames: 0,
            passes: 0,
            layers: Vec::new(),
        });
    }
    let mut stats = HashSet::new();
    if let Some(bn) = bns
        .iter()
        .find(|bn| !stats.insert(&bn.mean) || !stats.insert(&bn.var))
    {
        return Err(RuntimeError::Input(format!(
            "BN node {} shares its statistics with another node; they cannot be re-estimated",
            bn.node
        )));
    }
    let probe_path = out.with_extension("bn-probe.onnx");
    let form = if backend.runs_training_batch_norm() {
        probe::Form::TrainingNode
    } else {
        probe::Form::Decomposed
    };
    edit::save(&probe::build(&original, &bns, form)?, &probe_path)?;
    let loaded = backend.load_parallel(&probe_path, card);
    let _ = std::fs::remove_file(&probe_path);
    let loaded = loaded?;
    // As the engine reads the model: `None` when the batch is free.
    let fixed_batch = loaded
        .first()
        .and_then(|s| s.inputs().first())
        .and_then(|input| input.shape.first().copied().flatten());
    let mut pool = SessionPool::new(loaded)?;

    let cancelled = |flow: ControlFlow<()>| match flow {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(RuntimeError::Cancelled),
    };
    cancelled(progress(BnProgress {
        frames_done: 0,
        frames_total,
    }))?;
    let mut sums = Accumulator::new(&bns);
    let mut frames_done = 0;
    pool.run_batches(Rebatch::new(batches, fixed_batch), |index, outputs| {
        let batch = BatchStats::from_outputs(&outputs, &bns)?;
        frames_done += batch.frames;
        sums.add(index, batch);
        cancelled(progress(BnProgress {
            frames_done,
            frames_total,
        }))
    })?;
    let frames = sums.frames();
    let mut patched = original.clone();
    for (bn, (mean, var)) in bns.iter().zip(sums.finish()?) {
        edit::set_initializer_f32(&mut patched, &bn.mean, &mean)?;
        edit::set_initializer_f32(&mut patched, &bn.var, &var)?;
    }
    let layers = layer_reports(&original, &patched, &bns)?;
    edit::save(&patched, out)?;
    Ok(BnReport {
        frames,
        passes: 1,
        layers,
    })
}

/// [`reestimate_batch_norm_stream`] over batches already in memory, for callers that have not
/// moved to streaming yet. `max_passes` is ignored: there is one pass.
pub fn reestimate_batch_norm(
    backend: &dyn Backend,
    onnx: &Path,
    card: &ModelCard,
    batches: &[Tensor],
    _max_passes: usize,
    out: &Path,
) -> Result<BnReport> {
    let total = batches
        .iter()
        .map(|b| b.shape().first().copied().unwrap_or(0))
        .sum();
    reestimate_batch_norm_stream(
        backend,
        onnx,
        card,
        &mut batches.iter().map(|b| Ok(b.clone())),
        Some(total),
        out,
        &mut |_| ControlFlow::Continue(()),
    )
}

/// The caller's batches, empty ones skipped, cut into batches of `fixed` frames when the model
/// declares a fixed batch.
struct Rebatch<'a> {
    source: &'a mut (dyn Iterator<Item = Result<Tensor>> + Send),
    fixed: Option<usize>,
    cut: VecDeque<Tensor>,
}

impl<'a> Rebatch<'a> {
    fn new(
        source: &'a mut (dyn Iterator<Item = Result<Tensor>> + Send),
        fixed: Option<usize>,
    ) -> Self {
        Rebatch {
            source,
            fixed,
            cut: VecDeque::new(),
        }
    }
}

impl Iterator for Rebatch<'_> {
    type Item = Result<Tensor>;

    fn next(&mut self) -> Option<Result<Tensor>> {
        loop {
            if let Some(part) = self.cut.pop_front() {
                return Some(Ok(part));
            }
            let batch = match self.source.next()? {
                Ok(batch) => batch,
                Err(e) => return Some(Err(e)),
            };
            let n = batch.shape().first().copied().unwrap_or(0);
            match self.fixed {
                _ if n == 0 => continue,
                Some(fixed) if n != fixed => {
                    if n % fixed != 0 {
                        return Some(Err(RuntimeError::Input(format!(
                            "a batch of {n} frames cannot be cut into the batches of {fixed} \
                             the model declares"
                        ))));
                    }
                    self.cut = batch
                        .axis_chunks_iter(Axis(0), fixed)
                        .map(|part| part.to_owned())
                        .collect();
                }
                _ => return Some(Ok(batch)),
            }
        }
    }
}
