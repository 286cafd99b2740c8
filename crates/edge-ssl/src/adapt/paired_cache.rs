//! Encoder training's cache: two augmented views of every frame, run once through the frozen
//! prefix of the encoder ([`Split::write_prefix`]) on the backend, kept as the prefix's
//! activations so that every epoch runs only the part that trains. Views are rendered and
//! batched exactly as the adapter's view cache does it ([`view_cache::build_stream`], views 0
//! and 1 of each frame); when the whole graph trains there is no prefix and the cache holds
//! the model-ready views themselves.
//!
//! The cache is in memory, so its size — frames × 2 × the activation's floats, known after one
//! probe image — is checked against a limit before the pass, like the view cache's. It is
//! saved in the work directory for a resume.

use std::path::Path;

use edge_ssl_core::{ModelCard, Preprocessor, Tensor, TensorView};
use edge_ssl_runtime::{Backend, RuntimeError, Session, SessionPool, TensorInfo};
use edge_ssl_train::augment::Augmenter;
use ndarray::{Array3, ArrayD, IxDyn};

use super::{AdaptOptions, view_cache};
use crate::error::Context;
use crate::frames::frame_list::FrameList;
use crate::progress::Progress;
use crate::tune::{PairedViews, Split};

const PREFIX: &str = "encoder.prefix.onnx";
/// The work directory's caches: the frames', and the labeled images' (`adapt --labeled`).
pub const FRAMES_CACHE: &str = "paired-views.npy";
pub const LABELED_CACHE: &str = "paired-views-labeled.npy";

/// Same bound as the view cache's: a few GiB an edge device can be expected to hold.
pub const MAX_ACTIVATION_CACHE_BYTES: u64 = 2 << 30;

/// The paired cache of `frames` for `split` of the encoder whose card is `card`, saved in
/// `work` as `cache`: reloaded when resuming, else computed on `backend` (and saved).
#[allow(clippy::too_many_arguments)]
pub fn build(
    backend: &dyn Backend,
    card: &ModelCard,
    pre: &Preprocessor,
    split: &Split,
    frames: &FrameList,
    opts: &AdaptOptions,
    work: &Path,
    resuming: bool,
    progress: &Progress,
    cache: &str,
) -> crate::Result<PairedViews> {
    let prefix = work.join(PREFIX);
    let sessions = if split.write_prefix(&prefix)? {
        backend
            .load_parallel(&prefix, card)
            .with_context(|| format!("loading {} with {}", prefix.display(), backend.name()))?
    } else {
        vec![Box::new(Unchanged) as Box<dyn Session>]
    };
    let mut pool = SessionPool::new(sessions)?;
    let item = probe(&mut pool, frames, pre)?;
    let floats: usize = item.iter().product();
    let n = frames.len();
    let bytes = (n as u64)
        .saturating_mul(2)
        .saturating_mul(floats as u64)
        .saturating_mul(4);
    if bytes > MAX_ACTIVATION_CACHE_BYTES {
        return Err(crate::Error::ActivationCacheTooLarge {
            frames: n,
            floats,
            cut: split.cut().unwrap_or(&card.input.name).to_string(),
            bytes,
            limit_gib: MAX_ACTIVATION_CACHE_BYTES >> 30,
        });
    }
    let path = work.join(cache);
    let saved = resuming
        .then(|| view_cache::load(&path, 2, n))
        .flatten()
        .filter(|c| c.dim().2 == floats);
    let cache = match saved {
        Some(cache) => cache,
        None => {
            let cache = render(&mut pool, card, pre, frames, opts, 0, progress)?;
            view_cache::save(&path, &cache)?;
            cache
        }
    };
    split_views(cache, &item)
}

