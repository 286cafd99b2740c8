//! Exposure changes on a CHW image held as one flat slice of [0, 1] values.
//!
//! Each loop is a plain `for`, not `for_each` with a closure: the augmenter compiles its
//! stages inside an AVX2 function, and LLVM left the closure of `for_each` out of line, where it
//! is built for the baseline CPU (4-wide SSE) — the gamma curve took half of a view's time so.

/// Exposure: multiply every value by `factor`, clamped to [0, 1].
#[inline(always)]
pub fn adjust_brightness(img: &mut [f32], factor: f32) {
    for v in img.iter_mut() {
        *v = (*v * factor).clamp(0.0, 1.0);
    }
}

/// Scale distances from the image mean by `factor` (torchvision blends with the mean too; the
/// mean is over all channels so a gray and an RGB encoder see the same kind of change).
#[inline(always)]
pub fn adjust_contrast(img: &mut [f32], factor: f32) {
    if img.is_empty() {
        return;
    }
    let mean = mean(img);
    for v in img.iter_mut() {
        *v = (mean + (*v - mean) * factor).clamp(0.0, 1.0);
    }
}

/// `v^gamma`: the camera's tone curve. Values are clamped first (a negative base would be NaN).
///
/// `powf` from libm is a function call per pixel and the largest part of a view's cost; the
/// polynomial [`unit_pow`] vectorizes and stays within 1e-5 of it on [0, 1]. Thirty-two values
/// a step, each stage of the curve over all of them before the next: four
/// vectors' independent chains side by side. Written value by value, the compiler emitted one
/// vector's whole chain of ~30 dependent operations after the other's, and the loop waited on
/// their latency (185 µs for a 224×224 RGB view; 4 cycles a value).
#[inline(always)]
pub fn adjust_gamma(img: &mut [f32], gamma: f32) {
    let (blocks, rest) = img.as_chunks_mut::<LANES>();
    for block in blocks {
        unit_pow_lanes(block, gamma);
    }
    for v in rest {
        *v = unit_pow(v.clamp(0.0, 1.0), gamma);
    }
}

/// Values [`adjust_gamma`] takes a step.
const LANES: usize = 32;

/// `v ← unit_pow(v.clamp(0, 1), g)` for each of `v`, stage by stage over all of them: the same
/// operations in the same order per value as [`unit_pow`] (same bits), in an order that keeps
/// independent vectors side by side.
#[inline(always)]
fn unit_pow_lanes(v: &mut [f32; LANES], g: f32) {
    let mut x = [0.0f32; LANES];
    for (x, v) in x.iter_mut().zip(v.iter()) {
        *x = v.clamp(0.0, 1.0);
    }
    // log2_normal(x.clamp(MIN_POSITIVE, 1)), split at its division.
    let (mut top, mut bottom, mut exponent) = ([0.0f32; LANES], [0.0f32; LANES], [0i32; LANES]);
    for i in 0..LANES {
        let (m, e) = mantissa_exponent(x[i].clamp(f32::MIN_POSITIVE, 1.0));
        (top[i], bottom[i], exponent[i]) = (m - 1.0, m + 1.0, e);
    }
    let mut y = [0.0f32; LANES];
    for i in 0..LANES {
        y[i] = g * log2_series(top[i] / bottom[i], exponent[i]);
    }
    for i in 0..LANES {
        let pow = exp2_nonpositive(y[i].max(-126.0));
        v[i] = select_pow(x[i], y[i], pow);
    }
}

/// `x^g` for `x` in [0, 1] and `g > 0`, as `2^(g·log2 x)` with polynomial log2 and exp2.
///
/// Branch-free (clamps and selects, no `floor` or `round`, which are libm calls on baseline
/// x86-64), so the loop in [`adjust_gamma`] vectorizes.
#[inline(always)]
pub fn unit_pow(x: f32, g: f32) -> f32 {
    let y = g * log2_normal(x.clamp(f32::MIN_POSITIVE, 1.0));
    let pow = exp2_nonpositive(y.max(-126.0));
    select_pow(x, y, pow)
}

/// [`unit_pow`]'s last step: 0 and 1 at the ends, where the polynomials are not used.
#[inline(always)]
fn select_pow(x: f32, y: f32, pow: f32) -> f32 {
    if x < f32::MIN_POSITIVE || y < -126.0 {
        0.0
    } else if x >= 1.0 {
        1.0
    } else {
        pow
    }
}

/// log2 of a positive normal `x`: exponent from the bits, mantissa `m` taken into [√½, √2)
/// and ln m = 2·atanh(t), t = (m − 1)/(m + 1), whose series needs four terms for |t| ≤ 0.172
/// (the next one is below 3·10⁻⁸), evaluated by Estrin's scheme.
#[inline(always)]
fn log2_normal(x: f32) -> f32 {
    let (m, exponent) = mantissa_exponent(x);
    log2_series((m - 1.0) / (m + 1.0), exponent)
}

/// A positive normal `x` as `m · 2^exponent` with `m` in [√½, √2).
#[inline(always)]
fn mantissa_exponent(x: f32) -> (f32, i32) {
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    if m > std::f32::consts::SQRT_2 {
        (m * 0.5, exponent + 1)
    } else {
        (m, exponent)
    }
}

