use ndarray::ArrayViewMut3;

use crate::Rng;

/// Additive Gaussian sensor noise of standard deviation `std`, clamped to [0, 1].
pub fn add_gaussian_noise(mut img: ArrayViewMut3<f32>, std: f32, rng: &mut Rng) {
    if std > 0.0 {
        img.mapv_inplace(|v| (v + std * rng.normal()).clamp(0.0, 1.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn noise_has_the_requested_spread() {
        let mut img = Array3::from_elem((1, 100, 100), 0.5f32);
        add_gaussian_noise(img.view_mut(), 0.05, &mut Rng::new(1));
        let var = img.mapv(|v| (v - 0.5).powi(2)).mean().unwrap();
        assert!((var.sqrt() - 0.05).abs() < 0.003);
    }
}
