//! Rows of frames as `run` would compute them, for what must be calibrated against `run`.
//!
//! `adapt` and the fleet client keep each frame shrunk to at most twice the input (the views
//! crop and resize from it); `run` resizes the decoded frame once, straight to the input. A
//! novelty threshold set on rows of the kept frames, resized a second time, is set on other
//! rows than `run` scores: on `vtest.avi` with the bundled encoder `run` flagged 59 % of the
//! very frames `adapt` had fitted on. Whatever is compared with `run`'s rows is made here.

use std::path::{Path, PathBuf};

use edge_ssl_core::Preprocessor;
use edge_ssl_source::SourceOptions;
use image::DynamicImage;
use ndarray::{Array2, Array3, Axis, concatenate};

use super::frame_list::input_units;
use super::image_set;
use crate::embed::embedder::Embedder;
use crate::progress::Progress;

/// Whether a kept frame is exactly the input size, so that replaying it gives what `run`
/// reads (up to the 8-bit rounding of a colour conversion).
pub fn is_input_size(pixels: &Array3<u8>, pre: &Preprocessor) -> bool {
    let spec = pre.spec();
    pixels.dim() == (spec.channels, spec.height, spec.width)
}

/// A decoded frame as `run` feeds it to the encoder — resized once, straight to the input, in
/// the card's channels — stored in 8 bits (within half a level of `run`'s floats).
pub fn input_pixels(image: &DynamicImage, pre: &Preprocessor) -> Array3<u8> {
    pre.unit_image_bytes(image)
}

/// `embedder`'s rows of the frames of `data` as `run` reads them: `files` (the frames' image
/// files, when they are files) decoded again on every core, `batch` at a time; otherwise `data`
/// (a video) read again through the frame loader with `sampling`.
pub fn embed_as_run_reads(
    embedder: &mut Embedder,
    data: &Path,
    files: Option<&[PathBuf]>,
    sampling: &SourceOptions,
    batch: usize,
    progress: &Progress,
) -> crate::Result<Array2<f32>> {
    let Some(files) = files else {
        return Ok(image_set::embed_source(embedder, data, sampling, batch, progress)?.0);
    };
    let pre = embedder.preprocessor().clone();
    let mut phase = progress.phase("frames as run reads them", Some(files.len() as u64));
    let mut parts = Vec::new();
    for block in files.chunks(batch.max(1)) {
        parts.push(embedder.embed_units(&input_units(block, &pre)?)?);
        phase.advance(block.len() as u64)?;
    }
    phase.finish();
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    Ok(concatenate(Axis(0), &views)?)
}
