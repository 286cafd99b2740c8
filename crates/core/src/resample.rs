//! Triangle-filter resizing that gives `image::imageops::resize(.., FilterType::Triangle)`'s
//! result bit for bit, several times faster.
//!
//! Every frame a command reads is resized by the Triangle filter (bilinear, averaging over the
//! whole footprint when shrinking): `run` from the decoded frame straight to the input, `adapt`
//! to the size it keeps and, for BN statistics and novelty rows, to the input as `run` does.
//! `image`'s generic implementation reads one pixel at a time through `get_pixel`, converts
//! each sample through `NumCast`, and walks the source column by column in its horizontal pass;
//! on MobileNetV3-Small at 224 × 224 its two resizes took 17 % of `adapt`'s CPU time.
//!
//! This module computes the same per-axis weights with the same `f32` arithmetic and adds the
//! taps in the same order — vertical pass first, into `f32`, then horizontal, then the same
//! clamp and rounding — so its output is *equal* to `image`'s, not close. That matters: `run`,
//! `adapt` and the fleet client must see the same input for a frame, or a novelty threshold
//! calibrated by one is applied to other numbers by another. Here the vertical pass is a
//! weighted sum of whole rows (it vectorizes), the horizontal pass reads contiguous memory,
//! and only the rows and columns of an output [`Window`] are computed, so resize-then-crop
//! never resizes what the crop throws away. Tests compare against `image` on random images.

use std::ops::Range;

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView, GrayImage, RgbImage};
use ndarray::Array3;

/// One axis of a resize: for each output index, the first source index it reads and its
/// normalized weights (`image`'s `horizontal_sample` / `vertical_sample` arithmetic).
struct Taps {
    first: Vec<usize>,
    /// Output `i`'s weights are `weights[start[i]..start[i + 1]]`.
    start: Vec<usize>,
    weights: Vec<f32>,
}

impl Taps {
    fn new(src: u32, dst: u32) -> Taps {
        let ratio = src as f32 / dst as f32;
        let sratio = if ratio < 1.0 { 1.0 } else { ratio };
        let support = sratio; // the Triangle filter's support is 1
        let mut taps = Taps {
            first: Vec::with_capacity(dst as usize),
            start: Vec::with_capacity(dst as usize + 1),
            weights: Vec::new(),
        };
        taps.start.push(0);
        for out in 0..dst {
            let input = (out as f32 + 0.5) * ratio;
            let left = clamp((input - support).floor() as i64, 0, i64::from(src) - 1);
            let right = clamp((input + support).ceil() as i64, left + 1, i64::from(src));
            let input = input - 0.5;
            let from = taps.weights.len();
            let mut sum = 0.0;
            for i in left..right {
                let w = triangle((i as f32 - input) / sratio);
                taps.weights.push(w);
                sum += w;
            }
            taps.weights[from..].iter_mut().for_each(|w| *w /= sum);
            taps.first.push(left as usize);
            taps.start.push(taps.weights.len());
        }
        taps
    }

    fn of(&self, out: usize) -> (usize, &[f32]) {
        (
            self.first[out],
            &self.weights[self.start[out]..self.start[out + 1]],
        )
    }

    /// The source indices that the outputs `outs` read.
    fn span(&self, outs: Range<usize>) -> Range<usize> {
        let lo = outs.clone().map(|o| self.first[o]).min().unwrap_or(0);
        let hi = outs
            .map(|o| self.first[o] + self.start[o + 1] - self.start[o])
            .max()
            .unwrap_or(0);
        lo..hi.max(lo)
    }
}

fn triangle(x: f32) -> f32 {
    if x.abs() < 1.0 { 1.0 - x.abs() } else { 0.0 }
}

/// `image`'s clamp (not `Ord::clamp`, which panics when `min > max`).
fn clamp<N: PartialOrd>(a: N, min: N, max: N) -> N {
    if a < min {
        min
    } else if a > max {
        max
    } else {
        a
    }
}

/// What to compute of a resize to `width × height`: the `w × h` block at (`x`, `y`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub width: u32,
    pub height: u32,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Window {
    /// The whole resize.
    pub fn full(width: u32, height: u32) -> Window {
        Window {
            width,
            height,
            x: 0,
            y: 0,
            w: width,
            h: height,
        }
    }
}

