//! BatchNormalization's sums over one plane (one image's values of one channel): forward, Σd
//! and Σd² (d = x − shift) for the batch mean and variance ([`plane_moments`]); backward, Σg
//! and Σg·x̂ (x̂ = (x − mean)·inv), the two numbers per channel its input and parameter
//! gradients need, with the fused Relu's gate applied to `g` on the way ([`gated_grad_sums`]).
//!
//! Each is written twice: portably (eight f32 lanes, then f64; what every CPU runs without
//! AVX2) and in AVX2 intrinsics, which do the same operations in the same order per lane (no
//! fused multiply-add), so both give the same bits; on aarch64, in NEON intrinsics likewise. The intrinsics are there because LLVM
//! compiled the portable loops, inside an AVX2 function, one lane at a time (scalar loads,
//! subtractions and inserts): the gated sums took 12.6 % of a whole-encoder training run
//! (`perf record` of `adapt --train all` on the bundled encoder), four times the forward's
//! normalization, which moves as many bytes, and the moments 6.6 %.

/// Σ(x − shift) and Σ(x − shift)² of one plane. One pass over the activation for both (two
/// passes, the mean and then squared deviations from it, took 4.4 % of a whole-encoder training
/// run): with `shift` near the batch mean (the caller passes the channel's first plane's mean),
/// Σd² − (Σd)²/n does not cancel the way E[x²] − E[x]² does when |mean| ≫ σ.
pub(super) fn plane_moments(v: &[f32], shift: f32) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { avx2::plane_moments(v, shift) };
    }
    // SAFETY: every aarch64 CPU has NEON.
    #[cfg(target_arch = "aarch64")]
    return unsafe { neon::plane_moments(v, shift) };
    #[cfg(not(target_arch = "aarch64"))]
    plane_moments_any(v, shift)
}

/// The fused Relu's gradient and [`plane_grad_sums`] in one pass: `g` is kept where the
/// forward's value for `x`, `(x − mean)·a + b` (the same expression on the same statistics,
/// so the same bits), was positive and zeroed elsewhere (`Relu`'s own backward), in place,
/// and the sums are taken over the gated values.
pub(super) fn gated_grad_sums(
    g: &mut [f32],
    x: &[f32],
    mean: f32,
    inv: f32,
    a: f32,
    b: f32,
) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { avx2::gated_grad_sums(g, x, mean, inv, a, b) };
    }
    // SAFETY: every aarch64 CPU has NEON.
    #[cfg(target_arch = "aarch64")]
    return unsafe { neon::gated_grad_sums(g, x, mean, inv, a, b) };
    #[cfg(not(target_arch = "aarch64"))]
    gated_grad_sums_any(g, x, mean, inv, a, b)
}

/// Σg and Σg·x̂ of one plane.
pub(super) fn plane_grad_sums(g: &[f32], x: &[f32], mean: f32, inv: f32) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { avx2::plane_grad_sums(g, x, mean, inv) };
    }
    // SAFETY: every aarch64 CPU has NEON.
    #[cfg(target_arch = "aarch64")]
    return unsafe { neon::plane_grad_sums(g, x, mean, inv) };
    #[cfg(not(target_arch = "aarch64"))]
    plane_grad_sums_any(g, x, mean, inv)
}

/// The gate of the fused Relu: `gv` where `(xv − mean)·a + b > 0`, else 0. A bit mask on the
/// gradient, not a select (LLVM branched per lane around each gradient's load with a select).
#[inline(always)]
fn gate(gv: f32, xv: f32, mean: f32, a: f32, b: f32) -> f32 {
    let keep = u32::from((xv - mean) * a + b > 0.0).wrapping_neg();
    f32::from_bits(gv.to_bits() & keep)
}

/// The eight lane sums, then the values past the last whole lane group, in f64.
#[inline(always)]
fn finish((sg, sgx): ([f32; 8], [f32; 8]), rest: impl Iterator<Item = (f32, f32)>) -> (f64, f64) {
    let (mut tg, mut tgx) = (0.0f64, 0.0f64);
    for i in 0..8 {
        tg += sg[i] as f64;
        tgx += sgx[i] as f64;
    }
    for (v, d) in rest {
        tg += v as f64;
        tgx += v as f64 * d as f64;
    }
    (tg, tgx)
}

