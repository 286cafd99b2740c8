//! `adapt --data SRC` for any source: a folder keeps its own loader (`image_set`), a video file
//! or a camera is read through `edge_ssl_source` (with `--fps`, `--dedup`, `--max-frames`) into
//! the same [`Frames`] the trainer takes, each frame named by its origin (`vtest.avi#12`).
//!
//! [`open`] gives the same sources one frame at a time, for a caller that uses each frame once
//! (`embed`) and holds none.
//!
//! `adapt` itself reads its frames through [`FrameList`](super::frame_list::FrameList), which
//! decodes them again per pass instead of holding them; [`decode`] holds them all (the fleet
//! client's smaller sets). Either way video frames are first shrunk to at most
//! `KEEP_SCALE`× the encoder's input size: augmentation crops then still see more detail than
//! the encoder, and a 768×576 clip costs tens of kilobytes per frame instead of over a megabyte.

use std::path::{Path, PathBuf};

use crate::error::{Context, bail};
use edge_ssl_core::{DecodeSize, Preprocessor};
use edge_ssl_source::{FrameSource, SourceKind, SourceOptions, detect_kind, open_source};
use image::DynamicImage;
use ndarray::Array3;

use crate::frames::image_set::{self as image_set, Frames};
use crate::progress::Progress;

/// Kept frames are at most this many times the input size on each side. Twice: the smallest
/// crop the camera augmentation takes (half the area, 0.71 of each side) still has the input's
/// resolution, and at 224×224 a kept 768×576 frame is 448×336 (0.45 MB), so `adapt`'s later
/// passes replay 280 of them from memory instead of decoding every frame twice more (at 4×
/// it kept them whole, 1.3 MB each, and decoded 200 frames three times).
const KEEP_SCALE: u32 = 2;

/// Decodes `data` — an image folder, a video file or a camera — for adaptation.
// `adapt --data` and its `--fps`/`--dedup`/`--max-frames` flags come through here.
pub fn decode(
    data: &Path,
    pre: &Preprocessor,
    options: &SourceOptions,
    progress: &Progress,
) -> crate::Result<Frames> {
    let spec = data
        .to_str()
        .with_context(|| format!("{}: the path is not UTF-8", data.display()))?;
    let kind = detect_kind(spec).with_context(|| format!("opening {spec}"))?;
    if kind == SourceKind::Images && *options == SourceOptions::default() {
        return image_set::decode_frames(data, pre, progress);
    }
    let mut source = open(data, &options.clone().with_decode_size(kept_size(pre)))?;
    progress.note(source.info());
    let bound = match (source.info().frame_count, options.max_frames) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(0),
    };
    let mut phase = progress.phase("decoding", (bound > 0).then_some(bound));
    let mut frames = Frames {
        paths: Vec::new(),
        pixels: Vec::new(),
        skipped: Vec::new(),
    };
    while let Some(frame) = source
        .next_frame()
        .with_context(|| format!("reading {spec}"))?
    {
        phase.advance(1)?;
        frames.pixels.push(kept_pixels(frame.image, pre));
        frames.paths.push(PathBuf::from(frame.origin));
    }
    phase.finish();
    let stats = source.stats();
    progress.note(format_args!("{spec}: {stats}"));
    for warning in &stats.warnings {
        progress.note(format_args!("warning: {warning}"));
    }
    if frames.pixels.is_empty() {
        bail!(Data, "{spec}: no frames were kept ({stats})");
    }
    Ok(frames)
}

/// `data` — an image folder or file, a video file or a camera — as a source of decoded frames,
/// each named by its origin (a file's path, `vtest.avi#12`); undecodable files of a folder are
/// skipped and counted in its stats unless `options` are strict. A camera needs a maximum
/// number of frames ([`Error::EndlessSource`](crate::Error::EndlessSource)).
pub fn open(data: &Path, options: &SourceOptions) -> crate::Result<Box<dyn FrameSource>> {
    let spec = data
        .to_str()
        .with_context(|| format!("{}: the path is not UTF-8", data.display()))?;
    let kind = detect_kind(spec).with_context(|| format!("opening {spec}"))?;
    if kind == SourceKind::Camera && options.max_frames.is_none() {
        return Err(crate::Error::EndlessSource(spec.to_owned()));
    }
    open_source(spec, options).with_context(|| format!("opening {spec}"))
}

/// What a kept frame needs of a decoded image: a JPEG file is decoded no larger than twice
/// the kept size ([`DecodeSize::Fit`]), then [`kept_pixels`] shrinks it.
pub fn kept_size(pre: &Preprocessor) -> DecodeSize {
    let spec = pre.spec();
    DecodeSize::Fit {
        width: KEEP_SCALE * spec.width as u32,
        height: KEEP_SCALE * spec.height as u32,
    }
}

