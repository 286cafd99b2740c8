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
    // The source columns the crop reads, and each output column's taps relative to them.
    let lo = cols.iter().map(|t| t.0).min().unwrap_or(0);
    let cols = Columns::new(&cols, lo);
    let standard = img.as_standard_layout();
    let src = standard.as_slice().expect("standard layout is contiguous");
    for (plane, dst) in src
        .chunks_exact(h * w)
        .zip(out.chunks_exact_mut(out_h * out_w))
    {
        let mut cache = RowCache::new(cols.end);
        for (&(y0, y1, wy), line) in rows.iter().zip(dst.chunks_exact_mut(out_w)) {
            let (r0, r1) = cache.rows(plane, w, lo, y0, y1);
            cols.interpolate(r0, r1, wy, line);
        }
    }
}

/// Each output column's taps, relative to the first source column the crop reads, as separate
/// arrays (so eight outputs' taps load as one vector each).
struct Columns {
    x0: Vec<i32>,
    x1: Vec<i32>,
    /// `1 − wx` and `wx`.
    w0: Vec<f32>,
    w1: Vec<f32>,
    /// Every index is below this: the source columns `lo..lo + end` are all the crop reads
    /// (and all the gathers may touch).
    end: usize,
    /// `x0` of each whole block of 8 columns in the order the pair gathers take them
    /// (`0, 1, 4, 5` then `2, 3, 6, 7`), when every `x1` is `x0 + 1` or, at the last column,
    /// `x0` itself; empty otherwise.
    #[cfg(target_arch = "x86_64")]
    pairs: Vec<i32>,
}

impl Columns {
    fn new(taps: &[(usize, usize, f32)], lo: usize) -> Self {
        let index = |x: usize| i32::try_from(x - lo).unwrap_or(i32::MAX);
        let end = taps.iter().map(|t| t.1 + 1 - lo).max().unwrap_or(0);
        let x0: Vec<i32> = taps.iter().map(|t| index(t.0)).collect();
        let x1: Vec<i32> = taps.iter().map(|t| index(t.1)).collect();
        Columns {
            w0: taps.iter().map(|t| 1.0 - t.2).collect(),
            w1: taps.iter().map(|t| t.2).collect(),
            #[cfg(target_arch = "x86_64")]
            pairs: pair_order(&x0, &x1, end),
            x0,
            x1,
            end,
        }
    }

    /// One output line: `(r0[x0]·(1 − wx) + r0[x1]·wx)·(1 − wy) + (r1[x0]·(1 − wx) + r1[x1]·wx)·wy`
    /// per column, the same operations in the same order whichever path runs (no fused
    /// multiply-add), so the AVX2 gathers give the scalar loop's bits.
    #[inline(always)]
    fn interpolate(&self, r0: &[f32], r1: &[f32], wy: f32, line: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        let done = if std::arch::is_x86_feature_detected!("avx2")
            && r0.len() >= self.end
            && r1.len() >= self.end
            && self.end <= i32::MAX as usize
        {
            // SAFETY: the CPU has AVX2; every index is below `end` (`new` made them so), which
            // both rows reach, and the gathers read only at those indices.
            match !self.pairs.is_empty() && r0.len() > self.end && r1.len() > self.end {
                // SAFETY: AVX2 was detected, every pair read (`x0`, `x0 + 1` < `end + 1`)
                // lies in both rows.
                true => unsafe { self.interpolate_pairs_avx2(r0, r1, wy, line) },
                false => unsafe { self.interpolate_avx2(r0, r1, wy, line) },
            }
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        let n = line.len().min(self.x0.len());
        // Five arrays indexed alike: the index is the clearest form of the scalar tail.
        #[allow(clippy::needless_range_loop)]
        for i in done..n {
            let (x0, x1) = (self.x0[i] as usize, self.x1[i] as usize);
            let top = r0[x0] * self.w0[i] + r0[x1] * self.w1[i];
            let bottom = r1[x0] * self.w0[i] + r1[x1] * self.w1[i];
            line[i] = top * (1.0 - wy) + bottom * wy;
        }
    }

    /// The columns eight at a time; returns how many it wrote (the rest is the caller's).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn interpolate_avx2(&self, r0: &[f32], r1: &[f32], wy: f32, line: &mut [f32]) -> usize {
        use std::arch::x86_64::*;
        let n = line.len().min(self.x0.len()) / 8 * 8;
        let (wy0, wy1) = (_mm256_set1_ps(1.0 - wy), _mm256_set1_ps(wy));
        let mut i = 0;
        while i < n {
            // SAFETY: `i + 8 <= n` keeps every load and the store inside their slices; the
            // gathered indices are below `end` (see the caller).
            unsafe {
                let x0 = _mm256_loadu_si256(self.x0.as_ptr().add(i).cast());
                let x1 = _mm256_loadu_si256(self.x1.as_ptr().add(i).cast());
                let w0 = _mm256_loadu_ps(self.w0.as_ptr().add(i));
                let w1 = _mm256_loadu_ps(self.w1.as_ptr().add(i));
                let a = _mm256_i32gather_ps::<4>(r0.as_ptr(), x0);
                let b = _mm256_i32gather_ps::<4>(r0.as_ptr(), x1);
                let c = _mm256_i32gather_ps::<4>(r1.as_ptr(), x0);
                let d = _mm256_i32gather_ps::<4>(r1.as_ptr(), x1);
                let out = blend([a, b, c, d], (w0, w1), (wy0, wy1));
                _mm256_storeu_ps(line.as_mut_ptr().add(i), out);
            }
            i += 8;
        }
        n
    }