/// Resizes the interleaved `height × width × channels` samples `src` (`image`'s raw layout) to
/// `window.width × window.height` and returns the window's samples, interleaved, before
/// `image`'s final clamp and rounding (see [`unit`] and [`byte`]). When the size does not change,
/// `image` copies the pixels, and so does this (the samples as they are). Each sample is read
/// through `value` (its number as `image` resizes it: [`as_is`], or [`unit_byte`] for an 8-bit
/// image converted to `f32` first).
///
/// The window must lie inside the resize and `src` must hold `width · height · channels`
/// samples; callers build both from the image they resize.
///
/// On x86-64 CPUs with AVX2 the same code runs compiled for AVX2 (eight lanes in the vertical
/// pass instead of SSE2's four); no multiply and add are fused either way, so the samples are
/// the same bits on every CPU.
pub(crate) fn resample<T: Copy>(
    src: &[T],
    value: impl Fn(T) -> f32 + Copy,
    size: (u32, u32),
    channels: usize,
    window: Window,
) -> Vec<f32> {
    let mut out = vec![0.0f32; window.w as usize * window.h as usize * channels];
    resample_into::<true, false, _, _>(src, value, size, channels, window, &mut out, |t| t);
    out
}

/// [`resample`] with each sample passed through `store` (the final clamp and rounding, say)
/// into `out`, interleaved like the source or, with `PLANAR`, one plane per channel (CHW, what
/// encoders read): the conversion and the transposition are compiled into the resize instead of
/// being passes of their own over a whole `f32` image. `ONCE` is [`resample_any`]'s. `out` must
/// hold the window's `w · h · channels` samples.
pub(crate) fn resample_into<const ONCE: bool, const PLANAR: bool, T: Copy, O: Copy>(
    src: &[T],
    value: impl Fn(T) -> f32 + Copy,
    size: (u32, u32),
    channels: usize,
    window: Window,
    out: &mut [O],
    store: impl Fn(f32) -> O + Copy,
) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn avx2<const ONCE: bool, const PLANAR: bool, T: Copy, O: Copy>(
            src: &[T],
            value: impl Fn(T) -> f32 + Copy,
            size: (u32, u32),
            channels: usize,
            window: Window,
            out: &mut [O],
            store: impl Fn(f32) -> O + Copy,
        ) {
            resample_any::<ONCE, PLANAR, _, _>(src, value, size, channels, window, out, store)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe {
                avx2::<ONCE, PLANAR, _, _>(src, value, size, channels, window, out, store)
            };
        }
    }
    resample_any::<ONCE, PLANAR, _, _>(src, value, size, channels, window, out, store)
}

/// A sample's own number: `f32` samples, or 8-bit ones resized as 8-bit.
#[inline(always)]
pub(crate) fn as_is<T: Into<f32>>(v: T) -> f32 {
    v.into()
}

/// An 8-bit sample as `image` converts it to `f32` (`to_rgb32f`): `v / 255`, a division, which
/// no multiplication by a constant reproduces for every byte.
#[inline(always)]
pub(crate) fn unit_byte(v: u8) -> f32 {
    f32::from(v) / 255.0
}

/// [`resample`] of 8-bit samples to 8-bit samples ([`byte`] applied to each, in the resize:
/// a `map(byte).collect()` outside it took a third of the time), interleaved or, with `PLANAR`,
/// one plane per channel.
fn resample_bytes<const PLANAR: bool>(
    src: &[u8],
    size: (u32, u32),
    channels: usize,
    window: Window,
) -> Vec<u8> {
    let mut out = vec![0u8; window.w as usize * window.h as usize * channels];
    resample_into::<false, PLANAR, _, _>(src, as_is, size, channels, window, &mut out, byte);
    out
}

