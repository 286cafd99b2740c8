//! The transpose of [`im2col`](super::im2col)'s column matrix, built channels-last: one row
//! per output position holding its receptive field, kernel position-major (`(i, j, c)`).
//!
//! A conv's weight gradient is `dY · colsᵀ`, a product over output positions, the contiguous
//! axis of both `dY` and the columns. The GEMM packs its right operand in runs along the other
//! axis, so from `colsᵀ` it gathered one value at a time: a third of that product's time went
//! to packing on the bundled encoder's early layers. These rows are `colsᵀ` laid out as the
//! GEMM reads it (contiguous runs), and they are built from a channels-last copy of the image,
//! so each kernel position of each output position is one copy of `C` contiguous values. The
//! rows come in `(i, j, c)` order rather than im2col's `(c, i, j)`: the caller permutes the
//! gradient's columns back ([`to_channel_major`]).
//!
//! The input gradient likewise comes out of its GEMM as rows (`dYᵀ·W`) and folds back into the
//! image by runs of `C` values ([`row2im`]), where col2im added single values at the stride.
//! Runs of one value are no gain: convs with fewer than [`MIN_CHANNELS`] channels per group
//! (depthwise ones, the first layer) keep the columns (MobileNetV3-Small's `tail:2` took 1.6×
//! as long through rows).

/// The fewest channels per group for which a conv's backward goes through rows.
pub(crate) const MIN_CHANNELS: usize = 16;

use super::block_transpose::transpose;
use super::im2col::Geometry;

/// `image` (`channels × height × width`) into `hwc` (`height × width × channels`).
pub(crate) fn to_channels_last(g: &Geometry, image: &[f32], hwc: &mut [f32]) {
    transpose(image, g.channels, g.height * g.width, hwc);
}

