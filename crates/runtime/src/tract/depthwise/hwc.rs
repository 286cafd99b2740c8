//! The channel-last form of [`AvxDepthwise`](super::AvxDepthwise), with AVX2 and FMA: for the
//! depthwise convs that [`rewrite`](crate::tract::rewrite) moves channel-last (NHWC or HWC data), where the
//! moves pay for the batch-norms around them (behind a batch axis, see `rewrite::optimize`).
//!
//! Every output point is the bias plus one multiply-add per tap that falls inside the input, all
//! channels at once, 32 at a time in four registers: the weights are stored tap-major, `[kh*kw,
//! C]`, so that a tap's weights are contiguous like its input pixel.

use tract_onnx::tract_core::tract_linalg::multithread;

use super::plane::Geometry;

impl Geometry {
    /// Computes `y` from `x`, both channel-last, output rows shared out over tract's threads.
    ///
    /// # Safety
    /// The host must have AVX2 and FMA.
    pub(crate) unsafe fn run_hwc(&self, weights: &[f32], bias: &[f32], x: &[f32], y: &mut [f32]) {
        let row = self.ow * self.c;
        let work = y.len() * self.kernel[0] * self.kernel[1];
        let split = multithread::par_chunks_mut(y, row, work, |first, y| {
            let mut taps = Vec::with_capacity(self.kernel[0] * self.kernel[1]);
            for (r, y) in y.chunks_exact_mut(row).enumerate() {
                let (n, oy) = ((first + r) / self.oh, (first + r) % self.oh);
                let image = &x[n * self.h * self.w * self.c..][..self.h * self.w * self.c];
                for (ox, y) in y.chunks_exact_mut(self.c).enumerate() {
                    self.taps_at(oy, ox, &mut taps);
                    // SAFETY: the caller's contract.
                    unsafe { pixel(image, &taps, weights, bias, y) };
                }
            }
            Ok(())
        });
        split.expect("AvxDepthwise rows cannot fail");
    }

    /// The taps of output point (`oy`, `ox`) that fall inside the input: offsets of their input
    /// pixel in the image and of their weights, both in floats.
    fn taps_at(&self, oy: usize, ox: usize, taps: &mut Vec<(usize, usize)>) {
        taps.clear();
        let [kh, kw] = self.kernel;
        for ky in 0..kh {
            let iy = (oy * self.stride[0] + ky * self.dilation[0]).checked_sub(self.pad[0]);
            let Some(iy) = iy.filter(|&iy| iy < self.h) else {
                continue;
            };
            for kx in 0..kw {
                let ix = (ox * self.stride[1] + kx * self.dilation[1]).checked_sub(self.pad[1]);
                if let Some(ix) = ix.filter(|&ix| ix < self.w) {
                    taps.push(((iy * self.w + ix) * self.c, (ky * kw + kx) * self.c));
                }
            }
        }
    }
}

/// `y[k] = bias[k] + Σ (x[xo + k] * w[wo + k])` over the taps `(xo, wo)`, for every channel `k`.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
unsafe fn pixel(x: &[f32], taps: &[(usize, usize)], w: &[f32], bias: &[f32], y: &mut [f32]) {
    let c = y.len();
    assert!(bias.len() >= c);
    assert!(
        taps.iter()
            .all(|&(xo, wo)| xo + c <= x.len() && wo + c <= w.len())
    );
    #[cfg(target_arch = "x86_64")]
    let k = {
        let mut k = 0;
        while k + 32 <= c {
            unsafe { channels::<4>(x, taps, w, bias, y, k) };
            k += 32;
        }
        while k + 8 <= c {
            unsafe { channels::<1>(x, taps, w, bias, y, k) };
            k += 8;
        }
        k
    };
    #[cfg(not(target_arch = "x86_64"))]
    let k = 0;
    for k in k..c {
        y[k] = taps
            .iter()
            .fold(bias[k], |a, &(xo, wo)| x[xo + k].mul_add(w[wo + k], a));
    }
}

/// [`pixel`] for `V` vectors of eight channels from `k` on, bounds checked by the caller.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn channels<const V: usize>(
    x: &[f32],
    taps: &[(usize, usize)],
    w: &[f32],
    bias: &[f32],
    y: &mut [f32],
    k: usize,
) {
    use std::arch::x86_64::*;
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    unsafe {
        let mut r = [_mm256_setzero_ps(); V];
        for (j, r) in r.iter_mut().enumerate() {
            *r = _mm256_loadu_ps(bias.as_ptr().add(k + 8 * j));
        }
        for &(xo, wo) in taps {
            for (j, r) in r.iter_mut().enumerate() {
                let xv = _mm256_loadu_ps(xp.add(xo + k + 8 * j));
                let wv = _mm256_loadu_ps(wp.add(wo + k + 8 * j));
                *r = _mm256_fmadd_ps(xv, wv, *r);
            }
        }
        for (j, r) in r.iter().enumerate() {
            _mm256_storeu_ps(y.as_mut_ptr().add(k + 8 * j), *r);
        }
    }
}