/// A video or camera frame as the trainer keeps it: shrunk to at most `KEEP_SCALE`× the input
/// size, 8-bit CHW in the card's channel count.
pub fn kept_pixels(image: DynamicImage, pre: &Preprocessor) -> Array3<u8> {
    let spec = pre.spec();
    let (max_w, max_h) = (
        KEEP_SCALE * spec.width as u32,
        KEEP_SCALE * spec.height as u32,
    );
    let fits = image.width() <= max_w && image.height() <= max_h;
    // 8-bit sources in the card's channel count are resized (or copied) straight into CHW
    // planes: going through [0, 1] floats and rounding back (a libm `roundf` per value) gives
    // the same bytes, slower, and so did an interleaved resize transposed afterwards.
    let own_channels = matches!(
        (spec.channels, &image),
        (3, DynamicImage::ImageRgb8(_)) | (1, DynamicImage::ImageLuma8(_))
    );
    let (w, h) = match fits {
        true => (image.width(), image.height()),
        false => (max_w, max_h),
    };
    if own_channels && let Some(chw) = edge_ssl_core::resize_to_fit_chw(&image, w, h) {
        return chw;
    }
    let image = match fits {
        true => image,
        false => edge_ssl_core::resize_to_fit(&image, max_w, max_h),
    };
    pre.unit_full(&image).mapv(|v| (v * 255.0).round() as u8)
}

#[cfg(test)]
mod tests {
    use edge_ssl_core::{InputSpec, Preprocessor};
    use edge_ssl_source::SourceOptions;

    use super::{KEEP_SCALE, Progress, decode};

    const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

    /// The 8-bit fast path gives exactly the bytes of the float round trip it skips, for RGB
    /// and gray cards, and images in another format still go through the floats.
    #[test]
    fn kept_pixels_of_8_bit_frames_equal_the_float_round_trip() {
        // Within the kept size (2× the 28×28 input), so nothing is resized.
        let rgb = image::RgbImage::from_fn(53, 41, |x, y| {
            image::Rgb([(x * 7 + y) as u8, (x * y % 251) as u8, (255 - x * 3) as u8])
        });
        let mut card = pre().spec().clone();
        for channels in [3, 1] {
            card.channels = channels;
            let p = Preprocessor::new(card.clone());
            let image = match channels {
                3 => image::DynamicImage::ImageRgb8(rgb.clone()),
                _ => image::DynamicImage::ImageLuma8(
                    image::DynamicImage::ImageRgb8(rgb.clone()).to_luma8(),
                ),
            };
            let want = p.unit_full(&image).mapv(|v| (v * 255.0).round() as u8);
            assert_eq!(super::kept_pixels(image, &p), want, "{channels} channel(s)");
        }
        // RGB into a gray card: converted through the floats, as before.
        let p = Preprocessor::new(card);
        let image = image::DynamicImage::ImageRgb8(rgb);
        let want = p.unit_full(&image).mapv(|v| (v * 255.0).round() as u8);
        assert_eq!(super::kept_pixels(image, &p), want);
    }

    fn pre() -> Preprocessor {
        let card = edge_ssl_core::ModelCard::load(
            &std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
                .join("models/fmnist-ssl/encoder.toml"),
        )
        .unwrap();
        let spec: InputSpec = card.input;
        Preprocessor::new(spec)
    }

    #[test]
    fn a_video_becomes_sampled_shrunk_frames_named_by_origin() {
        let options = SourceOptions::default()
            .with_fps(Some(2.0))
            .with_max_frames(Some(6));
        let frames = decode(VTEST.as_ref(), &pre(), &options, &Progress::silent()).unwrap();
        assert_eq!(frames.len(), 6);
        // 10 fps clip at 2 fps: every fifth frame.
        let names: Vec<String> = frames
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(names[1], format!("{VTEST}#5"));
        let side = KEEP_SCALE as usize * 28;
        for px in &frames.pixels {
            let (c, h, w) = px.dim();
            assert_eq!(c, 1);
            assert!(
                h <= side && w <= side && (w == side || h == side),
                "{h}x{w}"
            );
        }
        assert!(frames.skipped.is_empty());
    }

    #[test]
    fn a_camera_needs_max_frames() {
        // /dev/null is a character device, so it is taken for a camera.
        let err = decode(
            "/dev/null".as_ref(),
            &pre(),
            &SourceOptions::default(),
            &Progress::silent(),
        )
        .err()
        .expect("a camera without --max-frames is refused");
        assert!(
            format!("{err:#}").contains("maximum number of frames"),
            "{err:#}"
        );
    }
}
