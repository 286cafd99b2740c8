//! The expensive half of `adapt`: K augmented views of every frame, each run once through the
//! frozen (BN-patched) encoder, stacked into a `K × N × D` cache. Epochs then cost only MLP
//! math, and the cache is saved so `--resume` after a crash skips straight to training.
//!
//! Views are rendered straight into model-ready batches on a producer thread while the
//! encoder's sessions run earlier batches side by side ([`SessionPool`]), and only embeddings
//! are kept: 5,000 frames × 8 views hold 20 MB of embeddings and a few batches of images.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::error::bail;
use edge_ssl_core::{Preprocessor, Tensor, npy};
use edge_ssl_runtime::SessionPool;
use edge_ssl_train::augment::Augmenter;
use ndarray::{Array2, Array3, Array4, ArrayView3, Axis, s};

use crate::embed::embedder::embedding_rows;
use crate::frames::image_set::Frames;
use crate::progress::Progress;

/// Views `0..k` of every frame of `frames`, embedded `batch` images at a time by the sessions of
/// `pool`. Returns the cache and the seconds spent rendering (on the producer thread,
/// overlapping the encoder).
///
/// View `v` of frame `f` depends only on `(seed, f, v)`, and sessions of one pool compute
/// identical rows, so neither the batch size, the number of rendering `workers` nor the number
/// of sessions changes the cache.
#[allow(clippy::too_many_arguments)]
pub fn build(
    frames: &Frames,
    augmenter: &Augmenter,
    pre: &Preprocessor,
    k: usize,
    batch: usize,
    workers: usize,
    pool: &mut SessionPool,
    progress: &Progress,
) -> crate::Result<(Array3<f32>, f64)> {
    let pass = frames.pixels.iter().map(|p| Ok(p.clone()));
    build_stream(
        pass,
        frames.len(),
        augmenter,
        pre,
        Slots::views(k),
        batch,
        workers,
        pool,
        progress,
    )
}

/// What each frame's slots of the cache hold: `views` augmented views and, with `plain`, one
/// more (the last) with the frame un-augmented, resized as `run` sees it — the rows a novelty
/// model fits on, embedded in the same pass instead of reading every frame once more.
#[derive(Clone, Copy, Debug)]
pub struct Slots {
    pub views: usize,
    pub plain: bool,
    /// The augmented slots are views `first_view..first_view + views` of each frame (encoder
    /// training renders a fresh pair every epoch: views `2e` and `2e + 1`).
    pub first_view: usize,
}

impl Slots {
    pub fn views(views: usize) -> Self {
        Slots {
            views,
            plain: false,
            first_view: 0,
        }
    }

    /// `views` views of each frame, starting at view `first`.
    pub fn views_from(views: usize, first: usize) -> Self {
        Slots {
            first_view: first,
            ..Slots::views(views)
        }
    }

    /// Slots per frame.
    pub fn count(self) -> usize {
        self.views + usize::from(self.plain)
    }

    /// A cache built with these slots, split into its views (`views × n × D`) and, with
    /// `plain`, the un-augmented frames' rows (`n × D`).
    pub fn split(self, cache: Array3<f32>) -> (Array3<f32>, Option<Array2<f32>>) {
        if !self.plain {
            return (cache, None);
        }
        let plain = cache.index_axis(Axis(0), self.views).to_owned();
        (cache.slice_move(s![..self.views, .., ..]), Some(plain))
    }
}

/// Frames the reading thread of [`build_stream`] may have decoded ahead of the renderer.
const READ_AHEAD: usize = 8;

