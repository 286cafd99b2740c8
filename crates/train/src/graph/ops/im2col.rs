//! Convolution as a matrix product: unfold every receptive field of one image (one group's
//! channels) into a column, so the conv is `W (O × C·kh·kw) · cols (C·kh·kw × OH·OW)`; and the
//! adjoint, folding columns back and summing overlaps, for the input gradient of convs with few
//! channels per group (depthwise ones: see [`im2row`](super::im2row) for the others).
//!
//! Columns are built for a few images at a time, side by side (`ld` apart from row to row), and
//! reused, never for the whole batch: a batch of 64 at 56×56 with 64 channels would need 460 MB
//! of columns. Several images per GEMM keep late layers (7×7, 4×4 outputs) from spending their
//! time packing tiny matrices.

/// Sizes of one 2-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// top, left (bottom and right only change the output size).
    pub pad: [usize; 2],
    pub out: [usize; 2],
}

impl Geometry {
    pub fn rows(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    pub fn cols(&self) -> usize {
        self.out[0] * self.out[1]
    }

    /// A 1×1 kernel with unit stride and no padding: the image already is its column matrix.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1]
            && self.stride == [1, 1]
            && self.pad == [0, 0]
            && self.out == [self.height, self.width]
    }

    /// Unit stride and dilation with output rows as wide as the input ("same" padding across):
    /// row `(c, i, j)` of the columns is then channel `c`'s plane shifted by one constant, so
    /// its valid part is one contiguous run and only the wrapped edges differ (see [`shift`]).
    fn shifts(&self) -> bool {
        self.stride == [1, 1] && self.dilation == [1, 1] && self.out[1] == self.width
    }

    /// For kernel offset `k` along an axis: the output range whose input index is inside.
    fn valid(&self, axis: usize, k: usize) -> (usize, usize) {
        let size = if axis == 0 { self.height } else { self.width };
        let (s, p, off) = (self.stride[axis], self.pad[axis], k * self.dilation[axis]);
        // input = o·s + off − p must be in [0, size).
        let lo = p.saturating_sub(off).div_ceil(s);
        let hi = if size + p > off {
            ((size + p - off - 1) / s + 1).min(self.out[axis])
        } else {
            0
        };
        (lo.min(hi), hi)
    }
}

/// For a geometry that [`Geometry::shifts`], kernel offset `(i, j)`: the valid output run
/// `first..last` (row-major positions, wrapped edges inside it) and the input position of
/// `first`; `None` when no output reads inside the input.
fn shift(g: &Geometry, i: usize, j: usize) -> Option<(usize, usize, usize)> {
    let ((h0, h1), (w0, w1)) = (g.valid(0, i), g.valid(1, j));
    if h0 >= h1 || w0 >= w1 {
        return None;
    }
    let w = g.width;
    let (first, last) = (h0 * w + w0, (h1 - 1) * w + w1);
    // Output (y, x) reads input (y + i − pad_top, x + j − pad_left): valid for `first`.
    let from = (h0 + i - g.pad[0]) * w + w0 + j - g.pad[1];
    Some((first, last, from))
}

/// The positions of `first..last` that wrap from one row's valid end to the next row's valid
/// start (`w1..width` of a row, `0..w0` of the next): the ones a contiguous run must skip.
fn wrapped(g: &Geometry, j: usize, first: usize, last: usize) -> impl Iterator<Item = usize> {
    let (w0, w1) = g.valid(1, j);
    let w = g.width;
    (first / w..(last - 1) / w).flat_map(move |y| y * w + w1..(y + 1) * w + w0)
}

/// `out[k] = src[k·stride]` for every `k` of `out` (`src` holds at least
/// `(out.len() − 1)·stride + 1` values). A plain loop: rows are 4 to 56 values, where a
/// memcpy call costs more than the copy; strided rows go by fixed-size chunks, not `step_by`,
/// whose per-element `nth` was most of the strided layers' column time.
#[inline]
fn gather(out: &mut [f32], src: &[f32], stride: usize) {
    match stride {
        1 => {
            for (o, &v) in out.iter_mut().zip(src) {
                *o = v;
            }
        }
        2 => {
            let whole = (src.len() / 2).min(out.len());
            for (o, c) in out[..whole].iter_mut().zip(src.chunks_exact(2)) {
                *o = c[0];
            }
            for (k, o) in out.iter_mut().enumerate().skip(whole) {
                *o = src[k * 2];
            }
        }
        s => {
            for (o, &v) in out.iter_mut().zip(src.iter().step_by(s)) {
                *o = v;
            }
        }
    }
}

