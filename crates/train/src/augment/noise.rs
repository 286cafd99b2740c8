use crate::Rng;

/// Additive sensor noise of standard deviation `std`, clamped to [0, 1].
///
/// Each pixel's draw is near-Gaussian: the sum of four uniforms (Irwin–Hall, bell-shaped, within
/// ±2√3 standard deviations), scaled to unit variance, taken from the four bytes of one half of
/// a 64-bit draw — two pixels per draw. Box–Muller pairs cost a `ln`, a `sqrt` and a `sin_cos`
/// per two pixels, which made noise the most expensive stage of a 224×224 view; this is integer
/// arithmetic and one multiply. Byte uniforms make the sum take 1,021 values over ±3.5σ: steps
/// of 0.007σ, at most 0.0003 for the camera's largest σ (0.04), a tenth of an 8-bit level.
#[inline(always)]
pub fn add_gaussian_noise(img: &mut [f32], std: f32, rng: &mut Rng) {
    if std <= 0.0 {
        return;
    }
    // Four uniforms on [0, 255] sum to mean 510 and variance 4·(256² − 1)/12.
    const MEAN: f32 = 2.0 * 255.0;
    let scale = std / (4.0 * (256.0f32 * 256.0 - 1.0) / 12.0).sqrt();
    let noise = |bits: u32| {
        let sum =
            (bits & 0xff) + ((bits >> 8) & 0xff) + ((bits >> 16) & 0xff) + ((bits >> 24) & 0xff);
        (sum as f32 - MEAN) * scale
    };
    // Draws are made a block at a time (the generator's part, scalar), then the block's pixels
    // are made from their 32-bit halves in one loop that vectorizes: pixel `2i` takes the low
    // half of draw `i`, pixel `2i + 1` the high half, as one pixel pair per draw did.
    let (blocks, rest) = img.as_chunks_mut::<{ 2 * DRAWS }>();
    let mut halves = [0u32; 2 * DRAWS];
    for block in blocks {
        for pair in halves.as_chunks_mut::<2>().0 {
            let bits = rng.next_u64();
            *pair = [bits as u32, (bits >> 32) as u32];
        }
        for (v, &bits) in block.iter_mut().zip(&halves) {
            *v = (*v + noise(bits)).clamp(0.0, 1.0);
        }
    }
    let mut pairs = rest.chunks_exact_mut(2);
    for pair in &mut pairs {
        let bits = rng.next_u64();
        pair[0] = (pair[0] + noise(bits as u32)).clamp(0.0, 1.0);
        pair[1] = (pair[1] + noise((bits >> 32) as u32)).clamp(0.0, 1.0);
    }
    for v in pairs.into_remainder() {
        *v = (*v + noise(rng.next_u64() as u32)).clamp(0.0, 1.0);
    }
}

/// Draws [`add_gaussian_noise`] makes a block.
const DRAWS: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks give the pixels one pixel pair per draw gave, whatever the length.
    #[test]
    fn blocks_are_the_pairwise_draws() {
        for len in [0, 1, 2, 63, 64, 65, 200, 1001] {
            let img: Vec<f32> = (0..len).map(|i| (i % 17) as f32 / 16.0).collect();
            let mut got = img.clone();
            add_gaussian_noise(&mut got, 0.03, &mut Rng::new(5));
            let mut rng = Rng::new(5);
            let scale = 0.03 / (4.0 * (256.0f32 * 256.0 - 1.0) / 12.0).sqrt();
            let noise = |b: u64| {
                let sum = (b & 0xff) + ((b >> 8) & 0xff) + ((b >> 16) & 0xff) + ((b >> 24) & 0xff);
                (sum as f32 - 510.0) * scale
            };
            let mut want = img.clone();
            let mut pairs = want.chunks_exact_mut(2);
            for pair in &mut pairs {
                let bits = rng.next_u64();
                pair[0] = (pair[0] + noise(bits)).clamp(0.0, 1.0);
                pair[1] = (pair[1] + noise(bits >> 32)).clamp(0.0, 1.0);
            }
            for v in pairs.into_remainder() {
                *v = (*v + noise(rng.next_u64())).clamp(0.0, 1.0);
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{len} values");
        }
    }

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