/// [`build`] over a pass that yields the `n` frames one at a time: all slots of a frame are
/// rendered together, so only the frames of the batches in flight are in memory. The cache is
/// `slots.count() × n × D`, the plain slot (if any) last.
///
/// The pass is read on a thread of its own, up to 8 frames ahead (`READ_AHEAD`): frames that were
/// not kept are decoded and resized again there, beside the rendering and the encoder, instead
/// of on the producer thread between batches while the sessions wait for one.
#[allow(clippy::too_many_arguments)]
pub fn build_stream(
    frames: impl Iterator<Item = crate::Result<Array3<u8>>> + Send,
    n: usize,
    augmenter: &Augmenter,
    pre: &Preprocessor,
    slots: Slots,
    batch: usize,
    workers: usize,
    pool: &mut SessionPool,
    progress: &Progress,
) -> crate::Result<(Array3<f32>, f64)> {
    let k = slots.count();
    if n == 0 || slots.views == 0 {
        bail!(Options, "no frames to embed");
    }
    let (total, batch) = (n * k, batch.max(1));
    let mut phase = progress.phase("views", Some(total as u64));
    let render_nanos = AtomicU64::new(0);
    let mut cache: Option<Array2<f32>> = None;
    std::thread::scope(|scope| -> crate::Result<()> {
        let mut window = Window {
            frames: read_ahead(scope, frames),
            first: 0,
            held: VecDeque::new(),
        };
        // Batches the sessions have run come back to be rendered into again.
        let (spent, reuse) = std::sync::mpsc::channel();
        // Flat index `i` is view `i % k` of frame `i / k`: a frame's views are rendered together.
        let nanos = &render_nanos;
        let inputs = (0..total).step_by(batch).map(move |start| {
            let end = (start + batch).min(total);
            window.hold(start / k, (end - 1) / k, n)?;
            let t = Instant::now();
            let spare = reuse.try_recv().ok();
            let rendered = render_batch(&window, augmenter, pre, slots, start..end, workers, spare);
            nanos.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            rendered
        });
        pool.run_batches_returning(inputs, Some(spent), |index, outputs| {
            let start = index * batch;
            let len = batch.min(total - start);
            let rows = embedding_rows(outputs, len)?;
            let out = cache.get_or_insert_with(|| Array2::zeros((total, rows.ncols())));
            if rows.ncols() != out.ncols() {
                bail!(
                    Options,
                    "the encoder returned rows of {} and {} values",
                    out.ncols(),
                    rows.ncols()
                );
            }
            for (j, row) in rows.outer_iter().enumerate() {
                let i = start + j;
                out.row_mut((i % k) * n + i / k).assign(&row);
            }
            phase.advance(len as u64)?;
            Ok(())
        })
    })?;
    phase.finish();
    let Some(cache) = cache else {
        bail!(Options, "no frames to embed")
    };
    let d = cache.ncols();
    let render = render_nanos.load(Ordering::Relaxed) as f64 * 1e-9;
    Ok((cache.into_shape_with_order((k, n, d))?, render))
}

/// `items` pulled on a thread of `scope`, up to [`READ_AHEAD`] ahead of the returned iterator.
/// Dropping the iterator (an error, or every item taken) stops the reading at its next item.
fn read_ahead<'s, T: Send + 's>(
    scope: &'s std::thread::Scope<'s, '_>,
    items: impl Iterator<Item = T> + Send + 's,
) -> impl Iterator<Item = T> {
    let (ahead, read) = std::sync::mpsc::sync_channel(READ_AHEAD);
    scope.spawn(move || {
        for item in items {
            if ahead.send(item).is_err() {
                break;
            }
        }
    });
    read.into_iter()
}

/// The frames the batch being rendered needs, pulled from a pass and dropped once rendered.
struct Window<I> {
    frames: I,
    /// Index of `held[0]`.
    first: usize,
    held: VecDeque<Array3<u8>>,
}

impl<I: Iterator<Item = crate::Result<Array3<u8>>>> Window<I> {
    /// Holds frames `from..=to` (of `n`), dropping earlier ones.
    fn hold(&mut self, from: usize, to: usize, n: usize) -> crate::Result<()> {
        while self.first < from && !self.held.is_empty() {
            self.held.pop_front();
            self.first += 1;
        }
        while self.first + self.held.len() <= to {
            match self.frames.next() {
                Some(frame) => self.held.push_back(frame?),
                None => bail!(
                    Data,
                    "the source ended after {} of its {n} frames",
                    self.first + self.held.len()
                ),
            }
        }
        Ok(())
    }

    fn pixels(&self, frame: usize) -> ArrayView3<'_, u8> {
        self.held[frame - self.first].view()
    }
}

