//! The expensive half of `adapt`: K augmented views of every frame, each run once through the
//! frozen (BN-patched) encoder, stacked into a `K × N × D` cache. Epochs then cost only MLP
//! math, and the cache is saved so `--resume` after a crash skips straight to training.

use std::path::Path;

use anyhow::Context;
use edge_ssl_core::{Preprocessor, npy};
use edge_ssl_train::augment::Augmenter;
use ndarray::{Array2, Array3, Axis};

use crate::embedder::Embedder;
use crate::image_set::Frames;
use crate::progress;

/// Augments frames `0..n` × views `0..k` and embeds them `batch` images at a time.
///
/// Augmentation runs on every core in scoped threads while inference is the backend's business;
/// view `v` of frame `f` depends only on `(seed, f, v)`, so the split does not change the cache.
pub fn build(
    embedder: &mut Embedder,
    frames: &Frames,
    augmenter: &Augmenter,
    k: usize,
    batch: usize,
) -> anyhow::Result<Array3<f32>> {
    let n = frames.len();
    let pairs: Vec<(usize, usize)> = (0..n).flat_map(|f| (0..k).map(move |v| (f, v))).collect();
    let bar = progress::bar(pairs.len() as u64, "views");
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let mut out: Option<Array3<f32>> = None;
    for chunk in pairs.chunks(batch.max(1)) {
        let units = augment_parallel(frames, augmenter, chunk, threads)?;
        let rows = embedder.embed_units(&units)?;
        let cache = out.get_or_insert_with(|| Array3::zeros((k, n, rows.ncols())));
        for (&(f, v), row) in chunk.iter().zip(rows.rows()) {
            cache.index_axis_mut(Axis(0), v).row_mut(f).assign(&row);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    out.context("no frames to embed")
}

fn augment_parallel(
    frames: &Frames,
    augmenter: &Augmenter,
    chunk: &[(usize, usize)],
    threads: usize,
) -> anyhow::Result<Vec<Array3<f32>>> {
    let per = chunk.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = chunk
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|&(f, v)| augmenter.augment(frames.unit(f).view(), f as u64, v as u64))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut units = Vec::with_capacity(chunk.len());
        for h in handles {
            units.extend(
                h.join()
                    .map_err(|_| anyhow::anyhow!("an augmentation thread panicked"))??,
            );
        }
        Ok(units)
    })
}

/// Input batches of (un-augmented) frames for BN re-estimation: at most `max_frames`, spread
/// evenly over the set so a long capture's start does not dominate.
pub fn bn_batches(
    frames: &Frames,
    pre: &Preprocessor,
    max_frames: usize,
    batch: usize,
) -> anyhow::Result<Vec<edge_ssl_core::Tensor>> {
    let n = frames.len();
    let take = n.min(max_frames.max(1));
    let idx: Vec<usize> = (0..take).map(|i| i * n / take).collect();
    idx.chunks(batch.max(1))
        .map(|c| {
            let units: Vec<_> = c.iter().map(|&i| frames.input_unit(i, pre)).collect();
            Ok(pre.batch(&units)?)
        })
        .collect()
}

/// Saves the cache as a `(K·N) × D` `.npy` (atomic).
pub fn save(path: &Path, cache: &Array3<f32>) -> anyhow::Result<()> {
    let (k, n, d) = cache.dim();
    let flat: Array2<f32> = cache
        .as_standard_layout()
        .to_owned()
        .into_shape_with_order((k * n, d))?;
    npy::write_f32(path, &flat)?;
    Ok(())
}

/// Loads a cache saved by [`save`] if it has the expected shape; `None` otherwise.
pub fn load(path: &Path, k: usize, n: usize) -> Option<Array3<f32>> {
    let flat = npy::read_f32(path).ok()?;
    let d = flat.ncols();
    if flat.nrows() != k * n {
        return None;
    }
    flat.into_shape_with_order((k, n, d)).ok()
}
