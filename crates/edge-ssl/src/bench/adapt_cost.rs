//! `edge-ssl bench --adapt DATA`: what adaptation costs beside the forward passes it needs.
//!
//! For each backend × threads, two fresh child processes run on the same model, frames, backend
//! and threads: one runs `adapt` whole (listing the frames, BN statistics, view cache, epochs,
//! writing the model directory into a temporary folder), the other loads the encoder and embeds
//! every frame (1 + views) times — one decoding pass (timed: no frame is held from the untimed
//! listing), the frame resized to the input, no augmentation. `adapt_wall / embed_wall` is the overhead of adapting over the passes it
//! needs; each child's VmHWM is its own peak RSS, since nothing ran in it before.

use std::path::Path;
use std::time::Instant;

use crate::adapt::{AdaptOptions, adapt};
use crate::error::{Context, bail};
use crate::frames::frame_list::FrameList;
use crate::frames::tap::Tap;
use crate::model::reference::ResolvedModel;
use crate::progress::Progress;
use edge_ssl_core::Preprocessor;
use edge_ssl_runtime::{BackendKind, BackendOptions, SessionPool, select_backend};
use edge_ssl_source::SourceOptions;
use serde::{Deserialize, Serialize};

use super::host::proc_status_mb;

/// What one child measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChildResult {
    /// `adapt` or `embed`.
    pub what: String,
    pub frames: usize,
    /// Encoder images run: views × frames (+ BN frames) for adapt, (1 + views) × frames for embed.
    pub images: usize,
    pub wall_s: f64,
    pub peak_rss_mb: Option<f64>,
    /// adapt's seconds per phase (`null` for embed).
    pub phases: serde_json::Value,
}

type UnitIter = Box<dyn Iterator<Item = crate::Result<ndarray::Array3<f32>>> + Send>;

/// The settings both children share.
pub struct Settings<'a> {
    pub model: &'a ResolvedModel,
    pub data: &'a Path,
    pub sampling: SourceOptions,
    pub views: usize,
    pub epochs: usize,
    pub options: BackendOptions,
}

impl Settings<'_> {
    /// `adapt`'s own defaults, as the command line sets them: the novelty model scores the
    /// encoder's feature means when it has any (`--novelty-input auto`), which costs more than
    /// scoring embeddings (MobileNetV3-Small, 1,000 frames: 2.3–2.9 s against 1.5 s).
    fn adapt_options(&self, threads: usize) -> crate::Result<AdaptOptions> {
        let novelty = crate::novelty::prefer_feature_means(
            crate::novelty::NoveltyConfig::default(),
            &self.model.onnx,
        )?;
        Ok(AdaptOptions {
            views: self.views,
            epochs: self.epochs,
            sampling: self.sampling.clone(),
            novelty: Some(novelty),
            ..AdaptOptions::default()
        }
        .with_render_workers(threads)
        .with_train_threads(threads))
    }
}

/// The child side: `what` is `adapt` or `embed`, on `engine` with `threads`.
pub fn measure(
    settings: &Settings,
    what: &str,
    engine: &str,
    threads: usize,
) -> crate::Result<ChildResult> {
    let kind = BackendKind::parse(engine)?;
    let (backend, _) = select_backend(kind, &settings.options.clone().with_threads(Some(threads)))?;
    let opts = settings.adapt_options(threads)?;
    let model = settings.model;
    let progress = Progress::silent();
    match what {
        "adapt" => {
            let out =
                std::env::temp_dir().join(format!("edge-ssl-bench-adapt-{}", std::process::id()));
            let start = Instant::now();
            let report = adapt(
                backend.as_ref(),
                model,
                settings.data,
                &out,
                &opts,
                &progress,
            );
            let wall_s = start.elapsed().as_secs_f64();
            let _ = std::fs::remove_dir_all(&out);
            let report = report?;
            let bn_frames = if opts.bn_adapt {
                report.frames.min(opts.bn_frames)
            } else {
                0
            };
            Ok(ChildResult {
                what: what.into(),
                frames: report.frames,
                images: report.frames * report.views + bn_frames,
                wall_s,
                peak_rss_mb: proc_status_mb("VmHWM:"),
                phases: serde_json::to_value(&report.seconds)?,
            })
        }
        "embed" => {
            let pre = Preprocessor::new(model.card.input.clone());
            // Listed without holding any frame: the timed pass decodes every one, as `embed`
            // would (held frames would leave decoding out of the baseline).
            let sampling = &settings.sampling;
            let frames = FrameList::scan_holding(
                settings.data,
                &pre,
                sampling,
                0,
                None,
                &mut Tap::none(),
                &progress,
            )?;
            let repeat = 1 + settings.views;
            let start = Instant::now();
            let sessions = backend
                .load_parallel(&model.onnx, &model.card)
                .with_context(|| format!("loading {} with {engine}", model.onnx.display()))?;
            let mut pool = SessionPool::new(sessions)?;
            let batch = opts.images_per_call(&model.card.input);
            let pre = &pre;
            // Every frame, resized to the input, `repeat` times in a row, `batch` at a time.
            let mut units = frames.pass(pre)?.flat_map(move |frame| -> UnitIter {
                match frame {
                    Ok(pixels) => {
                        let unit = pre.resize_unit(pixels.mapv(|v| v as f32 / 255.0).view());
                        Box::new(std::iter::repeat_n(unit, repeat).map(Ok))
                    }
                    Err(e) => Box::new(std::iter::once(Err(e))),
                }
            });
            let inputs = std::iter::from_fn(move || {
                let mut next = Vec::with_capacity(batch);
                for unit in units.by_ref() {
                    match unit {
                        Ok(unit) => next.push(unit),
                        Err(e) => return Some(Err(e)),
                    }
                    if next.len() == batch {
                        break;
                    }
                }
                (!next.is_empty()).then(|| pre.batch(&next).map_err(crate::Error::from))
            });
            let mut images = 0usize;
            pool.run_batches(inputs, |_, outputs| {
                images += outputs.first().map_or(0, |t| t.shape()[0]);
                Ok::<_, crate::Error>(())
            })?;
            let wall_s = start.elapsed().as_secs_f64();
            Ok(ChildResult {
                what: what.into(),
                frames: frames.len(),
                images,
                wall_s,
                peak_rss_mb: proc_status_mb("VmHWM:"),
                phases: serde_json::Value::Null,
            })
        }
        other => bail!(Options, "unknown adapt measurement `{other}`"),
    }
}