/// Renders flat indices `range` (index `i` is slot `i % k` of frame `i / k`) into one input
/// batch, splitting the rows over `workers` threads. `spare`, a batch the sessions are done
/// with, is written over when it has this batch's shape (every value is), instead of a new
/// zeroed one.
fn render_batch<I: Iterator<Item = crate::Result<Array3<u8>>>>(
    window: &Window<I>,
    augmenter: &Augmenter,
    pre: &Preprocessor,
    slots: Slots,
    range: std::ops::Range<usize>,
    workers: usize,
    spare: Option<Tensor>,
) -> crate::Result<Tensor> {
    let k = slots.count();
    let spec = pre.spec();
    let (c, h, w) = (spec.channels, spec.height, spec.width);
    let shape = (range.len(), c, h, w);
    let mut units = spare
        .and_then(|t| t.into_dimensionality::<ndarray::Ix4>().ok())
        .filter(|t| t.dim() == shape && t.is_standard_layout())
        .unwrap_or_else(|| Array4::<f32>::zeros(shape));
    let buffer = units
        .as_slice_mut()
        .ok_or_else(|| crate::Error::Data("a view batch is not contiguous".into()))?;
    let per = range.len().div_ceil(workers.max(1)).max(1);
    let held: Vec<ArrayView3<u8>> = (range.start / k..=(range.end - 1) / k)
        .map(|f| window.pixels(f))
        .collect();
    let held = &held;
    let base = range.start / k;
    std::thread::scope(|s| -> crate::Result<()> {
        let jobs: Vec<_> = buffer
            .chunks_mut(per * c * h * w)
            .enumerate()
            .map(|(j, part)| {
                let first = range.start + j * per;
                move || -> crate::Result<()> {
                    let mut scratch = Vec::new();
                    for (i, out) in part.chunks_exact_mut(c * h * w).enumerate() {
                        let (view, frame) = ((first + i) % k, (first + i) / k);
                        let pixels = held[frame - base];
                        if view == slots.views {
                            let unit = pre.resize_unit(pixels.mapv(|v| v as f32 / 255.0).view());
                            out.iter_mut().zip(unit.iter()).for_each(|(o, u)| *o = *u);
                        } else {
                            let view = (slots.first_view + view) as u64;
                            augmenter.render(pixels, frame as u64, view, out, &mut scratch)?;
                        }
                        // Normalized here, while the view is in this core's cache, and on
                        // every rendering thread instead of on one after they all finish.
                        pre.normalize_unit(out);
                    }
                    Ok(())
                }
            })
            .collect();
        let mut jobs = jobs.into_iter();
        // The first share runs on this thread; only the others need one of their own.
        let own = jobs.next();
        let handles: Vec<_> = jobs.map(|job| s.spawn(job)).collect();
        if let Some(mut job) = own {
            job()?;
        }
        for h in handles {
            h.join()
                .map_err(|_| crate::Error::Data("a view rendering thread panicked".into()))??;
        }
        Ok(())
    })?;
    Ok(pre.stack_normalized(units)?)
}

/// Input batches of (un-augmented) frames for BN re-estimation, from a pass over the `n`
/// frames: at most `max_frames`, spread evenly over the set so a long capture's start does not
/// dominate. A frame the pass fails to give ends the batches with an error.
pub fn bn_batches<'a>(
    frames: impl Iterator<Item = crate::Result<Array3<u8>>> + Send + 'a,
    n: usize,
    pre: &'a Preprocessor,
    max_frames: usize,
    batch: usize,
) -> impl Iterator<Item = crate::Result<Tensor>> + Send + 'a {
    let take = n.min(max_frames.max(1));
    // Frame `j * n / take` is the j-th chosen one (increasing, since take <= n).
    let chosen = frames
        .enumerate()
        .filter(move |(i, _)| take > 0 && (i * take).div_ceil(n) != ((i + 1) * take).div_ceil(n))
        .map(|(_, frame)| Some(frame));
    // Exactly `take` frames: a pass that ends early gives errors in place of the missing ones.
    let exactly = chosen
        .chain(std::iter::repeat_with(|| None))
        .take(take)
        .map(move |frame| {
            frame.unwrap_or_else(|| {
                Err(crate::Error::Data(format!(
                    "the source ended before its {n} frames"
                )))
            })
        });
    frame_batches(exactly, pre, batch)
}

/// Model-ready batches of `batch` frames (the last one shorter), in order, made one at a time
/// as the caller pulls them: only the batch in flight (and the one being made beside it) is ever
/// in memory. A frame that is an error makes its batch an error.
pub fn frame_batches<'a>(
    mut frames: impl Iterator<Item = crate::Result<Array3<u8>>> + Send + 'a,
    pre: &'a Preprocessor,
    batch: usize,
) -> impl Iterator<Item = crate::Result<Tensor>> + Send + 'a {
    let batch = batch.max(1);
    std::iter::from_fn(move || {
        let chunk: Vec<_> = frames.by_ref().take(batch).collect();
        if chunk.is_empty() {
            return None;
        }
        let batch = || -> crate::Result<Tensor> {
            let frames = chunk.into_iter().collect::<crate::Result<Vec<_>>>()?;
            let views: Vec<_> = frames.iter().map(|f| f.view()).collect();
            Ok(pre.batch_bytes(&views)?)
        };
        Some(batch())
    })
}

