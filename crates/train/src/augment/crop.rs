use ndarray::{Array3, ArrayView3};

use super::Pixel;
use crate::Rng;

/// A crop rectangle in source pixel coordinates (fractional: the resampler interpolates).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CropBox {
    pub top: f32,
    pub left: f32,
    pub height: f32,
    pub width: f32,
}

impl CropBox {
    pub fn full(height: usize, width: usize) -> Self {
        CropBox {
            top: 0.0,
            left: 0.0,
            height: height as f32,
            width: width as f32,
        }
    }

    /// torchvision's `RandomResizedCrop` sampling: area fraction uniform in `scale`, aspect
    /// ratio log-uniform in `ratio`, ten tries to fit, then the largest centered crop whose
    /// ratio is clamped into range.
    pub fn random(
        height: usize,
        width: usize,
        scale: (f32, f32),
        ratio: (f32, f32),
        rng: &mut Rng,
    ) -> Self {
        // Covering the whole area leaves exactly one crop, whatever the ratio range says.
        if scale.0 >= 1.0 {
            return Self::full(height, width);
        }
        let (h, w) = (height as f32, width as f32);
        let area = h * w;
        let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
        for _ in 0..10 {
            let target = area * rng.uniform(scale.0, scale.1);
            let aspect = rng.uniform(log_lo, log_hi).exp();
            let (cw, ch) = ((target * aspect).sqrt(), (target / aspect).sqrt());
            if cw <= w && ch <= h {
                let top = rng.uniform(0.0, h - ch);
                let left = rng.uniform(0.0, w - cw);
                return CropBox {
                    top,
                    left,
                    height: ch,
                    width: cw,
                };
            }
        }
        let aspect = w / h;
        let (ch, cw) = if aspect < ratio.0 {
            (w / ratio.0, w)
        } else if aspect > ratio.1 {
            (h, h * ratio.1)
        } else {
            (h, w)
        };
        CropBox {
            top: (h - ch) / 2.0,
            left: (w - cw) / 2.0,
            height: ch,
            width: cw,
        }
    }
}

/// Per output coordinate: the two source indices and the weight of the second (bilinear,
/// half-pixel centers as `align_corners=False`).
fn taps(start: f32, extent: f32, source: usize, out: usize) -> Vec<(usize, usize, f32)> {
    let step = extent / out as f32;
    (0..out)
        .map(|o| {
            let s = (start + (o as f32 + 0.5) * step - 0.5).clamp(0.0, (source - 1) as f32);
            let i0 = s.floor() as usize;
            let i1 = (i0 + 1).min(source - 1);
            (i0, i1, s - i0 as f32)
        })
        .collect()
}

/// Crops `img` (CHW) to `crop` and resizes bilinearly to `out_h × out_w`, mirrored left-right if
/// `flip` (folding the flip into the column taps costs nothing).
///
/// Bilinear without antialiasing: fine for the ≤ 2–3× reductions between a camera frame that
/// the caller has already brought near the encoder's size and the encoder input.
pub fn resized_crop<P: Pixel>(
    img: ArrayView3<P>,
    crop: CropBox,
    out_h: usize,
    out_w: usize,
    flip: bool,
) -> Array3<f32> {
    let mut out = Array3::zeros((img.dim().0, out_h, out_w));
    let dst = out.as_slice_mut().expect("a new array is contiguous");
    resized_crop_into(img, crop, out_h, out_w, flip, dst);
    out
}

/// [`resized_crop`] written into `out` (CHW, `c · out_h · out_w` values in [0, 1]): the
/// augmenter samples every view straight from the stored frame into the batch buffer.
#[inline(always)]
pub fn resized_crop_into<P: Pixel>(
    img: ArrayView3<P>,
    crop: CropBox,
    out_h: usize,
    out_w: usize,
    flip: bool,
    out: &mut [f32],
) {
    let (c, h, w) = img.dim();
    assert_eq!(out.len(), c * out_h * out_w, "output buffer size");
    let rows = taps(crop.top, crop.height, h, out_h);
    let mut cols = taps(crop.left, crop.width, w, out_w);
    if flip {
        cols.reverse();
    }
    let standard = img.as_standard_layout();
    let src = standard.as_slice().expect("standard layout is contiguous");
    for (plane, dst) in src
        .chunks_exact(h * w)
        .zip(out.chunks_exact_mut(out_h * out_w))
    {
        for (&(y0, y1, wy), line) in rows.iter().zip(dst.chunks_exact_mut(out_w)) {
            let (r0, r1) = (&plane[y0 * w..(y0 + 1) * w], &plane[y1 * w..(y1 + 1) * w]);
            for (&(x0, x1, wx), o) in cols.iter().zip(line.iter_mut()) {
                let top = r0[x0].unit() * (1.0 - wx) + r0[x1].unit() * wx;
                let bottom = r1[x0].unit() * (1.0 - wx) + r1[x1].unit() * wx;
                *o = top * (1.0 - wy) + bottom * wy;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(c: usize, h: usize, w: usize) -> Array3<f32> {
        Array3::from_shape_fn((c, h, w), |(k, y, x)| (k * 100 + y * 10 + x) as f32)
    }

    #[test]
    fn full_crop_at_same_size_is_identity_and_flip_mirrors() {
        let img = ramp(2, 4, 5);
        assert_eq!(
            resized_crop(img.view(), CropBox::full(4, 5), 4, 5, false),
            img
        );
        let flipped = resized_crop(img.view(), CropBox::full(4, 5), 4, 5, true);
        assert_eq!(flipped[[1, 2, 0]], img[[1, 2, 4]]);
    }

    #[test]
    fn downscale_by_two_averages_pairs() {
        let img = ramp(1, 2, 4);
        let out = resized_crop(img.view(), CropBox::full(2, 4), 1, 2, false);
        assert_eq!(out[[0, 0, 0]], (0.0 + 1.0 + 10.0 + 11.0) / 4.0);
    }

    #[test]
    fn random_boxes_stay_inside_and_respect_scale() {
        let mut rng = Rng::new(1);
        for _ in 0..200 {
            let b = CropBox::random(40, 60, (0.3, 0.9), (0.75, 1.33), &mut rng);
            assert!(b.top >= 0.0 && b.left >= 0.0);
            assert!(b.top + b.height <= 40.001 && b.left + b.width <= 60.001);
            let frac = b.height * b.width / 2400.0;
            assert!((0.29..=1.0).contains(&frac), "{frac}");
        }
        // A 1×100 strip cannot fit the ratio range: the fallback is centered and inside.
        let b = CropBox::random(1, 100, (0.5, 1.0), (0.75, 1.33), &mut rng);
        assert!(b.left >= 0.0 && b.left + b.width <= 100.0 && b.height == 1.0);
    }
}