/// The adjoint of [`gather`]: `dst[k·stride] += from[k]`.
#[inline]
fn scatter_add(dst: &mut [f32], from: &[f32], stride: usize) {
    match stride {
        1 => {
            for (o, &v) in dst.iter_mut().zip(from) {
                *o += v;
            }
        }
        2 => {
            let whole = (dst.len() / 2).min(from.len());
            for (c, &v) in dst.chunks_exact_mut(2).zip(&from[..whole]) {
                c[0] += v;
            }
            for (k, &v) in from.iter().enumerate().skip(whole) {
                dst[k * 2] += v;
            }
        }
        s => {
            for (o, &v) in dst.iter_mut().step_by(s).zip(from) {
                *o += v;
            }
        }
    }
}

/// `image` is `channels × height × width`; row `r` of its columns goes to
/// `cols[r·ld .. r·ld + cols()]` (`ld ≥ cols()`; the caller offsets `cols` to the image's block).
pub(crate) fn im2col(g: &Geometry, image: &[f32], cols: &mut [f32], ld: usize) {
    if g.shifts() {
        im2col_shifted(g, image, cols, ld);
    } else {
        im2col_strided(g, image, cols, ld);
    }
}

/// [`im2col`] for a geometry that [`Geometry::shifts`]: one copy per row of the columns.
fn im2col_shifted(g: &Geometry, image: &[f32], cols: &mut [f32], ld: usize) {
    let plane = g.height * g.width;
    for (c, i, j, row) in kernel_rows(g) {
        let src = &image[c * plane..(c + 1) * plane];
        let dst = &mut cols[row * ld..row * ld + g.cols()];
        let Some((first, last, from)) = shift(g, i, j) else {
            dst.fill(0.0);
            continue;
        };
        // The edges are a row or less: plain loops (see `im2col_strided`).
        for o in &mut dst[..first] {
            *o = 0.0;
        }
        dst[first..last].copy_from_slice(&src[from..from + (last - first)]);
        for o in &mut dst[last..] {
            *o = 0.0;
        }
        for k in wrapped(g, j, first, last) {
            dst[k] = 0.0;
        }
    }
}

/// Every row of the columns: `(channel, kernel row, kernel column, row index)`.
fn kernel_rows(g: &Geometry) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    let [kh, kw] = g.kernel;
    (0..g.channels).flat_map(move |c| {
        (0..kh).flat_map(move |i| (0..kw).map(move |j| (c, i, j, (c * kh + i) * kw + j)))
    })
}