/// `exponent + log2 m` from `t = (m − 1)/(m + 1)`: the series of [`log2_normal`].
#[inline(always)]
fn log2_series(t: f32, exponent: i32) -> f32 {
    let t2 = t * t;
    // Estrin's scheme: pairs of terms side by side, fewer dependent steps than Horner's.
    let t4 = t2 * t2;
    let series = t * ((2.0 + t2 * (2.0 / 3.0)) + t4 * (2.0 / 5.0 + t2 * (2.0 / 7.0)));
    exponent as f32 + series * std::f32::consts::LOG2_E
}

/// 2^y for −126 ≤ y ≤ 0: the nearest integer `n` into the exponent bits, the rest `f` (|f| ≤ ½)
/// through a degree-5 Taylor polynomial of e^(f·ln 2) (error below 3·10⁻⁶, Estrin's scheme). `n` comes from the
/// float itself (adding 1.5·2²³ leaves round(y) in the low mantissa bits): no float-to-int
/// conversion, so the loop stays in vector registers.
#[inline(always)]
fn exp2_nonpositive(y: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0; // 1.5 · 2^23
    let shifted = y + SHIFT;
    let rounded = shifted - SHIFT;
    let n = shifted.to_bits() as i32 - SHIFT.to_bits() as i32;
    let z = (y - rounded) * std::f32::consts::LN_2;
    // Estrin's scheme, as in `log2_normal`.
    let z2 = z * z;
    let p =
        (1.0 + z) + z2 * ((1.0 / 2.0 + z * (1.0 / 6.0)) + z2 * (1.0 / 24.0 + z * (1.0 / 120.0)));
    p * f32::from_bits(((n + 127) as u32) << 23)
}

/// Mean of `img` in f64, summed in eight f32 lanes per block of 4,096 (a straight dependency
/// chain of f64 adds would be the slowest step of a contrast change).
#[inline(always)]
fn mean(img: &[f32]) -> f32 {
    let mut total = 0.0f64;
    for block in img.chunks(4096) {
        let mut lanes = [0.0f32; 8];
        let (eights, rest) = block.as_chunks::<8>();
        for eight in eights {
            for (l, v) in lanes.iter_mut().zip(eight) {
                *l += v;
            }
        }
        total += lanes.iter().map(|&l| l as f64).sum::<f64>()
            + rest.iter().map(|&v| v as f64).sum::<f64>();
    }
    (total / img.len() as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_adjustment_does_what_it_says() {
        let mut img = vec![0.2, 0.4, 0.9];
        adjust_brightness(&mut img, 2.0);
        assert_eq!(img, [0.4, 0.8, 1.0]);
        adjust_contrast(&mut img, 0.0);
        assert!(img.iter().all(|&v| (v - 0.733_333_3).abs() < 1e-6));
        let mut g = vec![0.25f32; 4];
        adjust_gamma(&mut g, 0.5);
        assert!(g.iter().all(|&v| (v - 0.5).abs() < 1e-6), "{g:?}");
    }

    #[test]
    fn unit_pow_matches_powf_on_the_unit_interval() {
        let mut worst = 0.0f32;
        for g in [0.5f32, 0.7, 0.9, 1.0, 1.1, 1.4, 2.0, 3.0] {
            for i in 0..=10_000 {
                let x = i as f32 / 10_000.0;
                worst = worst.max((unit_pow(x, g) - x.powf(g)).abs());
            }
            assert_eq!(unit_pow(0.0, g), 0.0);
            assert_eq!(unit_pow(1.0, g), 1.0);
        }
        assert!(worst < 1e-5, "max |unit_pow − powf| = {worst}");
        assert!((unit_pow(1e-30, 0.7) - 1e-30f32.powf(0.7)).abs() < 1e-12);
        assert_eq!(
            unit_pow(1e-30, 3.0),
            0.0,
            "underflows to zero, not to garbage"
        );
        // Whole exponents: the floor taken from the float's bits must not be off by one.
        for x in [0.5f32, 0.25, 0.125] {
            assert!((unit_pow(x, 2.0) - x * x).abs() < 1e-7, "{x}");
        }
    }

    /// The step-major curve is the scalar one, bit for bit, over a block and its remainder.
    #[test]
    fn adjust_gamma_is_unit_pow_of_each_value() {
        let img: Vec<f32> = (0..LANES * 5 + 7)
            .map(|i| (i as f32 * 0.013).sin() * 0.7 + 0.35)
            .chain([0.0, 1.0, -0.5, 1.5, 1e-30, f32::NAN])
            .collect();
        for g in [0.7f32, 1.3, 3.0] {
            let mut got = img.clone();
            adjust_gamma(&mut got, g);
            for (v, (&x, &y)) in img.iter().zip(&got).enumerate() {
                let want = unit_pow(x.clamp(0.0, 1.0), g);
                assert_eq!(y.to_bits(), want.to_bits(), "value {v} = {x}, gamma {g}");
            }
        }
    }

    #[test]
    fn mean_equals_the_f64_mean() {
        let img: Vec<f32> = (0..10_007)
            .map(|i| ((i * 37) % 1000) as f32 / 999.0)
            .collect();
        let want = img.iter().map(|&v| v as f64).sum::<f64>() / img.len() as f64;
        assert!((mean(&img) as f64 - want).abs() < 1e-6);
        assert_eq!(mean(&[0.25]), 0.25);
    }
}