    /// [`interpolate_avx2`](Self::interpolate_avx2) with each column's two neighbours read
    /// as one 64-bit pair: two 4-element gathers and two shuffles per row and 8 outputs,
    /// instead of two 8-element gathers (on the AMD EPYC of these measurements the gathers
    /// were two thirds of a view's crop). The same products and sums, so the same bits.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn interpolate_pairs_avx2(
        &self,
        r0: &[f32],
        r1: &[f32],
        wy: f32,
        line: &mut [f32],
    ) -> usize {
        use std::arch::x86_64::*;
        let n = (line.len().min(self.x0.len()) / 8 * 8).min(self.pairs.len());
        let (wy0, wy1) = (_mm256_set1_ps(1.0 - wy), _mm256_set1_ps(wy));
        // `(r[x], r[x + 1])` of four columns, gathered as 64-bit values from byte offset `4x`.
        let pairs = |r: &[f32], at: __m128i| unsafe {
            _mm256_castpd_ps(_mm256_i32gather_pd::<4>(r.as_ptr().cast(), at))
        };
        let mut i = 0;
        while i < n {
            unsafe {
                let lo = _mm_loadu_si128(self.pairs.as_ptr().add(i).cast());
                let hi = _mm_loadu_si128(self.pairs.as_ptr().add(i + 4).cast());
                let w0 = _mm256_loadu_ps(self.w0.as_ptr().add(i));
                let w1 = _mm256_loadu_ps(self.w1.as_ptr().add(i));
                // Columns 0, 1, 4, 5 and 2, 3, 6, 7: the shuffles put them back in order.
                let (p, q) = (pairs(r0, lo), pairs(r0, hi));
                let a = _mm256_shuffle_ps::<0x88>(p, q);
                let b = _mm256_shuffle_ps::<0xDD>(p, q);
                let (p, q) = (pairs(r1, lo), pairs(r1, hi));
                let c = _mm256_shuffle_ps::<0x88>(p, q);
                let d = _mm256_shuffle_ps::<0xDD>(p, q);
                let out = blend([a, b, c, d], (w0, w1), (wy0, wy1));
                _mm256_storeu_ps(line.as_mut_ptr().add(i), out);
            }
            i += 8;
        }
        n
    }
}

/// Eight outputs from their neighbours `[a, b]` in row 0 and `[c, d]` in row 1: `(a·w0 + b·w1)·wy0
/// + (c·w0 + d·w1)·wy1`, multiplies and adds apart (no fused multiply-add, as the scalar loop).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn blend(
    [a, b, c, d]: [std::arch::x86_64::__m256; 4],
    (w0, w1): (std::arch::x86_64::__m256, std::arch::x86_64::__m256),
    (wy0, wy1): (std::arch::x86_64::__m256, std::arch::x86_64::__m256),
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let top = _mm256_add_ps(_mm256_mul_ps(a, w0), _mm256_mul_ps(b, w1));
    let bottom = _mm256_add_ps(_mm256_mul_ps(c, w0), _mm256_mul_ps(d, w1));
    _mm256_add_ps(_mm256_mul_ps(top, wy0), _mm256_mul_ps(bottom, wy1))
}

/// [`Columns::pairs`]: `x0` in the pair gathers' order, or nothing when some column does not
/// read its right neighbour (or, at the last column, itself). The row buffers repeat their last
/// value once past `end` ([`RowCache`]), so reading `r[x0 + 1]` is reading `r[x1]` for both kinds.
#[cfg(target_arch = "x86_64")]
fn pair_order(x0: &[i32], x1: &[i32], end: usize) -> Vec<i32> {
    let adjacent = x0.iter().zip(x1).all(|(&a, &b)| {
        b == a.saturating_add(1) || (a == b && usize::try_from(a).is_ok_and(|a| a + 1 == end))
    });
    match adjacent {
        true => x0
            .chunks_exact(8)
            .flat_map(|b| [b[0], b[1], b[4], b[5], b[2], b[3], b[6], b[7]])
            .collect(),
        false => Vec::new(),
    }
}

