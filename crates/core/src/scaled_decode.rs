//! Downscale-on-decode. A frame is decoded to be shrunk at once to a model's input (224 × 224,
//! 28 × 28) or to a few times that, so decoding a 12-megapixel photo at full size spends time
//! and memory on pixels that are averaged away a moment later: 36 MB of 8-bit RGB, 144 MB once
//! the preprocessor has it as `f32`. A JPEG can be decoded smaller in the DCT domain: an 8 × 8
//! block's inverse transform is computed at 4 × 4, 2 × 2 or 1 × 1, which is cheaper than the full
//! transform, and only the scaled image is ever allocated.
//!
//! The caller says what it will do with the image ([`DecodeSize`]); the decoder picks the
//! largest reduction (1/2, 1/4, 1/8) that leaves the image at least [`DECODE_MARGIN`] times the
//! size it will be resized to on both sides, so the Triangle filter that follows still averages
//! over several source pixels per output pixel and the result stays close to a full decode and
//! resize (the test allows a mean absolute difference of 1/255 against Pillow's). When no
//! reduction is possible — the image is already small, which is every reference image of the
//! test corpus — or the file is anything but an 8-bit gray or RGB JPEG, it is decoded at full
//! size exactly as before: numerics do not change for it. PNG has no such decode and is always
//! decoded whole (its pixel bound still applies).
//!
//! Both paths show the image the way its EXIF orientation says (a phone's portrait photo is
//! stored sideways with "turn 90°" in its metadata): a labeled photo is not learnt lying on its
//! side.
//!
//! The scaled path uses the `jpeg-decoder` crate (the `image` crate's own JPEG decoder has no
//! scaling). Any error there falls back to the full decode, whose error (or success) is the
//! answer, so the two decoders never disagree about which files are images.

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, RgbImage};

/// What a decoded image is for, so a JPEG can be decoded no larger than that needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DecodeSize {
    /// Every pixel (the default, and what a caller that keeps the image as it is wants).
    #[default]
    Full,
    /// The image will be resized to exactly `width × height`, or to cover it and be cropped
    /// (a model's input: [`Preprocessor::unit_image`](crate::Preprocessor::unit_image)).
    Cover { width: u32, height: u32 },
    /// The image will be shrunk, keeping its aspect, to fit inside `width × height` if it is
    /// larger (the trainer's kept frames).
    Fit { width: u32, height: u32 },
}

/// A reduced decode keeps at least this many source pixels per pixel of the size the image is
/// resized to next, on each side.
pub const DECODE_MARGIN: u32 = 2;

impl DecodeSize {
    /// The largest reduction `1/n` (`n` of 1, 2, 4 or 8) that a `width × height` image can be
    /// decoded at and still leave [`DECODE_MARGIN`] times what the caller needs on both sides.
    pub fn reduction(self, width: u32, height: u32) -> u32 {
        let (w, h) = (f64::from(width), f64::from(height));
        // The scale the image will be resized by after decoding (≤ 1 when it shrinks).
        let scale = match self {
            DecodeSize::Full => return 1,
            DecodeSize::Cover {
                width: tw,
                height: th,
            } => f64::max(f64::from(tw) / w, f64::from(th) / h),
            DecodeSize::Fit {
                width: tw,
                height: th,
            } => f64::min(f64::from(tw) / w, f64::from(th) / h),
        };
        let margin = f64::from(DECODE_MARGIN);
        [8, 4, 2]
            .into_iter()
            .find(|&n| {
                let (sw, sh) = (scaled(width, n), scaled(height, n));
                f64::from(sw) >= margin * scale * w && f64::from(sh) >= margin * scale * h
            })
            .unwrap_or(1)
    }
}

/// A side of `len` pixels decoded at `1/n`, as a JPEG decoder rounds it (up).
fn scaled(len: u32, n: u32) -> u32 {
    len.div_ceil(n)
}

/// Decodes a JPEG at the reduction `size` allows, or `None` when it should be decoded at full
/// size instead (no reduction possible, a colour format other than 8-bit gray or RGB, or any
/// error, which the full decode then reports). `input` is left anywhere.
pub(crate) fn decode_reduced_jpeg<R: std::io::Read>(
    input: R,
    size: DecodeSize,
    max_pixels: u64,
) -> Option<DynamicImage> {
    let mut decoder = jpeg_decoder::Decoder::new(input);
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    // CMYK and 12-bit JPEGs go to the full decode before any pixel is decoded here.
    let gray = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => true,
        jpeg_decoder::PixelFormat::RGB24 => false,
        _ => return None,
    };
    if u64::from(width) * u64::from(height) > max_pixels
        || info.coding_process == jpeg_decoder::CodingProcess::Lossless
    {
        return None;
    }
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    // The reduction is for the image as it will be shown: turned a quarter, its sides swap.
    let n = match swaps_sides(orientation) {
        false => size.reduction(width, height),
        true => size.reduction(height, width),
    };
    if n == 1 {
        return None;
    }
    let (want_w, want_h) = (scaled(width, n), scaled(height, n));
    let (sw, sh) = decoder
        .scale(u16::try_from(want_w).ok()?, u16::try_from(want_h).ok()?)
        .ok()?;
    if (u32::from(sw), u32::from(sh)) != (want_w, want_h) {
        return None;
    }
    let pixels = decoder.decode().ok()?;
    let mut img = if gray {
        GrayImage::from_raw(want_w, want_h, pixels).map(DynamicImage::ImageLuma8)
    } else {
        RgbImage::from_raw(want_w, want_h, pixels).map(DynamicImage::ImageRgb8)
    }?;
    img.apply_orientation(orientation);
    Some(img)
}

/// Whether showing an image as `orientation` says turns it a quarter (its width becomes its
/// height).
fn swaps_sides(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

#[cfg(test)]
mod tests {
    use super::DecodeSize;

    #[test]
    fn the_largest_reduction_that_keeps_the_margin() {
        let cover = |width, height| DecodeSize::Cover { width, height };
        // 4000×3000 to 224×224 (covering: 299×224): 1/4 leaves 750 ≥ 448 rows, 1/8 375 < 448.
        assert_eq!(cover(224, 224).reduction(4000, 3000), 4);
        assert_eq!(cover(28, 28).reduction(4000, 3000), 8);
        // Small images are never reduced: 300×300 to 224 needs 448.
        assert_eq!(cover(224, 224).reduction(300, 300), 1);
        assert_eq!(cover(224, 224).reduction(896, 896), 2);
        assert_eq!(cover(224, 224).reduction(895, 896), 1);
        assert_eq!(DecodeSize::Full.reduction(20000, 20000), 1);
        // Fitting 768×576 inside 112×112 gives 112×84: 1/2 leaves 384×288 ≥ 224×168.
        let fit = |width, height| DecodeSize::Fit { width, height };
        assert_eq!(fit(112, 112).reduction(768, 576), 2);
        assert_eq!(fit(112, 112).reduction(100, 50), 1);
        // An image smaller than the box is not shrunk at all, so not reduced either.
        assert_eq!(fit(896, 896).reduction(768, 576), 1);
    }
}