/// [`finish`] with the values past the last whole group of eight: Σd, Σd² (d = x − shift).
fn moments_tail(sums: ([f32; 8], [f32; 8]), rest: &[f32], shift: f32) -> (f64, f64) {
    let rest = rest.iter().map(|&x| {
        let d = x - shift;
        (d, d)
    });
    finish(sums, rest)
}

/// [`finish`] with the values past the last whole group of eight: gated in place, then Σg,
/// Σg·x̂ (`params` = mean, inv, a, b).
fn gated_tail(
    sums: ([f32; 8], [f32; 8]),
    g_rest: &mut [f32],
    x_rest: &[f32],
    (mean, inv, a, b): (f32, f32, f32, f32),
) -> (f64, f64) {
    let rest = g_rest.iter_mut().zip(x_rest).map(|(gv, &xv)| {
        *gv = gate(*gv, xv, mean, a, b);
        (*gv, (xv - mean) * inv)
    });
    finish(sums, rest)
}

/// [`finish`] with the values past the last whole group of eight: Σg, Σg·x̂.
fn plain_tail(
    sums: ([f32; 8], [f32; 8]),
    g_rest: &[f32],
    x_rest: &[f32],
    (mean, inv): (f32, f32),
) -> (f64, f64) {
    let rest = g_rest
        .iter()
        .zip(x_rest)
        .map(|(&gv, &xv)| (gv, (xv - mean) * inv));
    finish(sums, rest)
}

// The portable form: what runs without AVX2 and without NEON, and the tests' reference.
#[cfg(any(test, not(target_arch = "aarch64")))]
fn plane_moments_any(v: &[f32], shift: f32) -> (f64, f64) {
    let (mut s1, mut s2) = ([0.0f32; 8], [0.0f32; 8]);
    let (chunks, rest) = v.as_chunks::<8>();
    for c in chunks {
        for i in 0..8 {
            let d = c[i] - shift;
            s1[i] += d;
            s2[i] += d * d;
        }
    }
    moments_tail((s1, s2), rest, shift)
}

// The portable form: what runs without AVX2 and without NEON, and the tests' reference.
#[cfg(any(test, not(target_arch = "aarch64")))]
fn gated_grad_sums_any(
    g: &mut [f32],
    x: &[f32],
    mean: f32,
    inv: f32,
    a: f32,
    b: f32,
) -> (f64, f64) {
    let (mut sg, mut sgx) = ([0.0f32; 8], [0.0f32; 8]);
    let (gc, g_rest) = g.as_chunks_mut::<8>();
    let (xc, x_rest) = x.as_chunks::<8>();
    for (gv, xv) in gc.iter_mut().zip(xc) {
        for i in 0..8 {
            let v = gate(gv[i], xv[i], mean, a, b);
            gv[i] = v;
            sg[i] += v;
            sgx[i] += v * ((xv[i] - mean) * inv);
        }
    }
    gated_tail((sg, sgx), g_rest, x_rest, (mean, inv, a, b))
}

