//! BatchNorm statistics while the frames are still being listed.
//!
//! `adapt` reads its frames once to learn what there is, holding each as `run` reads it, and the
//! BN pass used to start after that. For a video, decoded by one `ffmpeg` and resized on one
//! thread, the second core idled through the whole listing; for a folder the probe's load and
//! the listing's last blocks left cores idle too. Here the listing runs on a thread of its own
//! and hands each frame through a [`Tap`] to the BN pass, which runs on this thread as frames
//! come. The statistics are the ones [`bn_phase::encoder`](super::bn_phase::encoder) computes
//! from the finished list (the same frames, in the same batches and order: bit-identical), and
//! they are used only when the tap says every frame of the list went through; otherwise (more
//! frames than `--bn-frames`, frames not held as `run` reads them, a resumed run) the BN phase
//! reads the list afterwards as before.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use edge_ssl_core::Preprocessor;
use edge_ssl_runtime::{Backend, BnReport, RuntimeError, reestimate_batch_norm_stream};

use super::{AdaptOptions, view_cache};
use crate::error::Context;
use crate::frames::frame_list::FrameList;
use crate::frames::tap::{Received, Tap};
use crate::model::reference::ResolvedModel;
use crate::progress::{Phase, Progress};

/// BN statistics re-estimated while the frames were listed: the patched encoder, in a
/// temporary file in the output directory until the work directory takes it, and its report.
pub struct Streamed {
    pub(super) file: tempfile::TempPath,
    pub(super) report: BnReport,
}

/// How far the listing thread is, for the BN pass's progress.
#[derive(Default)]
struct Listing {
    done: AtomicBool,
    frames: AtomicUsize,
}

/// What [`list_frames`] gives.
pub struct Listed {
    pub frames: FrameList,
    /// BN statistics, when they were re-estimated beside the listing.
    pub streamed: Option<Streamed>,
    /// Seconds the listing itself took (the BN pass may have gone on after it).
    pub listing_s: f64,
}

/// Lists `data`'s frames for `model` ([`FrameList::scan_tapped`]) and, when `opts` re-estimates
/// BN statistics in a fresh run, re-estimates them from the frames as they are read.
pub fn list_frames(
    backend: &dyn Backend,
    model: &ResolvedModel,
    data: &Path,
    out: &Path,
    opts: &AdaptOptions,
    progress: &Progress,
) -> crate::Result<Listed> {
    let pre = Preprocessor::new(model.card.input.clone());
    let start = Instant::now();
    if !opts.bn_adapt || opts.resume {
        let frames = FrameList::scan(data, &pre, &opts.sampling, Some(out), progress)?;
        let listing_s = start.elapsed().as_secs_f64();
        return Ok(Listed {
            frames,
            streamed: None,
            listing_s,
        });
    }
    let (mut tap, from) = Tap::new(opts.bn_frames);
    let listing = Listing::default();
    std::thread::scope(|scope| {
        let (pre, listing) = (&pre, &listing);
        let lister = scope.spawn(move || {
            let frames =
                FrameList::scan_tapped(data, pre, &opts.sampling, Some(out), &mut tap, progress);
            let complete = tap.ended();
            drop(tap);
            listing
                .frames
                .store(frames.as_ref().map_or(0, |f| f.len()), Ordering::SeqCst);
            listing.done.store(true, Ordering::SeqCst);
            (frames, complete, start.elapsed().as_secs_f64())
        });
        let mut phase = None;
        let streamed = stream(
            backend,
            model,
            pre,
            opts,
            Received::new(from),
            out,
            listing,
            (progress, &mut phase),
        );
        let (frames, complete, listing_s) = lister.join().unwrap_or_else(|_| {
            let panicked = crate::Error::Internal("the frame listing panicked".into());
            (Err(panicked), false, 0.0)
        });
        let frames = frames?;
        // Every frame went through: the pass is the BN phase's own, so its error is too.
        // Otherwise the BN phase reads the list (and meets any such error there).
        let streamed = match (streamed, complete) {
            // A model without BatchNorm: the pass wrote it as it is and read no frame, which
            // is what the BN phase would do again.
            (Ok(Some(s)), _) if s.report.passes == 0 => Some(s),
            (streamed, true) => streamed?.filter(|s| s.report.frames == frames.len()),
            (_, false) => None,
        };
        if let Some(streamed) = &streamed {
            // The phase shows even when the pass ended before the listing did.
            let mut phase =
                phase.unwrap_or_else(|| progress.phase("BN statistics", Some(frames.len() as u64)));
            phase.advance((streamed.report.frames as u64).saturating_sub(phase.done()))?;
            phase.finish();
        }
        Ok(Listed {
            frames,
            streamed,
            listing_s,
        })
    })
}