/// [`resample`]'s body, inlined into each instruction-set variant.
///
/// With `ONCE`, each source row the window reads is converted (`value`) once, into a small ring
/// of rows that the vertical pass then reads: for `unit_byte`'s division, which a row would
/// otherwise pay once per output row it feeds (`Preprocessor::unit_image` of a 768×576 frame to
/// 224×224: 1.26 → 0.75 ms with the whole-frame conversion it replaces). Without it samples
/// are converted where they are read, cheaper for a plain `u8 → f32` (the ring cost the kept
/// frames' byte resize 3 %). The sums are the same operations in the same order either way.
#[inline(always)]
fn resample_any<const ONCE: bool, const PLANAR: bool, T: Copy, O: Copy>(
    src: &[T],
    value: impl Fn(T) -> f32 + Copy,
    (width, height): (u32, u32),
    channels: usize,
    window: Window,
    out: &mut [O],
    store: impl Fn(f32) -> O + Copy,
) {
    let (wx, wy) = (window.x as usize, window.y as usize);
    let (ww, wh) = (window.w as usize, window.h as usize);
    let row_len = width as usize * channels;
    let plane = ww * wh;
    // Where output sample `c` of pixel `p` (row-major in the window) goes.
    let index = |p: usize, c: usize| match PLANAR {
        true => c * plane + p,
        false => p * channels + c,
    };
    // Callers size `out` from the window (an internal contract, not input).
    assert_eq!(
        out.len(),
        plane * channels,
        "resample: outputs for a {ww}×{wh} window"
    );
    if out.is_empty() || row_len == 0 {
        return;
    }
    if (window.width, window.height) == (width, height) {
        for (y, row) in src.chunks_exact(row_len).skip(wy).take(wh).enumerate() {
            let part = &row[wx * channels..(wx + ww) * channels];
            for (x, px) in part.chunks_exact(channels).enumerate() {
                for (c, &v) in px.iter().enumerate() {
                    out[index(y * ww + x, c)] = store(value(v));
                }
            }
        }
        return;
    }
    let rows = Taps::new(height, window.height);
    let cols = Taps::new(width, window.width);
    // The source columns the window's outputs read.
    let span = cols.span(wx..wx + ww);
    let span_len = span.len() * channels;
    // Rows `first..first + len` of one output row land in distinct slots (`len <= ring_rows`),
    // and `first` never decreases, so an overwritten row is never read again.
    let ring_rows = match ONCE {
        true => (wy..wy + wh)
            .map(|y| rows.of(y).1.len())
            .max()
            .unwrap_or(1)
            .max(1),
        false => 0,
    };
    let mut ring = vec![0.0f32; ring_rows * span_len];
    let mut ring_row = vec![usize::MAX; ring_rows];
    if out.is_empty() || span_len == 0 {
        return;
    }
    // Output rows are made `LANES` at a time: their vertical sums (`block`, one row each),
    // transposed so that a source sample of all `LANES` rows is one contiguous `[f32; LANES]`,
    // then the horizontal pass sums each output sample's taps for `LANES` rows at once — one
    // vector operation per tap instead of one scalar operation per tap and row.
    let mut block = vec![0.0f32; LANES * span_len];
    let mut lanes = vec![[0.0f32; LANES]; span_len];
    // CHW output: the horizontal pass's sums of `LANES` rows go to a tile of whole plane rows
    // (`tile[(c · LANES + l) · ww + xi]`), then each row is stored in one contiguous pass
    // (`store` vectorizes there; written straight, it was one scalar conversion and a store
    // `ww` apart per sample).
    let mut tile = vec![0.0f32; if PLANAR { channels * LANES * ww } else { 0 }];
    for y0 in (wy..wy + wh).step_by(LANES) {
        let here = LANES.min(wy + wh - y0);
        // Vertical pass, over only the source columns the window's outputs read.
        for (y, dst) in (y0..y0 + here).zip(block.chunks_exact_mut(span_len)) {
            dst.fill(0.0);
            let (first, weights) = rows.of(y);
            for (k, &w) in weights.iter().enumerate() {
                let r = first + k;
                if !ONCE {
                    let row = &src[r * row_len..][span.start * channels..span.end * channels];
                    for (d, &v) in dst.iter_mut().zip(row) {
                        *d += value(v) * w;
                    }
                    continue;
                }
                let slot = r % ring_rows;
                let converted = &mut ring[slot * span_len..(slot + 1) * span_len];
                if ring_row[slot] != r {
                    let row = &src[r * row_len..][span.start * channels..span.end * channels];
                    for (c, &v) in converted.iter_mut().zip(row) {
                        *c = value(v);
                    }
                    ring_row[slot] = r;
                }
                for (d, &v) in dst.iter_mut().zip(converted.iter()) {
                    *d += v * w;
                }
            }
        }
        for (i, lane) in lanes.iter_mut().enumerate() {
            for (l, v) in lane.iter_mut().enumerate() {
                *v = block[l * span_len + i];
            }
        }
        // Horizontal pass: each output sample sums its taps in order, as `image` does (rows
        // past `here` sum stale values and are not written).
        let line = (y0 - wy) * ww;
        for (xi, x) in (wx..wx + ww).enumerate() {
            let (first, weights) = cols.of(x);
            let base = (first - span.start) * channels;
            let mut put = |l: usize, c: usize, t: f32| match PLANAR {
                true => tile[(c * LANES + l) * ww + xi] = t,
                false => out[index(line + l * ww + xi, c)] = store(t),
            };
            if channels == 3 {
                // RGB: the three channels' sums side by side, independent chains.
                let mut t = [[0.0f32; LANES]; 3];
                for (k, &w) in weights.iter().enumerate() {
                    let taps = &lanes[base + k * 3..base + k * 3 + 3];
                    for (t, v) in t.iter_mut().zip(taps) {
                        for l in 0..LANES {
                            t[l] += v[l] * w;
                        }
                    }
                }
                for l in 0..here {
                    for (c, t) in t.iter().enumerate() {
                        put(l, c, t[l]);
                    }
                }
                continue;
            }
            for c in 0..channels {
                let mut t = [0.0f32; LANES];
                for (k, &w) in weights.iter().enumerate() {
                    let v = &lanes[base + k * channels + c];
                    for l in 0..LANES {
                        t[l] += v[l] * w;
                    }
                }
                for (l, &t) in t.iter().enumerate().take(here) {
                    put(l, c, t);
                }
            }
        }
        if PLANAR {
            for c in 0..channels {
                for l in 0..here {
                    let from = &tile[(c * LANES + l) * ww..][..ww];
                    let to = &mut out[index(line + l * ww, c)..][..ww];
                    for (o, &t) in to.iter_mut().zip(from) {
                        *o = store(t);
                    }
                }
            }
        }
    }
}

