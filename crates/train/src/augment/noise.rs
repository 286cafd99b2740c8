use crate::Rng;

/// Additive sensor noise of standard deviation `std`, clamped to [0, 1].
///
/// Each pixel's draw is near-Gaussian: the sum of four uniforms (Irwin–Hall, bell-shaped, within
/// ±2√3 standard deviations), scaled to unit variance, taken from the four 16-bit parts of one
/// 64-bit draw. Box–Muller pairs cost a `ln`, a `sqrt` and a `sin_cos` per two pixels, which made
/// noise the most expensive stage of a 224×224 view; this is integer arithmetic and one multiply.
#[inline(always)]
pub fn add_gaussian_noise(img: &mut [f32], std: f32, rng: &mut Rng) {
    if std <= 0.0 {
        return;
    }
    // Four uniforms on [0, 65535] sum to mean 131070 and variance 4·(65536² − 1)/12.
    const MEAN: f32 = 2.0 * 65_535.0;
    let scale = std / (4.0 * (65_536.0f32 * 65_536.0 - 1.0) / 12.0).sqrt();
    for v in img.iter_mut() {
        let bits = rng.next_u64();
        let sum =
            (bits & 0xffff) + ((bits >> 16) & 0xffff) + ((bits >> 32) & 0xffff) + (bits >> 48);
        *v = (*v + (sum as f32 - MEAN) * scale).clamp(0.0, 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_has_the_requested_spread() {
        let mut img = vec![0.5f32; 100 * 100 + 1];
        add_gaussian_noise(&mut img, 0.05, &mut Rng::new(1));
        let n = img.len() as f32;
        let mean = img.iter().sum::<f32>() / n;
        let var = img.iter().map(|v| (v - 0.5).powi(2)).sum::<f32>() / n;
        assert!((var.sqrt() - 0.05).abs() < 0.003, "{}", var.sqrt());
        assert!((mean - 0.5).abs() < 0.002);
        assert!(img[..2].iter().all(|&v| v != 0.5) && img[img.len() - 1] != 0.5);
        // Bell-shaped: within one standard deviation lie 68.3 % of a Gaussian, 66.9 % of this sum
        // of four uniforms, 57.7 % of a uniform; nothing lies beyond 2√3 of them.
        let within = img.iter().filter(|&&v| (v - 0.5).abs() < 0.05).count() as f32 / n;
        assert!((within - 0.669).abs() < 0.015, "{within}");
        assert!(
            img.iter()
                .all(|&v| (v - 0.5).abs() <= 0.05 * 12f32.sqrt() + 1e-6)
        );
    }
}