// The portable form: what runs without AVX2 and without NEON, and the tests' reference.
#[cfg(any(test, not(target_arch = "aarch64")))]
fn plane_grad_sums_any(g: &[f32], x: &[f32], mean: f32, inv: f32) -> (f64, f64) {
    let (mut sg, mut sgx) = ([0.0f32; 8], [0.0f32; 8]);
    let ((gc, g_rest), (xc, x_rest)) = (g.as_chunks::<8>(), x.as_chunks::<8>());
    for (gv, xv) in gc.iter().zip(xc) {
        for i in 0..8 {
            sg[i] += gv[i];
            sgx[i] += gv[i] * ((xv[i] - mean) * inv);
        }
    }
    plain_tail((sg, sgx), g_rest, x_rest, (mean, inv))
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{gated_tail, moments_tail, plain_tail};

    /// [`super::plane_moments_any`], eight lanes a step in one register each.
    #[target_feature(enable = "avx2")]
    pub(super) fn plane_moments(v: &[f32], shift: f32) -> (f64, f64) {
        let (chunks, rest) = v.as_chunks::<8>();
        let vs = _mm256_set1_ps(shift);
        let (mut s1, mut s2) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for c in chunks {
            // SAFETY: `c` is an array of eight f32 (unaligned load).
            let d = _mm256_sub_ps(unsafe { _mm256_loadu_ps(c.as_ptr()) }, vs);
            s1 = _mm256_add_ps(s1, d);
            s2 = _mm256_add_ps(s2, _mm256_mul_ps(d, d));
        }
        moments_tail((lanes(s1), lanes(s2)), rest, shift)
    }

    /// [`super::gated_grad_sums_any`], eight lanes a step in one register each.
    #[target_feature(enable = "avx2")]
    pub(super) fn gated_grad_sums(
        g: &mut [f32],
        x: &[f32],
        mean: f32,
        inv: f32,
        a: f32,
        b: f32,
    ) -> (f64, f64) {
        let (gc, g_rest) = g.as_chunks_mut::<8>();
        let (xc, x_rest) = x.as_chunks::<8>();
        let (vm, vi, va, vb) = (
            _mm256_set1_ps(mean),
            _mm256_set1_ps(inv),
            _mm256_set1_ps(a),
            _mm256_set1_ps(b),
        );
        let zero = _mm256_setzero_ps();
        let (mut sg, mut sgx) = (zero, zero);
        for (gv, xv) in gc.iter_mut().zip(xc) {
            // SAFETY: `gv` and `xv` are arrays of eight f32 (unaligned loads and stores).
            let (gr, xr) = unsafe { (_mm256_loadu_ps(gv.as_ptr()), _mm256_loadu_ps(xv.as_ptr())) };
            let d = _mm256_sub_ps(xr, vm);
            let y = _mm256_add_ps(_mm256_mul_ps(d, va), vb);
            let v = _mm256_and_ps(gr, _mm256_cmp_ps::<_CMP_GT_OQ>(y, zero));
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(gv.as_mut_ptr(), v) };
            sg = _mm256_add_ps(sg, v);
            sgx = _mm256_add_ps(sgx, _mm256_mul_ps(v, _mm256_mul_ps(d, vi)));
        }
        gated_tail((lanes(sg), lanes(sgx)), g_rest, x_rest, (mean, inv, a, b))
    }

    /// [`super::plane_grad_sums_any`], eight lanes a step in one register each.
    #[target_feature(enable = "avx2")]
    pub(super) fn plane_grad_sums(g: &[f32], x: &[f32], mean: f32, inv: f32) -> (f64, f64) {
        let ((gc, g_rest), (xc, x_rest)) = (g.as_chunks::<8>(), x.as_chunks::<8>());
        let (vm, vi) = (_mm256_set1_ps(mean), _mm256_set1_ps(inv));
        let (mut sg, mut sgx) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for (gv, xv) in gc.iter().zip(xc) {
            // SAFETY: `gv` and `xv` are arrays of eight f32 (unaligned loads).
            let (gr, xr) = unsafe { (_mm256_loadu_ps(gv.as_ptr()), _mm256_loadu_ps(xv.as_ptr())) };
            sg = _mm256_add_ps(sg, gr);
            sgx = _mm256_add_ps(
                sgx,
                _mm256_mul_ps(gr, _mm256_mul_ps(_mm256_sub_ps(xr, vm), vi)),
            );
        }
        plain_tail((lanes(sg), lanes(sgx)), g_rest, x_rest, (mean, inv))
    }

    #[target_feature(enable = "avx2")]
    fn lanes(v: __m256) -> [f32; 8] {
        let mut out = [0.0f32; 8];
        // SAFETY: `out` holds eight f32 (unaligned store).
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
        out
    }
}

