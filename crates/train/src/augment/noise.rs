use crate::Rng;

/// Additive Gaussian sensor noise of standard deviation `std`, clamped to [0, 1].
///
/// Normals come in Box–Muller pairs from one 64-bit draw each (both halves of the transform
/// are used), in `f32`: a view's noise costs one `ln`, `sqrt` and `sin_cos` per two pixels.
pub fn add_gaussian_noise(img: &mut [f32], std: f32, rng: &mut Rng) {
    if std <= 0.0 {
        return;
    }
    let mut pairs = img.chunks_exact_mut(2);
    for pair in &mut pairs {
        let (a, b) = rng.normal_pair();
        pair[0] = (pair[0] + std * a).clamp(0.0, 1.0);
        pair[1] = (pair[1] + std * b).clamp(0.0, 1.0);
    }
    if let [last] = pairs.into_remainder() {
        *last = (*last + std * rng.normal_pair().0).clamp(0.0, 1.0);
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
    }
}
