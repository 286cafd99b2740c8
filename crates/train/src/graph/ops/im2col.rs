//! Convolution as a matrix product: unfold every receptive field of one image (one group's
//! channels) into a column, so the conv is `W (O × C·kh·kw) · cols (C·kh·kw × OH·OW)`; and the
//! adjoint, folding columns back and summing overlaps, for the input gradient.
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

/// `image` is `channels × height × width`; row `r` of its columns goes to
/// `cols[r·ld .. r·ld + cols()]` (`ld ≥ cols()`; the caller offsets `cols` to the image's block).
pub(crate) fn im2col(g: &Geometry, image: &[f32], cols: &mut [f32], ld: usize) {
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
                    let start = w0 * g.stride[1] + j * g.dilation[1] - g.pad[1];
                    if g.stride[1] == 1 {
                        for (o, &v) in out[w0..w1].iter_mut().zip(&line[start..]) {
                            *o = v;
                        }
                    } else {
                        for (o, &v) in out[w0..w1]
                            .iter_mut()
                            .zip(line[start..].iter().step_by(g.stride[1]))
                        {
                            *o = v;
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each column entry into the pixel it was read from.
pub(crate) fn col2im(g: &Geometry, cols: &[f32], ld: usize, image: &mut [f32]) {
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
                for y in h0..h1 {
                    let iy = y * g.stride[0] + i * g.dilation[0] - g.pad[0];
                    let line = &mut dst[iy * g.width..(iy + 1) * g.width];
                    let start = w0 * g.stride[1] + j * g.dilation[1] - g.pad[1];
                    let from = &src[y * ow + w0..y * ow + w1];
                    if g.stride[1] == 1 {
                        for (o, &v) in line[start..start + from.len()].iter_mut().zip(from) {
                            *o += v;
                        }
                    } else {
                        for (o, &v) in line[start..].iter_mut().step_by(g.stride[1]).zip(from) {
                            *o += v;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩` for every geometry: the two are adjoint, which is
    /// what makes the input gradient right.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        for (stride, pad, dil, k) in [
            (1, 1, 1, 3),
            (2, 1, 1, 3),
            (2, 0, 1, 1),
            (1, 2, 2, 3),
            (3, 2, 1, 5),
        ] {
            let (h, w) = (7, 6);
            let out = |n: usize| (n + 2 * pad - dil * (k - 1) - 1) / stride + 1;
            let g = Geometry {
                channels: 2,
                height: h,
                width: w,
                kernel: [k, k],
                stride: [stride, stride],
                dilation: [dil, dil],
                pad: [pad, pad],
                out: [out(h), out(w)],
            };
            let x: Vec<f32> = (0..2 * h * w)
                .map(|i| ((i * 37) % 11) as f32 - 5.0)
                .collect();
            let c: Vec<f32> = (0..g.rows() * g.cols())
                .map(|i| ((i * 13) % 7) as f32 - 3.0)
                .collect();
            let mut cols = vec![f32::NAN; g.rows() * g.cols()];
            im2col(&g, &x, &mut cols, g.cols());
            let mut back = vec![0.0; x.len()];
            col2im(&g, &c, g.cols(), &mut back);
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
}