/// The BN pass over the frames `received` hands on; `None` when none came or not all of them
/// (a model without BN layers reads none and is always `Some`).
/// `phase` is the BN phase's progress, once shown.
#[allow(clippy::too_many_arguments)]
fn stream(
    backend: &dyn Backend,
    model: &ResolvedModel,
    pre: &Preprocessor,
    opts: &AdaptOptions,
    mut received: Received,
    out: &Path,
    listing: &Listing,
    (progress, phase): (&Progress, &mut Option<Phase>),
) -> crate::Result<Option<Streamed>> {
    // The probe is built and loaded as soon as the tap says frames will come, before the first
    // does: a video's decoder start left a core idle for that long (MobileNetV3-Small on 300
    // frames of vtest.avi: `bench --adapt` ratio 1.52–1.61× against 1.54–1.65×, alternated). A source
    // with more frames than `--bn-frames`, or of unknown length, says no first. A tap that
    // closes at the first frame (frames already the input size) wastes the load, beside the
    // listing. A directory made here for a pass that then gets no frame is removed again
    // when it is still empty.
    if !received.begun() {
        return Ok(None);
    }
    let made_dir = !out.exists();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    remove_stale(out);
    let file = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(".onnx")
        .tempfile_in(out)
        .with_context(|| format!("creating a file in {}", out.display()))?
        .into_temp_path();
    // Batches as `view_cache::bn_batches` makes them from the finished list (all of its
    // frames, in order).
    let mut got_frames = false;
    let frames = received.by_ref().inspect(|_| got_frames = true).map(Ok);
    let mut batches =
        view_cache::frame_batches(frames, pre, opts.images_per_call(&model.card.input))
            .map(|batch| batch.map_err(|e| RuntimeError::Input(e.to_string())));
    // Shown once the listing is over (its own bar shows progress until then).
    let report = reestimate_batch_norm_stream(
        backend,
        &model.onnx,
        &model.card,
        &mut batches,
        None,
        &file,
        &mut |p| {
            if phase.is_none() && listing.done.load(Ordering::SeqCst) {
                let total = listing.frames.load(Ordering::SeqCst) as u64;
                *phase = Some(progress.phase("BN statistics", Some(total)));
            }
            let advanced = phase.as_mut().map_or(Ok(()), |phase| {
                phase.advance((p.frames_done as u64).saturating_sub(phase.done()))
            });
            match advanced.is_err() || progress.is_cancelled() {
                true => ControlFlow::Break(()),
                false => ControlFlow::Continue(()),
            }
        },
    );
    drop(batches);
    let no_bn = report.as_ref().is_ok_and(|r| r.passes == 0);
    if !got_frames && !no_bn {
        drop(file);
        if made_dir {
            let _ = std::fs::remove_dir(out);
        }
        return Ok(None);
    }
    let report = report.context("re-estimating BatchNorm statistics")?;
    // Without BN layers the pass reads no frame and the model is written as it is.
    let usable = received.complete() || report.passes == 0;
    Ok(usable.then_some(Streamed { file, report }))
}

/// The start of the temporary encoder's name in the output directory.
const TEMP_PREFIX: &str = ".edge-ssl-bn-";

/// Removes the temporary encoders (and their probes) a killed run left in `out`: regular files
/// named by [`TEMP_PREFIX`], nothing else. Best effort: one that cannot be removed stays.
fn remove_stale(out: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let ours = name
            .to_str()
            .is_some_and(|n| n.starts_with(TEMP_PREFIX) && n.ends_with(".onnx"));
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{TEMP_PREFIX, remove_stale};

    #[test]
    fn only_stale_temporary_encoders_are_removed() {
        let out = tempfile::tempdir().unwrap();
        let stale = out.path().join(format!("{TEMP_PREFIX}x1.onnx"));
        let probe = out.path().join(format!("{TEMP_PREFIX}x1.bn-probe.onnx"));
        let keep = [
            out.path().join("encoder.onnx"),
            out.path().join(format!("{TEMP_PREFIX}notes.txt")),
        ];
        for f in [&stale, &probe].into_iter().chain(&keep) {
            std::fs::write(f, b"x").unwrap();
        }
        let dir = out.path().join(format!("{TEMP_PREFIX}dir.onnx"));
        std::fs::create_dir(&dir).unwrap();
        #[cfg(unix)]
        let link = {
            let link = out.path().join(format!("{TEMP_PREFIX}link.onnx"));
            std::os::unix::fs::symlink(&keep[0], &link).unwrap();
            link
        };
        remove_stale(out.path());
        assert!(!stale.exists() && !probe.exists());
        assert!(keep.iter().all(|f| f.is_file()) && dir.is_dir());
        #[cfg(unix)]
        assert!(
            link.symlink_metadata().is_ok(),
            "a link is not ours to remove"
        );
    }
}
