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
/// polynomial [`unit_pow`] vectorizes and stays within 1e-5 of it on [0, 1]. Sixteen values a
/// step: two vectors' worth of independent polynomial chains side by side, where one vector's
/// chain of dependent multiplies and adds kept the loop waiting on latency.
#[inline(always)]
pub fn adjust_gamma(img: &mut [f32], gamma: f32) {
    let mut sixteens = img.chunks_exact_mut(16);
    for sixteen in &mut sixteens {
        for v in sixteen.iter_mut() {
            *v = unit_pow(v.clamp(0.0, 1.0), gamma);
        }
    }
    for v in sixteens.into_remainder() {
        *v = unit_pow(v.clamp(0.0, 1.0), gamma);
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
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let high = m > std::f32::consts::SQRT_2;
    let (m, exponent) = if high {
        (m * 0.5, exponent + 1)
    } else {
        (m, exponent)
    };
    let t = (m - 1.0) / (m + 1.0);
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
        let mut eights = block.chunks_exact(8);
        for eight in &mut eights {
            lanes.iter_mut().zip(eight).for_each(|(l, v)| *l += v);
        }
        total += lanes.iter().map(|&l| l as f64).sum::<f64>()
            + eights.remainder().iter().map(|&v| v as f64).sum::<f64>();
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
