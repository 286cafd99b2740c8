use ndarray::{ArrayViewMut3, Zip};

/// Exposure: multiply every value by `factor`, clamped to [0, 1].
pub fn adjust_brightness(mut img: ArrayViewMut3<f32>, factor: f32) {
    img.mapv_inplace(|v| (v * factor).clamp(0.0, 1.0));
}

/// Scale distances from the image mean by `factor` (torchvision blends with the mean too; the
/// mean is over all channels so a gray and an RGB encoder see the same kind of change).
pub fn adjust_contrast(mut img: ArrayViewMut3<f32>, factor: f32) {
    let mean = img.mean().unwrap_or(0.0);
    img.mapv_inplace(|v| (mean + (v - mean) * factor).clamp(0.0, 1.0));
}

/// `v^gamma`: the camera's tone curve. Values are clamped first (a negative base would be NaN).
pub fn adjust_gamma(mut img: ArrayViewMut3<f32>, gamma: f32) {
    Zip::from(&mut img).for_each(|v| *v = v.clamp(0.0, 1.0).powf(gamma));
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn each_adjustment_does_what_it_says() {
        let mut img = Array3::from_shape_vec((1, 1, 3), vec![0.2, 0.4, 0.9]).unwrap();
        adjust_brightness(img.view_mut(), 2.0);
        assert_eq!(img.as_slice().unwrap(), &[0.4, 0.8, 1.0]);
        adjust_contrast(img.view_mut(), 0.0);
        assert!(img.iter().all(|&v| (v - 0.733_333_3).abs() < 1e-6));
        let mut g = Array3::from_elem((1, 2, 2), 0.25f32);
        adjust_gamma(g.view_mut(), 0.5);
        assert!(g.iter().all(|&v| (v - 0.5).abs() < 1e-6));
    }
}
