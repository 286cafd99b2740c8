use ndarray::{Array3, ArrayView3, Axis};

/// Separable Gaussian blur with standard deviation `sigma` pixels (radius ⌈3σ⌉, edges clamped
/// so borders do not darken). `sigma ≤ 0` copies the image.
pub fn gaussian_blur(img: ArrayView3<f32>, sigma: f32) -> Array3<f32> {
    if sigma <= 0.0 {
        return img.to_owned();
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let mut kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= total);

    let pass = |src: ArrayView3<f32>, axis: Axis| {
        let len = src.len_of(axis) as isize;
        let mut out = Array3::zeros(src.raw_dim());
        for (mut o, s) in out.lanes_mut(axis).into_iter().zip(src.lanes(axis)) {
            for i in 0..len {
                let mut acc = 0.0;
                for (k, &w) in kernel.iter().enumerate() {
                    let j = (i + k as isize - radius).clamp(0, len - 1);
                    acc += w * s[j as usize];
                }
                o[i as usize] = acc;
            }
        }
        out
    };
    let horizontal = pass(img, Axis(2));
    pass(horizontal.view(), Axis(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preserves_flat_images_and_spreads_a_dot() {
        let flat = Array3::from_elem((2, 5, 6), 0.3f32);
        assert!(
            gaussian_blur(flat.view(), 1.0)
                .iter()
                .all(|&v| (v - 0.3).abs() < 1e-6)
        );
        let mut dot = Array3::zeros((1, 9, 9));
        dot[[0, 4, 4]] = 1.0f32;
        let b = gaussian_blur(dot.view(), 1.0);
        assert!((b.sum() - 1.0).abs() < 1e-5);
        assert!(b[[0, 4, 4]] < 0.2 && b[[0, 4, 5]] > 0.05);
        assert!((b[[0, 3, 4]] - b[[0, 4, 3]]).abs() < 1e-7);
    }
}