/// Output rows [`resample_any`] computes together (eight `f32` lanes: one AVX2 register).
const LANES: usize = 8;

/// `image.resize(width, height, FilterType::Triangle)`: the image shrunk or grown to fit
/// `width × height` keeping its aspect ratio, with the same pixels as `image` gives, faster for
/// 8-bit RGB and gray images (any other type goes through `image`).
pub fn resize_to_fit(image: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    let (iw, ih) = image.dimensions();
    if (width, height) == (iw, ih) {
        return image.clone();
    }
    if iw == 0 || ih == 0 || width == 0 || height == 0 {
        return image.resize(width, height, FilterType::Triangle);
    }
    let Some((nw, nh)) = fit_dimensions(iw, ih, width, height) else {
        return image.resize(width, height, FilterType::Triangle);
    };
    if (nw, nh) == (iw, ih) {
        return image.clone();
    }
    let bytes = |raw: &[u8], channels| -> Vec<u8> {
        resample_bytes::<false>(raw, (iw, ih), channels, Window::full(nw, nh))
    };
    let resized = match image {
        DynamicImage::ImageRgb8(rgb) => {
            RgbImage::from_raw(nw, nh, bytes(rgb.as_raw(), 3)).map(DynamicImage::ImageRgb8)
        }
        DynamicImage::ImageLuma8(gray) => {
            GrayImage::from_raw(nw, nh, bytes(gray.as_raw(), 1)).map(DynamicImage::ImageLuma8)
        }
        _ => None,
    };
    resized.unwrap_or_else(|| image.resize(width, height, FilterType::Triangle))
}

/// [`resize_to_fit`] of an 8-bit RGB or gray image, as CHW planes (`channels × height ×
/// width`, what an encoder reads): the same samples, written to their planes by the resize
/// itself instead of an interleaved image transposed afterwards (that transposition was a
/// tenth of `adapt`'s frame reading). `None` for other pixel types.
pub fn resize_to_fit_chw(image: &DynamicImage, width: u32, height: u32) -> Option<Array3<u8>> {
    let (iw, ih) = image.dimensions();
    let (raw, channels) = match image {
        DynamicImage::ImageRgb8(rgb) => (rgb.as_raw(), 3),
        DynamicImage::ImageLuma8(gray) => (gray.as_raw(), 1),
        _ => return None,
    };
    if iw == 0 || ih == 0 || width == 0 || height == 0 {
        return None;
    }
    let (nw, nh) = match (width, height) == (iw, ih) {
        true => (iw, ih),
        false => fit_dimensions(iw, ih, width, height)?,
    };
    // `image` copies the pixels when the size does not change; so does the resize here.
    let planes = resample_bytes::<true>(raw, (iw, ih), channels, Window::full(nw, nh));
    Array3::from_shape_vec((channels, nh as usize, nw as usize), planes).ok()
}