/// [`im2col`] for any geometry: one copy per output row.
fn im2col_strided(g: &Geometry, image: &[f32], cols: &mut [f32], ld: usize) {
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.out;
    let plane = g.height * g.width;
    for c in 0..g.channels {
        let src = &image[c * plane..(c + 1) * plane];
        for i in 0..kh {
            let (h0, h1) = g.valid(0, i);
            for j in 0..kw {
                let (w0, w1) = g.valid(1, j);
                let row = (c * kh + i) * kw + j;
                let dst = &mut cols[row * ld..row * ld + oh * ow];
                dst[..h0 * ow].fill(0.0);
                dst[h1 * ow..].fill(0.0);
                for y in h0..h1 {
                    let iy = y * g.stride[0] + i * g.dilation[0] - g.pad[0];
                    let line = &src[iy * g.width..(iy + 1) * g.width];
                    let out = &mut dst[y * ow..(y + 1) * ow];
                    // Plain loops, not fill/copy_from_slice: rows are 4 to 56 values, where a
                    // memset/memcpy call costs more than the copy.
                    for o in &mut out[..w0] {
                        *o = 0.0;
                    }
                    for o in &mut out[w1..] {
                        *o = 0.0;
                    }
                    // A kernel column that only ever reads padding (pads wider than it).
                    if w0 == w1 {
                        continue;
                    }
                    let start = w0 * g.stride[1] + j * g.dilation[1] - g.pad[1];
                    gather(&mut out[w0..w1], &line[start..], g.stride[1]);
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each column entry into the pixel it was read from. The
/// entries no pixel reads (padding) may be overwritten with zeros.
pub(crate) fn col2im(g: &Geometry, cols: &mut [f32], ld: usize, image: &mut [f32]) {
    if g.shifts() {
        col2im_shifted(g, cols, ld, image);
    } else {
        col2im_strided(g, cols, ld, image);
    }
}

/// [`col2im`] for a geometry that [`Geometry::shifts`]: one pass per row of the columns.
fn col2im_shifted(g: &Geometry, cols: &mut [f32], ld: usize, image: &mut [f32]) {
    let plane = g.height * g.width;
    for (c, i, j, row) in kernel_rows(g) {
        let Some((first, last, from)) = shift(g, i, j) else {
            continue;
        };
        let dst = &mut image[c * plane..(c + 1) * plane];
        let src = &mut cols[row * ld + first..row * ld + last];
        // Zeros where the run wraps, so one contiguous pass adds nothing there.
        for k in wrapped(g, j, first, last) {
            src[k - first] = 0.0;
        }
        for (o, &v) in dst[from..from + src.len()].iter_mut().zip(src.iter()) {
            *o += v;
        }
    }
}

/// [`col2im`] for any geometry: one pass per output row.
fn col2im_strided(g: &Geometry, cols: &[f32], ld: usize, image: &mut [f32]) {
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.out;
    let plane = g.height * g.width;
    for c in 0..g.channels {
        let dst = &mut image[c * plane..(c + 1) * plane];
        for i in 0..kh {
            let (h0, h1) = g.valid(0, i);
            for j in 0..kw {
                let (w0, w1) = g.valid(1, j);
                let row = (c * kh + i) * kw + j;
                let src = &cols[row * ld..row * ld + oh * ow];
                if w0 == w1 {
                    continue;
                }
                for y in h0..h1 {
                    let iy = y * g.stride[0] + i * g.dilation[0] - g.pad[0];
                    let line = &mut dst[iy * g.width..(iy + 1) * g.width];
                    let start = w0 * g.stride[1] + j * g.dilation[1] - g.pad[1];
                    let from = &src[y * ow + w0..y * ow + w1];
                    scatter_add(&mut line[start..], from, g.stride[1]);
                }
            }
        }
    }
}

/// Square kernels with every kind of stride, padding and dilation, on `channels × h × w`
/// images: the geometries the unfolding tests run over.
#[cfg(test)]
pub(crate) fn test_geometries(channels: usize, h: usize, w: usize) -> Vec<Geometry> {
    [
        (1, 1, 1, 3),
        (2, 1, 1, 3),
        (2, 0, 1, 1),
        (1, 2, 2, 3),
        (3, 2, 1, 5),
    ]
    .into_iter()
    .map(|(stride, pad, dil, k)| {
        let out = |n: usize| (n + 2 * pad - dil * (k - 1) - 1) / stride + 1;
        Geometry {
            channels,
            height: h,
            width: w,
            kernel: [k, k],
            stride: [stride, stride],
            dilation: [dil, dil],
            pad: [pad, pad],
            out: [out(h), out(w)],
        }
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩` for every geometry: the two are adjoint, which is
    /// what makes the input gradient right.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let (h, w) = (7, 6);
        for g in test_geometries(2, h, w) {
            let (stride, pad, dil, k) = (g.stride[0], g.pad[0], g.dilation[0], g.kernel[0]);
            let x: Vec<f32> = (0..2 * h * w)
                .map(|i| ((i * 37) % 11) as f32 - 5.0)
                .collect();
            let c: Vec<f32> = (0..g.rows() * g.cols())
                .map(|i| ((i * 13) % 7) as f32 - 3.0)
                .collect();
            let mut cols = vec![f32::NAN; g.rows() * g.cols()];
            im2col(&g, &x, &mut cols, g.cols());
            let mut back = vec![0.0; x.len()];
            col2im(&g, &mut c.clone(), g.cols(), &mut back);
            let lhs: f32 = cols.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f32 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert_eq!(
                lhs, rhs,
                "stride {stride} pad {pad} dilation {dil} kernel {k}"
            );
            // Direct definition for one entry: row (c=1, i=k-1, j=0), output (0, last).
            let (i, j, oy, ox) = (k - 1, 0, 0, g.out[1] - 1);
            let iy = (oy * stride + i * dil) as isize - pad as isize;
            let ix = (ox * stride + j * dil) as isize - pad as isize;
            let want = if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                x[h * w + iy as usize * w + ix as usize]
            } else {
                0.0
            };
            let row = (k + i) * k + j;
            assert_eq!(cols[row * g.cols() + oy * g.out[1] + ox], want);
        }
    }

    /// Geometries whose rows are as wide as the input take the shifted path; it must give
    /// exactly what the row-by-row path gives, for the columns and for the folded gradient.
    #[test]
    fn the_shifted_path_equals_the_row_by_row_path() {
        // (kernel, pads [top, left, bottom, right])
        for (k, [pt, pl, pb, pr]) in [
            ([3usize, 3], [1usize, 1, 1, 1]),
            ([3, 3], [0, 2, 2, 0]),
            ([5, 3], [2, 1, 0, 1]),
            ([1, 5], [0, 4, 0, 0]),
            ([3, 3], [3, 1, 3, 1]),
            ([1, 1], [0, 0, 0, 0]),
        ] {
            for (h, w) in [(7usize, 6usize), (1, 4), (4, 1), (5, 9)] {
                let (Some(oh), Some(ow)) = (
                    (h + pt + pb + 1).checked_sub(k[0]),
                    (w + pl + pr + 1).checked_sub(k[1]),
                ) else {
                    continue;
                };
                if oh == 0 || ow != w {
                    continue;
                }
                let out = [oh, ow];
                let g = Geometry {
                    channels: 3,
                    height: h,
                    width: w,
                    kernel: k,
                    stride: [1, 1],
                    dilation: [1, 1],
                    pad: [pt, pl],
                    out,
                };
                assert!(g.shifts(), "{g:?}");
                let x: Vec<f32> = (0..3 * h * w).map(|i| i as f32 + 1.0).collect();
                let ld = g.cols() + 3;
                let (mut fast, mut slow) =
                    (vec![f32::NAN; g.rows() * ld], vec![f32::NAN; g.rows() * ld]);
                im2col_shifted(&g, &x, &mut fast, ld);
                im2col_strided(&g, &x, &mut slow, ld);
                for r in 0..g.rows() {
                    assert_eq!(
                        fast[r * ld..r * ld + g.cols()],
                        slow[r * ld..r * ld + g.cols()],
                        "{g:?} row {r}"
                    );
                }
                let c: Vec<f32> = (0..g.rows() * ld)
                    .map(|i| ((i * 13) % 7) as f32 - 3.0)
                    .collect();
                let (mut a, mut b) = (vec![0.5; x.len()], vec![0.5; x.len()]);
                col2im_shifted(&g, &mut c.clone(), ld, &mut a);
                col2im_strided(&g, &c, ld, &mut b);
                assert_eq!(a, b, "{g:?}");
            }
        }
    }

    #[test]
    fn gather_and_scatter_add_follow_their_definitions() {
        for stride in 1..=3 {
            for n in 0..6usize {
                for extra in 0..3 {
                    let len = n.saturating_sub(1) * stride + usize::from(n > 0) + extra;
                    let src: Vec<f32> = (0..len).map(|i| i as f32 + 1.0).collect();
                    let mut out = vec![0.0; n];
                    gather(&mut out, &src, stride);
                    let want: Vec<f32> = (0..n).map(|k| src[k * stride]).collect();
                    assert_eq!(out, want, "stride {stride}, {n} from {len}");
                    let from: Vec<f32> = (0..n).map(|k| 10.0 * k as f32 + 0.5).collect();
                    let mut dst = src.clone();
                    scatter_add(&mut dst, &from, stride);
                    let mut want = src.clone();
                    for k in 0..n {
                        want[k * stride] += from[k];
                    }
                    assert_eq!(dst, want, "stride {stride}, {n} into {len}");
                }
            }
        }
    }
}