/// The same loops in NEON (every aarch64 CPU has it: Raspberry Pi 4/5, Jetson), eight lanes as
/// two four-lane registers, lanes 0–3 and 4–7 in the portable version's order: LLVM scalarized
/// the portable loops for aarch64 just as for x86-64 (checked in `--emit asm`). The test below
/// runs them under qemu with `cargo test --release --target aarch64-unknown-linux-gnu -p
/// edge-ssl-train --lib plane_sums` (the runner is set in `.cargo/config.toml`); CI's emulated
/// stage, its longest already, does not build the train crate's tests.
#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    use super::{gated_tail, moments_tail, plain_tail};

    /// Eight f32 at `p` as two registers.
    ///
    /// # Safety
    /// `p` points at eight readable f32.
    #[target_feature(enable = "neon")]
    unsafe fn load(p: *const f32) -> (float32x4_t, float32x4_t) {
        // SAFETY: the caller's promise.
        unsafe { (vld1q_f32(p), vld1q_f32(p.add(4))) }
    }

    #[target_feature(enable = "neon")]
    fn lanes((lo, hi): (float32x4_t, float32x4_t)) -> [f32; 8] {
        let mut out = [0.0f32; 8];
        // SAFETY: `out` holds eight f32.
        unsafe {
            vst1q_f32(out.as_mut_ptr(), lo);
            vst1q_f32(out.as_mut_ptr().add(4), hi);
        }
        out
    }

    #[target_feature(enable = "neon")]
    pub(super) fn plane_moments(v: &[f32], shift: f32) -> (f64, f64) {
        let (chunks, rest) = v.as_chunks::<8>();
        let (vs, zero) = (vdupq_n_f32(shift), vdupq_n_f32(0.0));
        let (mut s1, mut s2) = ((zero, zero), (zero, zero));
        for c in chunks {
            // SAFETY: `c` is an array of eight f32.
            let (x0, x1) = unsafe { load(c.as_ptr()) };
            let (d0, d1) = (vsubq_f32(x0, vs), vsubq_f32(x1, vs));
            s1 = (vaddq_f32(s1.0, d0), vaddq_f32(s1.1, d1));
            s2 = (
                vaddq_f32(s2.0, vmulq_f32(d0, d0)),
                vaddq_f32(s2.1, vmulq_f32(d1, d1)),
            );
        }
        moments_tail((lanes(s1), lanes(s2)), rest, shift)
    }

    #[target_feature(enable = "neon")]
    pub(super) fn gated_grad_sums(
        g: &mut [f32],
        x: &[f32],
        mean: f32,
        inv: f32,
        a: f32,
        b: f32,
    ) -> (f64, f64) {
        let (gc, g_rest) = g.as_chunks_mut::<8>();
        let (xc, x_rest) = x.as_chunks::<8>();
        let (vm, vi, va, vb) = (
            vdupq_n_f32(mean),
            vdupq_n_f32(inv),
            vdupq_n_f32(a),
            vdupq_n_f32(b),
        );
        let zero = vdupq_n_f32(0.0);
        let (mut sg, mut sgx) = ((zero, zero), (zero, zero));
        let step = |gr: float32x4_t, xr: float32x4_t| {
            let d = vsubq_f32(xr, vm);
            let keep = vcgtq_f32(vaddq_f32(vmulq_f32(d, va), vb), zero);
            let v = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(gr), keep));
            (v, vmulq_f32(v, vmulq_f32(d, vi)))
        };
        for (gv, xv) in gc.iter_mut().zip(xc) {
            // SAFETY: `gv` and `xv` are arrays of eight f32.
            let ((g0, g1), (x0, x1)) = unsafe { (load(gv.as_ptr()), load(xv.as_ptr())) };
            let ((v0, p0), (v1, p1)) = (step(g0, x0), step(g1, x1));
            // SAFETY: as above, and `gv` is writable.
            unsafe {
                vst1q_f32(gv.as_mut_ptr(), v0);
                vst1q_f32(gv.as_mut_ptr().add(4), v1);
            }
            sg = (vaddq_f32(sg.0, v0), vaddq_f32(sg.1, v1));
            sgx = (vaddq_f32(sgx.0, p0), vaddq_f32(sgx.1, p1));
        }
        gated_tail((lanes(sg), lanes(sgx)), g_rest, x_rest, (mean, inv, a, b))
    }

    #[target_feature(enable = "neon")]
    pub(super) fn plane_grad_sums(g: &[f32], x: &[f32], mean: f32, inv: f32) -> (f64, f64) {
        let ((gc, g_rest), (xc, x_rest)) = (g.as_chunks::<8>(), x.as_chunks::<8>());
        let (vm, vi, zero) = (vdupq_n_f32(mean), vdupq_n_f32(inv), vdupq_n_f32(0.0));
        let (mut sg, mut sgx) = ((zero, zero), (zero, zero));
        for (gv, xv) in gc.iter().zip(xc) {
            // SAFETY: `gv` and `xv` are arrays of eight f32.
            let ((g0, g1), (x0, x1)) = unsafe { (load(gv.as_ptr()), load(xv.as_ptr())) };
            sg = (vaddq_f32(sg.0, g0), vaddq_f32(sg.1, g1));
            sgx = (
                vaddq_f32(sgx.0, vmulq_f32(g0, vmulq_f32(vsubq_f32(x0, vm), vi))),
                vaddq_f32(sgx.1, vmulq_f32(g1, vmulq_f32(vsubq_f32(x1, vm), vi))),
            );
        }
        plain_tail((lanes(sg), lanes(sgx)), g_rest, x_rest, (mean, inv))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values with both signs, zeros and a NaN-free spread, some planes not a multiple of 8.
    fn plane(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let v = (state % 20_001) as f32 / 10_000.0 - 1.0;
                if i % 11 == 0 { 0.0 } else { v * 3.0 }
            })
            .collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// The dispatched sums (AVX2 on a CPU that has it) give the portable version's bits, and
    /// the portable version agrees with a plain f64 sum of the definition.
    #[test]
    fn both_forms_give_the_same_bits_and_the_definition() {
        for (len, seed) in [(0, 1), (5, 2), (8, 3), (16, 4), (49, 5), (196, 6), (784, 7)] {
            let (x, g0) = (plane(len, seed), plane(len, seed + 100));
            let (mean, inv, a, b) = (0.1f32, 1.7f32, 0.9f32, -0.2f32);
            let (mut g1, mut g2) = (g0.clone(), g0.clone());
            let fast = gated_grad_sums(&mut g1, &x, mean, inv, a, b);
            let slow = gated_grad_sums_any(&mut g2, &x, mean, inv, a, b);
            assert_eq!(bits(&g1), bits(&g2), "gated gradient, {len} values");
            assert_eq!(fast.0.to_bits(), slow.0.to_bits(), "Σg, {len} values");
            assert_eq!(fast.1.to_bits(), slow.1.to_bits(), "Σg·x̂, {len} values");
            let (mut want_g, mut want_gx) = (0.0f64, 0.0f64);
            for (i, (&gv, &xv)) in g0.iter().zip(&x).enumerate() {
                let on = ((xv - mean) * a + b) > 0.0;
                let v = if on { gv } else { 0.0 };
                assert_eq!(g1[i], v, "gate at {i} of {len}");
                want_g += v as f64;
                want_gx += v as f64 * ((xv - mean) * inv) as f64;
            }
            assert!(
                (slow.0 - want_g).abs() <= 1e-4 * (1.0 + want_g.abs()),
                "{len}"
            );
            assert!(
                (slow.1 - want_gx).abs() <= 1e-4 * (1.0 + want_gx.abs()),
                "{len}"
            );

            let fast = plane_moments(&x, 0.3);
            let slow = plane_moments_any(&x, 0.3);
            assert_eq!(fast.0.to_bits(), slow.0.to_bits(), "Σd, {len} values");
            assert_eq!(fast.1.to_bits(), slow.1.to_bits(), "Σd², {len} values");
            let d: Vec<f64> = x.iter().map(|&v| v as f64 - 0.3f32 as f64).collect();
            let (want1, want2) = (d.iter().sum::<f64>(), d.iter().map(|v| v * v).sum::<f64>());
            assert!(
                (slow.0 - want1).abs() <= 1e-4 * (1.0 + want1.abs()),
                "Σd, {len}"
            );
            assert!(
                (slow.1 - want2).abs() <= 1e-4 * (1.0 + want2.abs()),
                "Σd², {len}"
            );

            let fast = plane_grad_sums(&g0, &x, mean, inv);
            let slow = plane_grad_sums_any(&g0, &x, mean, inv);
            assert_eq!(
                fast.0.to_bits(),
                slow.0.to_bits(),
                "ungated Σg, {len} values"
            );
            assert_eq!(
                fast.1.to_bits(),
                slow.1.to_bits(),
                "ungated Σg·x̂, {len} values"
            );
            let want: f64 = g0.iter().map(|&v| v as f64).sum();
            assert!((slow.0 - want).abs() <= 1e-4 * (1.0 + want.abs()), "{len}");
        }
    }
}