/// The size `DynamicImage::resize` gives (`image`'s `resize_dimensions` without filling);
/// `None` past `u32`, where `image` rescales differently.
fn fit_dimensions(iw: u32, ih: u32, width: u32, height: u32) -> Option<(u32, u32)> {
    let ratio = f64::min(
        f64::from(width) / f64::from(iw),
        f64::from(height) / f64::from(ih),
    );
    let nw = ((f64::from(iw) * ratio).round() as u64).max(1);
    let nh = ((f64::from(ih) * ratio).round() as u64).max(1);
    Some((u32::try_from(nw).ok()?, u32::try_from(nh).ok()?))
}

/// `image`'s last step for an `f32` image: clamp to [0, 1].
pub(crate) fn unit(t: f32) -> f32 {
    clamp(t, 0.0, 1.0)
}

/// `image`'s last step for an 8-bit image: clamp to [0, 255], round half away from zero.
/// Truncating and comparing the (exact) fraction is `f32::round` for these values without the
/// libm call, so the loop vectorizes. The clamp is `max` then `min` (vector instructions; the
/// comparisons of `image`'s clamp compiled to scalar branches, 38 % of a 768×576 → 448×336
/// resize): the same value for every number, and 0 for NaN as before (`image`'s clamp kept
/// the NaN, which the conversion then took to 0).
#[inline(always)]
#[allow(clippy::manual_clamp)] // NaN to 0, and it vectorizes: see above
pub(crate) fn byte(t: f32) -> u8 {
    let t = t.max(0.0).min(255.0);
    // SAFETY: `t` is in [0, 255] (`max` takes NaN to 0), where the conversion is exact
    // truncation. `as i32` would be the same number, but its checks for NaN and out-of-range
    // values (which cannot occur here) compiled to scalar code, one value at a time.
    let whole: i32 = unsafe { t.to_int_unchecked() };
    (whole + i32::from(t - whole as f32 >= 0.5)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops;
    use image::{ImageBuffer, Luma, Rgb};

    /// A deterministic pseudo-random byte stream (xorshift).
    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect()
    }

    const SIZES: [((u32, u32), (u32, u32)); 7] = [
        ((768, 576), (448, 336)),
        ((768, 576), (299, 224)),
        ((97, 61), (28, 28)),
        ((20, 30), (45, 31)),
        ((64, 48), (64, 20)),
        ((5, 3), (1, 1)),
        ((33, 1), (7, 2)),
    ];

    #[test]
    fn rgb8_equals_image_resize_bit_for_bit() {
        for (seed, &((w, h), (nw, nh))) in SIZES.iter().enumerate() {
            let raw = bytes((w * h * 3) as usize, seed as u64 + 1);
            let img: ImageBuffer<Rgb<u8>, _> = ImageBuffer::from_raw(w, h, raw.clone()).unwrap();
            let want = imageops::resize(&img, nw, nh, FilterType::Triangle);
            let got: Vec<u8> = resample(&raw, as_is, (w, h), 3, Window::full(nw, nh))
                .into_iter()
                .map(byte)
                .collect();
            assert_eq!(got, want.into_raw(), "{w}×{h} → {nw}×{nh}");
        }
    }

    #[test]
    fn f32_equals_image_resize_bit_for_bit_in_any_window() {
        for (seed, &((w, h), (nw, nh))) in SIZES.iter().enumerate() {
            let raw: Vec<f32> = bytes((w * h) as usize, seed as u64 + 7)
                .into_iter()
                .map(|b| f32::from(b) / 255.0)
                .collect();
            let img: ImageBuffer<Luma<f32>, _> = ImageBuffer::from_raw(w, h, raw.clone()).unwrap();
            let want = imageops::resize(&img, nw, nh, FilterType::Triangle);
            let full: Vec<f32> = resample(&raw, as_is, (w, h), 1, Window::full(nw, nh))
                .into_iter()
                .map(unit)
                .collect();
            assert_eq!(full, want.as_raw().clone(), "{w}×{h} → {nw}×{nh}");
            // A window is the same block of the whole resize.
            let (x, y) = (nw / 3, nh / 4);
            let (ww, wh) = (nw - x - nw / 5, nh - y);
            let window = Window {
                x,
                y,
                w: ww,
                h: wh,
                ..Window::full(nw, nh)
            };
            let part: Vec<f32> = resample(&raw, as_is, (w, h), 1, window)
                .into_iter()
                .map(unit)
                .collect();
            let block = imageops::crop_imm(&want, x, y, ww, wh).to_image();
            assert_eq!(part, block.into_raw(), "window of {w}×{h} → {nw}×{nh}");
        }
    }

    #[test]
    fn resize_to_fit_equals_dynamic_image_resize() {
        for (seed, &((w, h), (nw, nh))) in SIZES.iter().enumerate() {
            let raw = bytes((w * h * 3) as usize, seed as u64 + 3);
            let rgb = DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, raw.clone()).unwrap());
            let gray = DynamicImage::ImageLuma8(
                GrayImage::from_raw(w, h, raw[..(w * h) as usize].to_vec()).unwrap(),
            );
            let rgba = DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, raw).unwrap()).to_rgba8();
            for img in [rgb, gray, DynamicImage::ImageRgba8(rgba)] {
                let want = img.resize(nw, nh, FilterType::Triangle);
                let got = resize_to_fit(&img, nw, nh);
                assert_eq!(got, want, "{:?} {w}×{h} → fit {nw}×{nh}", img.color());
            }
        }
    }

    #[test]
    fn resize_to_fit_chw_is_resize_to_fit_as_planes() {
        let same = [((48, 36), (48, 36)), ((64, 48), (80, 80))];
        for (seed, &((w, h), (nw, nh))) in SIZES.iter().chain(&same).enumerate() {
            let raw = bytes((w * h * 3) as usize, seed as u64 + 11);
            let rgb = DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, raw.clone()).unwrap());
            let gray = DynamicImage::ImageLuma8(
                GrayImage::from_raw(w, h, raw[..(w * h) as usize].to_vec()).unwrap(),
            );
            for img in [rgb, gray] {
                let want = resize_to_fit(&img, nw, nh);
                let c = img.color().channel_count() as usize;
                let (ww, wh) = (want.width() as usize, want.height() as usize);
                let hwc = ndarray::ArrayView3::from_shape((wh, ww, c), want.as_bytes()).unwrap();
                let got = resize_to_fit_chw(&img, nw, nh).unwrap();
                assert_eq!(
                    got,
                    hwc.permuted_axes([2, 0, 1]),
                    "{c} channels {w}×{h} → {nw}×{nh}"
                );
            }
        }
        let rgba = DynamicImage::ImageRgba8(image::RgbaImage::new(4, 4));
        assert!(resize_to_fit_chw(&rgba, 2, 2).is_none());
        // Empty images and sizes take `image`'s own path, as `resize_to_fit` does.
        let empty = DynamicImage::ImageRgb8(RgbImage::new(0, 3));
        assert!(resize_to_fit_chw(&empty, 2, 2).is_none());
        let rgb = DynamicImage::ImageRgb8(RgbImage::new(4, 3));
        assert!(resize_to_fit_chw(&rgb, 0, 2).is_none());
        assert!(resample(&[] as &[u8], as_is, (0, 3), 3, Window::full(0, 3)).is_empty());
    }

    #[test]
    fn byte_rounds_like_f32_round() {
        for i in 0..=(255 * 64 + 40) {
            let t = i as f32 / 64.0 - 0.3;
            let want = t.clamp(0.0, 255.0).round() as u8;
            assert_eq!(byte(t), want, "{t}");
        }
        for t in [
            0.5f32, 1.5, 2.5, 254.5, 0.49999997, 0.50000006, 300.0, -1.0, -0.0,
        ] {
            assert_eq!(byte(t), t.clamp(0.0, 255.0).round() as u8, "{t}");
        }
        for t in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(byte(t), clamp(t, 0.0, 255.0) as u8, "{t}");
        }
    }
}