/// The two source rows an output row interpolates, converted to [0, 1] floats once (over the
/// crop's columns) instead of once per tap: consecutive output rows often share a source row,
/// and the conversion of a contiguous row vectorizes where four scattered ones per output do
/// not. The values are `unit()`'s, so the view is the same bits as converting per tap.
struct RowCache {
    index: [usize; 2],
    row: [Vec<f32>; 2],
}

impl RowCache {
    /// Rows of `span` values and one more: a copy of the last, so that a column's right
    /// neighbour can be read as `x0 + 1` even where it is clamped to `x0` (the pair gathers).
    fn new(span: usize) -> Self {
        RowCache {
            index: [usize::MAX; 2],
            row: [vec![0.0; span + 1], vec![0.0; span + 1]],
        }
    }

    /// Rows `y0` and `y1` of `plane` (`w` wide), columns `lo..lo + span`.
    #[inline(always)]
    fn rows<P: Pixel>(
        &mut self,
        plane: &[P],
        w: usize,
        lo: usize,
        y0: usize,
        y1: usize,
    ) -> (&[f32], &[f32]) {
        for (y, other) in [(y0, y1), (y1, y0)] {
            if self.index.contains(&y) {
                continue;
            }
            let slot = usize::from(self.index[0] == other);
            let row = &mut self.row[slot];
            let span = row.len() - 1;
            let from = &plane[y * w + lo..y * w + lo + span];
            for (d, s) in row.iter_mut().zip(from) {
                *d = s.unit();
            }
            row[span] = row[span.saturating_sub(1)];
            self.index[slot] = y;
        }
        let slot = |y| usize::from(self.index[0] != y);
        (&self.row[slot(y0)], &self.row[slot(y1)])
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

    /// The interpolation as first written: each tap converted and weighted on its own.
    fn per_tap(img: ArrayView3<u8>, crop: CropBox, oh: usize, ow: usize, flip: bool) -> Vec<f32> {
        let (c, h, w) = img.dim();
        let rows = taps(crop.top, crop.height, h, oh);
        let mut cols = taps(crop.left, crop.width, w, ow);
        if flip {
            cols.reverse();
        }
        let mut out = Vec::with_capacity(c * oh * ow);
        for k in 0..c {
            for &(y0, y1, wy) in &rows {
                for &(x0, x1, wx) in &cols {
                    let p = |y: usize, x: usize| img[[k, y, x]].unit();
                    let top = p(y0, x0) * (1.0 - wx) + p(y0, x1) * wx;
                    let bottom = p(y1, x0) * (1.0 - wx) + p(y1, x1) * wx;
                    out.push(top * (1.0 - wy) + bottom * wy);
                }
            }
        }
        out
    }

    /// Cached rows and (on AVX2 CPUs) gathered columns and column pairs change no bit: random
    /// frames, crops, flips and output sizes that are and are not multiples of eight, down- and upscaling.
    #[test]
    fn row_cache_and_gathers_give_the_per_tap_bits() {
        let mut rng = Rng::new(7);
        for (h, w, oh, ow) in [(336, 448, 224, 224), (60, 80, 28, 29), (20, 30, 45, 61)] {
            let img = Array3::from_shape_simple_fn((3, h, w), || rng.below(256) as u8);
            for i in 0..20 {
                // The whole frame too: its last columns are clamped to the frame's edge.
                let crop = match i {
                    0 => CropBox::full(h, w),
                    _ => CropBox::random(h, w, (0.08, 1.0), (0.75, 1.333), &mut rng),
                };
                let flip = rng.chance(0.5);
                // Every column reads its neighbour or, at the frame's edge, itself: the pair
                // path is taken.
                #[cfg(target_arch = "x86_64")]
                {
                    let cols = taps(crop.left, crop.width, w, ow);
                    let lo = cols.iter().map(|t| t.0).min().unwrap_or(0);
                    assert_eq!(Columns::new(&cols, lo).pairs.len(), ow / 8 * 8);
                }
                let got = resized_crop(img.view(), crop, oh, ow, flip);
                let want = per_tap(img.view(), crop, oh, ow, flip);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(got.as_slice().unwrap()),
                    bits(&want),
                    "{crop:?} flip {flip}"
                );
            }
        }
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