/// The pair of epoch `epoch` when the whole encoder trains (`split` has no prefix): views
/// `2·epoch` and `2·epoch + 1` of every frame, model-ready. Epoch 0's pair is [`build`]'s, so
/// a run that stops and resumes trains on the same images. Only a whole encoder gets fresh
/// views: without a prefix a pair costs only its rendering, while a frozen prefix would have
/// to run again on every view of every epoch. `item` is one frame's shape in the pair
/// (epoch 0's [`PairedViews::item_shape`]).
pub fn fresh_pair(
    card: &ModelCard,
    pre: &Preprocessor,
    frames: &FrameList,
    opts: &AdaptOptions,
    epoch: usize,
    item: &[usize],
    progress: &Progress,
) -> crate::Result<PairedViews> {
    let mut pool = SessionPool::new(vec![Box::new(Unchanged) as Box<dyn Session>])?;
    let cache = render(&mut pool, card, pre, frames, opts, 2 * epoch, progress)?;
    split_views(cache, item)
}

/// Views `first_view` and `first_view + 1` of every frame through `pool`, as `(2, N, floats)`.
fn render(
    pool: &mut SessionPool,
    card: &ModelCard,
    pre: &Preprocessor,
    frames: &FrameList,
    opts: &AdaptOptions,
    first_view: usize,
    progress: &Progress,
) -> crate::Result<Array3<f32>> {
    let input = &card.input;
    let augmenter = Augmenter::new(opts.augment.clone(), input.height, input.width, opts.seed)?;
    let (cache, _) = view_cache::build_stream(
        frames.pass(pre)?,
        frames.len(),
        &augmenter,
        pre,
        view_cache::Slots::views_from(2, first_view),
        opts.images_per_call(input),
        opts.render_workers,
        pool,
        progress,
    )?;
    Ok(cache)
}

/// The prefix's output shape for one frame (batch dimension dropped), from frame 0.
fn probe(
    pool: &mut SessionPool,
    frames: &FrameList,
    pre: &Preprocessor,
) -> crate::Result<Vec<usize>> {
    let Some(first) = frames.pass(pre)?.next() else {
        return Err(crate::Error::Data("no frames to train on".into()));
    };
    let unit = pre.resize_unit(first?.mapv(|v| v as f32 / 255.0).view());
    let batch = pre.batch(&[unit])?;
    let mut shape = None;
    pool.run_batches(
        std::iter::once(Ok::<_, crate::Error>(batch)),
        |_, outputs| {
            shape = outputs.first().map(|o| o.shape().to_vec());
            Ok(())
        },
    )?;
    match shape {
        Some(s) if s.first() == Some(&1) && s.len() >= 2 => Ok(s[1..].to_vec()),
        other => Err(crate::Error::Model(format!(
            "the frozen part returned shape {other:?} for one image"
        ))),
    }
}

/// `(2, N, floats)` → the two views as `N × item` arrays, without copying the first.
fn split_views(cache: Array3<f32>, item: &[usize]) -> crate::Result<PairedViews> {
    let n = cache.dim().1;
    let shape: Vec<usize> = std::iter::once(n).chain(item.iter().copied()).collect();
    let (mut a, offset) = cache.into_raw_vec_and_offset();
    debug_assert_eq!(offset.unwrap_or(0), 0);
    let b = a.split_off(a.len() / 2);
    let a = ArrayD::from_shape_vec(IxDyn(&shape), a)?;
    let b = ArrayD::from_shape_vec(IxDyn(&shape), b)?;
    Ok(PairedViews::new(a, b)?)
}

/// A "session" that returns its input: the cache of a graph trained whole is the views.
struct Unchanged;

impl Session for Unchanged {
    fn inputs(&self) -> &[TensorInfo] {
        &[]
    }

    fn outputs(&self) -> &[TensorInfo] {
        &[]
    }

    fn run(&mut self, inputs: &[TensorView]) -> Result<Vec<Tensor>, RuntimeError> {
        let input = inputs
            .first()
            .ok_or_else(|| RuntimeError::Input("no input".into()))?;
        Ok(vec![input.to_owned()])
    }

    fn describe(&self) -> String {
        "the views themselves".into()
    }
}
