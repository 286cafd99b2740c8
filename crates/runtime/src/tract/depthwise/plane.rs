//! One depthwise convolution, channel plane by channel plane, with AVX2 and FMA: the arithmetic
//! behind [`AvxDepthwise`](super::AvxDepthwise).
//!
//! Each NCHW input plane is copied, with its zero padding, into one plane per stride phase (for
//! stride 2: even rows and even columns, even rows and odd columns, ...), so that every tap of the
//! kernel reads a contiguous run of that copy at a fixed offset from the output index, whatever the
//! stride, dilation or padding. The output plane is then computed flat, row pitch included, as the
//! bias plus one multiply-add per tap, 64 outputs at a time in eight registers; the columns past
//! the output width are computed and dropped.

use tract_onnx::prelude::TVec;
use tract_onnx::tract_core::tract_linalg::multithread;

/// A depthwise conv on f32 data of known shape: `n` images of `c` channels, NCHW (or CHW), or
/// channel-last (NHWC or HWC) where `channel_last`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Geometry {
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) oh: usize,
    pub(crate) ow: usize,
    pub(crate) kernel: [usize; 2],
    pub(crate) stride: [usize; 2],
    pub(crate) dilation: [usize; 2],
    pub(crate) pad: [usize; 2],
    pub(crate) out_shape: TVec<usize>,
    pub(crate) channel_last: bool,
}

impl Geometry {
    /// Rows and columns of one phase plane: the padded input split by stride phase, so that every
    /// tap reads a contiguous run of it, at a fixed offset from the output index.
    fn phase_plane(&self) -> (usize, usize) {
        let rows = self.oh + (self.kernel[0] - 1) * self.dilation[0] / self.stride[0] + 1;
        let cols = self.ow + (self.kernel[1] - 1) * self.dilation[1] / self.stride[1];
        (rows, cols)
    }

    /// Each tap's offset into the phase buffer, in the order of the weights (row-major taps).
    fn tap_offsets(&self) -> Vec<usize> {
        let (rows, cols) = self.phase_plane();
        let mut offsets = Vec::with_capacity(self.kernel[0] * self.kernel[1]);
        for ky in 0..self.kernel[0] {
            for kx in 0..self.kernel[1] {
                let (vy, vx) = (ky * self.dilation[0], kx * self.dilation[1]);
                let phase = (vy % self.stride[0]) * self.stride[1] + vx % self.stride[1];
                offsets.push((phase * rows + vy / self.stride[0]) * cols + vx / self.stride[1]);
            }
        }
        offsets
    }
}

impl Geometry {
    /// Computes `y` from `x`, one channel plane at a time, the planes shared out over tract's
    /// threads if it has several: the plane is copied into its stride phases with the padding
    /// around it, then every output point, row pitch included, is the bias plus one multiply-add
    /// per tap from a contiguous run of that copy.
    ///
    /// # Safety
    /// The host must have AVX2 and FMA.
    pub(crate) unsafe fn run(&self, weights: &[f32], bias: &[f32], x: &[f32], y: &mut [f32]) {
        let (plane_in, plane_out) = (self.h * self.w, self.oh * self.ow);
        let work = y.len() * self.kernel[0] * self.kernel[1];
        let split = multithread::par_chunks_mut(y, plane_out, work, |first, y| {
            let x = &x[first * plane_in..][..y.len() / plane_out * plane_in];
            // SAFETY: the caller's contract.
            unsafe { self.run_planes(first, weights, bias, x, y) };
            Ok(())
        });
        split.expect("AvxDepthwise planes cannot fail");
    }

    /// [`Self::run`] for the planes from `first` on.
    unsafe fn run_planes(
        &self,
        first: usize,
        weights: &[f32],
        bias: &[f32],
        x: &[f32],
        y: &mut [f32],
    ) {
        let g = self;
        let (rows, cols) = g.phase_plane();
        let phases = g.stride[0] * g.stride[1];
        let offsets = g.tap_offsets();
        let taps = offsets.len();
        let computed = (g.oh * cols).div_ceil(8) * 8;
        let mut src = vec![0f32; phases * rows * cols + cols + computed];
        let mut acc = vec![0f32; computed];
        let columns = Columns::new(g, rows, cols);
        for (plane, (x, y)) in x
            .chunks_exact(g.h * g.w)
            .zip(y.chunks_exact_mut(g.oh * g.ow))
            .enumerate()
        {
            let c = (first + plane) % g.c;
            // SAFETY: AVX2 is there (the caller's contract).
            unsafe { g.fill_phases(x, &mut src, &columns, rows) };
            let weights = &weights[c * taps..][..taps];
            // SAFETY: AVX2 and FMA are there; every tap reads
            // `src[offset..offset + computed]`, inside `src` by its length.
            unsafe { taps_avx2(&src, &offsets, weights, bias[c], &mut acc) };
            for (y, acc) in y.chunks_exact_mut(g.ow).zip(acc.chunks(cols)) {
                y.copy_from_slice(&acc[..g.ow]);
            }
        }
    }

