//! The BN phase: the encoder every later step uses. With `bn_adapt`, BatchNorm statistics are
//! re-estimated on the frames (forward passes only) and the patched ONNX goes into the work
//! directory (one pass that reads the frames again); without it the source encoder is copied
//! there. A resumed run reuses what an
//! interrupted one already wrote.

use std::path::{Path, PathBuf};

use crate::error::Context;
use edge_ssl_core::{Preprocessor, write_atomic};
use std::ops::ControlFlow;

use edge_ssl_runtime::{Backend, BnReport, reestimate_batch_norm_stream};

use crate::progress::Progress;

use super::bn_stream::Streamed;
use super::{AdaptOptions, view_cache};
use crate::frames::frame_list::FrameList;
use crate::model::directory::{self as model_dir, ENCODER};
use crate::model::reference::ResolvedModel;

/// The work directory's encoder and, when BN was re-estimated, its report; `streamed` holds
/// statistics already re-estimated while the frames were listed ([`super::bn_stream`]).
#[allow(clippy::too_many_arguments)]
pub fn encoder(
    backend: &dyn Backend,
    model: &ResolvedModel,
    frames: &FrameList,
    streamed: Option<Streamed>,
    opts: &AdaptOptions,
    work: &Path,
    resuming: bool,
    progress: &Progress,
) -> crate::Result<(PathBuf, serde_json::Value)> {
    let encoder = work.join(ENCODER);
    let report_path = work.join("bn.json");
    if resuming && encoder.is_file() {
        let report = std::fs::read_to_string(&report_path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        return Ok((encoder, report));
    }
    if !opts.bn_adapt {
        model_dir::copy_encoder_atomic(&model.onnx, &encoder)?;
        return Ok((encoder, serde_json::Value::Null));
    }
    let beside_listing = streamed.is_some();
    let report = match streamed {
        Some(streamed) => {
            streamed
                .file
                .persist(&encoder)
                .map_err(|e| crate::Error::io(encoder.as_path(), e.error))?;
            streamed.report
        }
        None => from_list(backend, model, frames, opts, &encoder, progress)?,
    };
    match report.layers.len() {
        // torch's dynamo exporter folds every BatchNormalization into its convolution.
        0 => progress.note(
            "no BatchNormalization layer to re-estimate: the export has none (an exporter may have \
             folded them into the convolutions; torch.onnx.export(..., dynamo=False) keeps them)",
        ),
        layers => progress.note(format_args!(
            "re-estimated {layers} BatchNorm layer(s) on {} frames ({} passes)",
            report.frames, report.passes
        )),
    }
    let mut report = serde_json::to_value(&report)?;
    // Whether the pass ran while the frames were listed (`bn_stream`), for timings that show
    // no BN phase of its own.
    report["beside_listing"] = beside_listing.into();
    write_atomic(&report_path, |w| w.write_all(report.to_string().as_bytes()))?;
    Ok((encoder, report))
}

/// Re-estimates BN statistics from a pass over the listed frames into `encoder`.
fn from_list(
    backend: &dyn Backend,
    model: &ResolvedModel,
    frames: &FrameList,
    opts: &AdaptOptions,
    encoder: &Path,
    progress: &Progress,
) -> crate::Result<BnReport> {
    let pre = Preprocessor::new(model.card.input.clone());
    let total = view_cache::bn_frame_count(frames.len(), opts.bn_frames);
    // The runtime takes its own error type: a frame that could not be read again is kept here
    // whole and returned instead of the runtime's stand-in.
    let failed = std::sync::Mutex::new(None);
    let mut batches = view_cache::bn_batches(
        frames.pass_at_input(&pre)?,
        frames.len(),
        &pre,
        opts.bn_frames,
        opts.images_per_call(&model.card.input),
    )
    .map(|batch| {
        batch.map_err(|e| {
            let message = e.to_string();
            *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            edge_ssl_runtime::RuntimeError::Input(message)
        })
    });
    let mut phase = progress.phase("BN statistics", Some(total as u64));
    let report = reestimate_batch_norm_stream(
        backend,
        &model.onnx,
        &model.card,
        &mut batches,
        Some(total),
        encoder,
        &mut |p| {
            let step = p.frames_done as u64 - phase.done();
            match phase.advance(step) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        },
    );
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let report = report.context("re-estimating BatchNorm statistics")?;
    phase.finish();
    Ok(report)
}