/// How many frames [`bn_batches`] yields out of `n`.
pub fn bn_frame_count(n: usize, max_frames: usize) -> usize {
    n.min(max_frames.max(1))
}

/// Saves the cache as a `(K·N) × D` `.npy` (atomic).
pub fn save(path: &Path, cache: &Array3<f32>) -> crate::Result<()> {
    let (k, n, d) = cache.dim();
    let flat = cache.view().into_shape_with_order((k * n, d))?;
    npy::write_f32(path, flat)?;
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

#[cfg(test)]
mod tests {
    use edge_ssl_core::{InputSpec, Layout, ResizeMode, TensorView};
    use edge_ssl_runtime::{RuntimeError, Session, TensorInfo};
    use edge_ssl_train::augment::AugmentConfig;
    use ndarray::Axis;

    use super::*;

    fn frames(n: usize) -> Frames {
        Frames {
            paths: (0..n).map(|i| format!("f{i}").into()).collect(),
            pixels: (0..n)
                .map(|i| {
                    Array3::from_shape_fn((1, 20, 24), |(_, y, x)| {
                        ((i * 31 + y * 7 + x * 3) % 256) as u8
                    })
                })
                .collect(),
            skipped: Vec::new(),
        }
    }

    fn pre() -> Preprocessor {
        Preprocessor::new(InputSpec {
            name: "input".into(),
            layout: Layout::Nchw,
            height: 8,
            width: 8,
            channels: 1,
            mean: vec![0.5],
            std: vec![0.25],
            resize: ResizeMode::Stretch,
        })
    }

    /// A stand-in encoder whose row for an image depends on that image alone; it fails on
    /// its call number `fail_at`.
    struct FakeEncoder {
        calls: usize,
        fail_at: Option<usize>,
    }

    impl Session for FakeEncoder {
        fn inputs(&self) -> &[TensorInfo] {
            &[]
        }

        fn outputs(&self) -> &[TensorInfo] {
            &[]
        }

        fn run(&mut self, inputs: &[TensorView]) -> edge_ssl_runtime::Result<Vec<Tensor>> {
            self.calls += 1;
            if self.fail_at == Some(self.calls) {
                return Err(RuntimeError::Input("encoder broke".into()));
            }
            Ok(vec![fake_rows(inputs[0].clone()).into_dyn()])
        }

        fn describe(&self) -> String {
            "fake".into()
        }
    }

    fn fake_rows(batch: TensorView) -> Array2<f32> {
        let rows: Vec<f32> = batch
            .axis_iter(Axis(0))
            .flat_map(|img| {
                let v: Vec<f32> = img.iter().copied().collect();
                [v.iter().sum::<f32>(), v[0], v[v.len() - 1]]
            })
            .collect();
        Array2::from_shape_vec((batch.shape()[0], 3), rows).unwrap()
    }

    fn pool(sessions: usize, fail_at: Option<usize>) -> SessionPool {
        let sessions: Vec<Box<dyn Session>> = (0..sessions)
            .map(|_| Box::new(FakeEncoder { calls: 0, fail_at }) as Box<dyn Session>)
            .collect();
        SessionPool::new(sessions).unwrap()
    }

    #[test]
    fn the_cache_does_not_depend_on_batching_or_threads() {
        let (frames, pre) = (frames(13), pre());
        let augmenter = Augmenter::new(AugmentConfig::camera(), 8, 8, 5).unwrap();
        let build_with = |a: &Augmenter, batch, workers, sessions| {
            build(
                &frames,
                a,
                &pre,
                3,
                batch,
                workers,
                &mut pool(sessions, None),
                &Progress::silent(),
            )
            .unwrap()
            .0
        };
        let want = build_with(&augmenter, 64, 1, 1);
        assert_eq!(want.dim(), (3, 13, 3));
        for (batch, workers, sessions) in [(1, 1, 2), (5, 3, 1), (7, 2, 3), (39, 4, 2)] {
            let got = build_with(&augmenter, batch, workers, sessions);
            assert_eq!(
                got, want,
                "batch {batch}, {workers} workers, {sessions} sessions"
            );
        }
        // Row (v, f) is view v of frame f, as the augmenter renders it alone.
        let view = augmenter.augment(frames.pixels[4].view(), 4, 2).unwrap();
        let batch = pre.batch(&[view]).unwrap();
        assert_eq!(
            fake_rows(batch.view()).row(0),
            want.slice(ndarray::s![2, 4, ..])
        );
        let other = Augmenter::new(AugmentConfig::camera(), 8, 8, 6).unwrap();
        assert_ne!(build_with(&other, 64, 1, 1), want);
    }

    /// With a plain slot, the views are the same as without it, and the last slot holds each
    /// frame un-augmented: the row the bare encoder gives for that frame's input batch (as the
    /// novelty phase embedded it on its own), whatever the batching.
    #[test]
    fn the_plain_slot_is_the_un_augmented_frame_and_leaves_the_views_alone() {
        let (frames, pre) = (frames(9), pre());
        let augmenter = Augmenter::new(AugmentConfig::camera(), 8, 8, 5).unwrap();
        let build_with = |slots, batch| {
            let pass = frames.pixels.clone().into_iter().map(Ok);
            let silent = Progress::silent();
            build_stream(
                pass,
                9,
                &augmenter,
                &pre,
                slots,
                batch,
                2,
                &mut pool(2, None),
                &silent,
            )
            .unwrap()
            .0
        };
        let plain = Slots {
            views: 3,
            plain: true,
            first_view: 0,
        };
        let with = build_with(plain, 4);
        // Views from an offset are those views of the frames (encoder training's fresh pairs).
        assert_eq!(
            build_with(Slots::views_from(2, 1), 4),
            with.slice(ndarray::s![1..3, .., ..])
        );
        assert_eq!(with.dim(), (4, 9, 3));
        assert_eq!(
            with.slice(ndarray::s![..3, .., ..]),
            build_with(Slots::views(3), 4)
        );
        assert_eq!(build_with(plain, 7), with);
        let units: Vec<_> = (0..9).map(|i| frames.input_unit(i, &pre)).collect();
        let want = fake_rows(pre.batch(&units).unwrap().view());
        assert_eq!(with.index_axis(Axis(0), 3), want);
    }

    #[test]
    fn an_encoder_error_stops_the_build() {
        let augmenter = Augmenter::new(AugmentConfig::camera(), 8, 8, 5).unwrap();
        for sessions in [1, 2] {
            let err = build(
                &frames(40),
                &augmenter,
                &pre(),
                4,
                4,
                2,
                &mut pool(sessions, Some(2)),
                &Progress::silent(),
            )
            .unwrap_err();
            assert!(err.to_string().contains("encoder broke"), "{err:#}");
        }
    }

    #[test]
    fn bn_batches_take_frames_spread_evenly_from_one_pass() {
        let (frames, pre) = (frames(10), pre());
        let pass = frames.pixels.clone().into_iter().map(Ok);
        let batches: Vec<Tensor> = bn_batches(pass, 10, &pre, 4, 3)
            .collect::<crate::Result<_>>()
            .unwrap();
        assert_eq!(batches.len(), 2);
        let chosen: Vec<_> = [0, 2, 5, 7].map(|i| frames.input_unit(i, &pre)).into();
        let want = pre.batch(&chosen).unwrap();
        let got = ndarray::concatenate(Axis(0), &[batches[0].view(), batches[1].view()]).unwrap();
        assert_eq!(got, want);
        assert_eq!(bn_frame_count(10, 4), 4);
        assert_eq!(bn_frame_count(3, 2048), 3);
    }

    #[test]
    fn a_pass_that_ends_early_is_an_error() {
        let (frames, pre) = (frames(5), pre());
        let augmenter = Augmenter::new(AugmentConfig::camera(), 8, 8, 5).unwrap();
        let pass = frames.pixels.clone().into_iter().take(3).map(Ok);
        let err = build_stream(
            pass,
            5,
            &augmenter,
            &pre,
            Slots::views(2),
            4,
            1,
            &mut pool(1, None),
            &Progress::silent(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("ended after 3 of its 5 frames"),
            "{err}"
        );
        let pass = frames.pixels.clone().into_iter().take(1).map(Ok);
        let err = bn_batches(pass, 5, &pre, 5, 2)
            .find_map(Result::err)
            .unwrap();
        assert!(err.to_string().contains("ended before"), "{err}");
    }

    #[test]
    fn a_saved_cache_loads_back_only_with_its_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("views.npy");
        let cache = Array3::from_shape_fn((2, 3, 4), |(a, b, c)| (a * 100 + b * 10 + c) as f32);
        save(&path, &cache).unwrap();
        assert_eq!(load(&path, 2, 3), Some(cache));
        assert_eq!(load(&path, 2, 4), None);
    }
}