    /// Writes the input plane into its stride phases; the padding cells are never written, so
    /// they stay zero from the allocation on.
    #[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
    unsafe fn fill_phases(&self, x: &[f32], src: &mut [f32], cols: &Columns, rows: usize) {
        let g = self;
        let [sy, sx] = g.stride;
        let plane = rows * cols.pitch;
        let (mut r, mut py) = (g.pad[0] / sy, g.pad[0] % sy);
        for x_row in x.chunks_exact(g.w) {
            if r >= rows {
                break;
            }
            let base = py * sx * plane + r * cols.pitch;
            for &(ix, dst) in &cols.singles {
                src[base + dst] = x_row[ix];
            }
            let x_run = &x_row[cols.first..][..cols.runs * sx];
            let dst = base + cols.first_q;
            match sx {
                1 => src[dst..][..cols.runs].copy_from_slice(x_run),
                #[cfg(target_arch = "x86_64")]
                2 => unsafe { deinterleave2(x_run, src, dst, dst + plane) },
                _ => {
                    for (k, run) in x_run.chunks_exact(sx).enumerate() {
                        for (px, &v) in run.iter().enumerate() {
                            src[dst + px * plane + k] = v;
                        }
                    }
                }
            }
            py += 1;
            if py == sy {
                (r, py) = (r + 1, 0);
            }
        }
    }
}

/// Where the columns of an input row go in the phase planes: whole runs of one column per phase
/// from `first` on, landing at column `first_q` of each phase, and the others one by one (input
/// column, offset from the row's start in phase 0).
struct Columns {
    pitch: usize,
    first: usize,
    first_q: usize,
    runs: usize,
    singles: Vec<(usize, usize)>,
}

impl Columns {
    fn new(g: &Geometry, rows: usize, pitch: usize) -> Columns {
        let (sx, pad) = (g.stride[1], g.pad[1]);
        let first = ((sx - pad % sx) % sx).min(g.w);
        let first_q = (first + pad) / sx;
        let runs = ((g.w - first) / sx).min(pitch.saturating_sub(first_q));
        let in_runs = first..first + runs * sx;
        let singles = (0..g.w)
            .filter(|ix| !in_runs.contains(ix))
            .map(|ix| (ix, (ix + pad) % sx, (ix + pad) / sx))
            .filter(|&(_, _, q)| q < pitch)
            .map(|(ix, px, q)| (ix, px * rows * pitch + q))
            .collect();
        Columns {
            pitch,
            first,
            first_q,
            runs,
            singles,
        }
    }
}

/// Even elements of `x` to `dst[even..]`, odd ones to `dst[odd..]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn deinterleave2(x: &[f32], dst: &mut [f32], even: usize, odd: usize) {
    use std::arch::x86_64::*;
    let n = x.len() / 2;
    assert!(even.max(odd) + n <= dst.len());
    let (s, d) = (x.as_ptr(), dst.as_mut_ptr());
    let mut k = 0;
    unsafe {
        while k + 8 <= n {
            let a = _mm256_loadu_ps(s.add(2 * k));
            let b = _mm256_loadu_ps(s.add(2 * k + 8));
            let e = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
            let o = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
            let e = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(e)));
            let o = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(o)));
            _mm256_storeu_ps(d.add(even + k), e);
            _mm256_storeu_ps(d.add(odd + k), o);
            k += 8;
        }
        for k in k..n {
            *d.add(even + k) = *s.add(2 * k);
            *d.add(odd + k) = *s.add(2 * k + 1);
        }
    }
}

/// `acc[i] = bias + Σ_t weights[t] * src[offsets[t] + i]`: eight accumulators of eight lanes at a
/// time, then the rest in one block. `acc.len()` is a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn taps_avx2(src: &[f32], offsets: &[usize], weights: &[f32], bias: f32, acc: &mut [f32]) {
    let len = acc.len();
    assert!(len.is_multiple_of(8) && offsets.len() == weights.len());
    assert!(offsets.iter().all(|&o| o + len <= src.len()));
    let (s, a) = (src.as_ptr(), acc.as_mut_ptr());
    let mut i = 0;
    unsafe {
        while i + 64 <= len {
            block::<8>(s, offsets, weights, bias, a, i);
            i += 64;
        }
        match (len - i) / 8 {
            1 => block::<1>(s, offsets, weights, bias, a, i),
            2 => block::<2>(s, offsets, weights, bias, a, i),
            3 => block::<3>(s, offsets, weights, bias, a, i),
            4 => block::<4>(s, offsets, weights, bias, a, i),
            5 => block::<5>(s, offsets, weights, bias, a, i),
            6 => block::<6>(s, offsets, weights, bias, a, i),
            7 => block::<7>(s, offsets, weights, bias, a, i),
            _ => {}
        }
    }
}

/// `V` vectors of eight outputs from `i` on, kept in registers over all taps.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn block<const V: usize>(
    s: *const f32,
    offsets: &[usize],
    weights: &[f32],
    bias: f32,
    a: *mut f32,
    i: usize,
) {
    use std::arch::x86_64::*;
    unsafe {
        let mut r = [_mm256_set1_ps(bias); V];
        for (&o, &w) in offsets.iter().zip(weights) {
            let w = _mm256_set1_ps(w);
            let p = s.add(o + i);
            for (j, r) in r.iter_mut().enumerate() {
                *r = _mm256_fmadd_ps(_mm256_loadu_ps(p.add(8 * j)), w, *r);
            }
        }
        for (j, r) in r.iter().enumerate() {
            _mm256_storeu_ps(a.add(i + 8 * j), *r);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn taps_avx2(_: &[f32], _: &[usize], _: &[f32], _: f32, _: &mut [f32]) {
    unreachable!("AvxDepthwise is only built on x86_64")
}