/// Row `q` of `rows` (`g.rows()` values, `rows[q·g.rows()..]`) is output position `q`'s
/// receptive field from the channels-last image `hwc`: for each kernel position `(i, j)`, the
/// `C` channels of the pixel it reads, or zeros where it reads padding.
pub(crate) fn im2row(g: &Geometry, hwc: &[f32], rows: &mut [f32]) {
    let (c, len) = (g.channels, g.rows());
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.out;
    for oy in 0..oh {
        for ox in 0..ow {
            let row = &mut rows[(oy * ow + ox) * len..(oy * ow + ox + 1) * len];
            for i in 0..kh {
                let iy = (oy * g.stride[0] + i * g.dilation[0]).checked_sub(g.pad[0]);
                for j in 0..kw {
                    let ix = (ox * g.stride[1] + j * g.dilation[1]).checked_sub(g.pad[1]);
                    let dst = &mut row[(i * kw + j) * c..(i * kw + j + 1) * c];
                    match (iy, ix) {
                        (Some(y), Some(x)) if y < g.height && x < g.width => {
                            let at = (y * g.width + x) * c;
                            copy(dst, &hwc[at..at + c]);
                        }
                        _ => copy(dst, &[]),
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2row`]: adds each row entry into the channels-last pixel it was read
/// from (`hwc` must start at zero). Kernel positions outermost, so each pixel receives its
/// contributions in im2col's `(i, j)` order, as [`col2im`](super::im2col::col2im) adds them.
pub(crate) fn row2im(g: &Geometry, rows: &[f32], hwc: &mut [f32]) {
    let (c, len) = (g.channels, g.rows());
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.out;
    for i in 0..kh {
        for j in 0..kw {
            let tap = (i * kw + j) * c;
            for oy in 0..oh {
                let Some(y) = (oy * g.stride[0] + i * g.dilation[0])
                    .checked_sub(g.pad[0])
                    .filter(|&y| y < g.height)
                else {
                    continue;
                };
                for ox in 0..ow {
                    let Some(x) = (ox * g.stride[1] + j * g.dilation[1])
                        .checked_sub(g.pad[1])
                        .filter(|&x| x < g.width)
                    else {
                        continue;
                    };
                    let at = (y * g.width + x) * c;
                    let from = (oy * ow + ox) * len + tap;
                    add(&mut hwc[at..at + c], &rows[from..from + c]);
                }
            }
        }
    }
}

/// `image` (`channels × height × width`) from `hwc` (`height × width × channels`).
pub(crate) fn from_channels_last(g: &Geometry, hwc: &[f32], image: &mut [f32]) {
    transpose(hwc, g.height * g.width, g.channels, image);
}

/// `dst += src`, sixteen at a time inline (see [`copy`]).
#[inline]
fn add(dst: &mut [f32], src: &[f32]) {
    let (chunks, rest) = dst.as_chunks_mut::<16>();
    let (from, tail) = src.as_chunks::<16>();
    for (d, s) in chunks.iter_mut().zip(from) {
        for k in 0..16 {
            d[k] += s[k];
        }
    }
    for (d, &s) in rest.iter_mut().zip(tail) {
        *d += s;
    }
}

/// `dst = src`, or zeros with an empty `src`: runs of a few dozen values, moved sixteen at a
/// time inline (a `memcpy`/`memset` call per run cost more than the copy).
#[inline]
fn copy(dst: &mut [f32], src: &[f32]) {
    let (chunks, rest) = dst.as_chunks_mut::<16>();
    if src.is_empty() {
        chunks.fill([0.0; 16]);
        for v in rest {
            *v = 0.0;
        }
        return;
    }
    let (from, tail) = src.as_chunks::<16>();
    for (d, s) in chunks.iter_mut().zip(from) {
        *d = *s;
    }
    for (d, &s) in rest.iter_mut().zip(tail) {
        *d = s;
    }
}

/// `grad` (`outputs × rows`, each row in [`im2row`]'s `(i, j, c)` order) in im2col's
/// `(c, i, j)` order, the weight layout: each row, a `taps × C` matrix, transposed.
pub(crate) fn to_channel_major(g: &Geometry, grad: &[f32], out: &mut [f32]) {
    let (c, taps) = (g.channels, g.kernel[0] * g.kernel[1]);
    for (src, dst) in grad
        .chunks_exact(c * taps)
        .zip(out.chunks_exact_mut(c * taps))
    {
        transpose(src, taps, c, dst);
    }
}

/// `w` (`outputs × rows` in im2col's `(c, i, j)` order) with each row in [`im2row`]'s
/// `(i, j, c)` order: the inverse of [`to_channel_major`].
pub(crate) fn to_row_major_taps(g: &Geometry, w: &[f32], out: &mut [f32]) {
    let (c, taps) = (g.channels, g.kernel[0] * g.kernel[1]);
    for (src, dst) in w.chunks_exact(c * taps).zip(out.chunks_exact_mut(c * taps)) {
        transpose(src, c, taps, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::super::im2col::{col2im, im2col, test_geometries};
    use super::*;

    /// `cols` (`rows × p`) transposed: `p × rows`.
    fn cols_rows(cols: &[f32], p: usize, rows: usize) -> Vec<f32> {
        (0..p * rows)
            .map(|i| cols[(i % rows) * p + i / rows])
            .collect()
    }

    /// The rows are im2col's columns transposed, with each row's entries permuted from
    /// `(c, i, j)` to `(i, j, c)`: checked entry by entry on strided, padded, dilated geometries.
    #[test]
    fn rows_are_the_permuted_transpose_of_the_columns() {
        let (h, w, ch) = (7, 6, 3);
        for g in test_geometries(ch, h, w) {
            let k = g.kernel[0];
            let x: Vec<f32> = (0..ch * h * w).map(|i| (i as f32) * 0.5 - 7.0).collect();
            let p = g.cols();
            let mut cols = vec![f32::NAN; g.rows() * p];
            im2col(&g, &x, &mut cols, p);
            let mut hwc = vec![f32::NAN; ch * h * w];
            to_channels_last(&g, &x, &mut hwc);
            let mut rows = vec![f32::NAN; p * g.rows()];
            im2row(&g, &hwc, &mut rows);
            for q in 0..p {
                for c in 0..ch {
                    for t in 0..k * k {
                        let want = cols[(c * k * k + t) * p + q];
                        let got = rows[q * g.rows() + t * ch + c];
                        assert_eq!(got.to_bits(), want.to_bits(), "q {q} c {c} tap {t}");
                    }
                }
            }
            // The adjoint: rows summed back into the image equal col2im of the columns that
            // are their permuted transpose, bit for bit (same order of additions).
            let grads: Vec<f32> = (0..p * g.rows())
                .map(|i| ((i * 29) % 13) as f32 * 0.25 - 1.5)
                .collect();
            let mut grad_cols = vec![0.0f32; g.rows() * p];
            for q in 0..p {
                for c in 0..ch {
                    for t in 0..k * k {
                        grad_cols[(c * k * k + t) * p + q] = grads[q * g.rows() + t * ch + c];
                    }
                }
            }
            let mut want = vec![0.0f32; ch * h * w];
            col2im(&g, &mut grad_cols, p, &mut want);
            let mut acc = vec![0.0f32; ch * h * w];
            row2im(&g, &grads, &mut acc);
            let mut got = vec![f32::NAN; ch * h * w];
            from_channels_last(&g, &acc, &mut got);
            for (a, b) in got.iter().zip(&want) {
                assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
            }
            // And the permutations between weight order and row order.
            let mut taps = vec![f32::NAN; p * g.rows()];
            to_row_major_taps(&g, &cols_rows(&cols, p, g.rows()), &mut taps);
            assert_eq!(
                taps.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                rows.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            let mut back = vec![f32::NAN; p * g.rows()];
            to_channel_major(&g, &rows, &mut back);
            for q in 0..p {
                for r in 0..g.rows() {
                    assert_eq!(back[q * g.rows() + r].to_bits(), cols[r * p + q].to_bits());
                }
            }
        }
    }
}
