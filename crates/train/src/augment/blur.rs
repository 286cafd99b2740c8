/// Separable Gaussian blur, in place, of a CHW image held as one flat slice of `channels`
/// planes of `height × width`, with standard deviation `sigma` pixels (radius ⌈3σ⌉, edges
/// clamped so borders do not darken). `sigma ≤ 0` leaves the image as it is.
///
/// `scratch` is reused between calls (one per worker), so a view costs no allocation. Rows are
/// padded once; both passes accumulate one tap over a whole row at a time: straight
/// multiply-adds the compiler vectorizes, with no per-tap bounds clamp.
#[inline(always)]
pub fn gaussian_blur(
    img: &mut [f32],
    height: usize,
    width: usize,
    sigma: f32,
    scratch: &mut Vec<f32>,
) {
    if sigma <= 0.0 || height == 0 || width == 0 {
        return;
    }
    assert_eq!(img.len() % (height * width), 0, "image buffer size");
    let radius = (3.0 * sigma).ceil() as usize;
    let mut kernel: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let d = i as f32 - radius as f32;
            (-(d * d) / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let total: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= total);

    let plane_len = height * width;
    scratch.clear();
    scratch.resize(plane_len + width + 2 * radius, 0.0);
    let (horizontal, padded) = scratch.split_at_mut(plane_len);
    for plane in img.chunks_exact_mut(plane_len) {
        for (row, out) in plane
            .chunks_exact(width)
            .zip(horizontal.chunks_exact_mut(width))
        {
            padded[..radius].fill(row[0]);
            padded[radius..radius + width].copy_from_slice(row);
            padded[radius + width..].fill(row[width - 1]);
            convolve(out, &kernel, |i, at| &padded[i + at..]);
        }
        for (y, out) in plane.chunks_exact_mut(width).enumerate() {
            convolve(out, &kernel, |i, at| {
                let src = (y + i).saturating_sub(radius).min(height - 1);
                &horizontal[src * width + at..(src + 1) * width]
            });
        }
    }
}

/// Outputs per block of [`convolve`]: four AVX2 registers of sums.
const BLOCK: usize = 32;

/// `out[j] = Σ_i kernel[i] · tap(i, 0)[j]`, the taps added in order from 0 (the same
/// operations in the same order as one whole-row pass per tap), `BLOCK` outputs at a time:
/// their sums stay in registers through all the taps instead of being loaded and stored
/// again for each tap. `tap(i, at)` is tap `i`'s row from output `at` on.
#[inline(always)]
fn convolve<'a>(out: &mut [f32], kernel: &[f32], tap: impl Fn(usize, usize) -> &'a [f32]) {
    let mut blocks = out.chunks_exact_mut(BLOCK);
    let mut at = 0;
    for block in &mut blocks {
        let mut sums = [0.0f32; BLOCK];
        for (i, &k) in kernel.iter().enumerate() {
            let row = &tap(i, at)[..BLOCK];
            for (s, v) in sums.iter_mut().zip(row) {
                *s += k * v;
            }
        }
        block.copy_from_slice(&sums);
        at += BLOCK;
    }
    let rest = blocks.into_remainder();
    rest.fill(0.0);
    for (i, &k) in kernel.iter().enumerate() {
        for (o, v) in rest.iter_mut().zip(tap(i, at)) {
            *o += k * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blur as its definition says, one clamped tap at a time.
    fn reference(img: &[f32], c: usize, h: usize, w: usize, sigma: f32) -> Vec<f32> {
        let r = (3.0 * sigma).ceil() as isize;
        let k: Vec<f32> = (-r..=r)
            .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
            .collect();
        let s: f32 = k.iter().sum();
        let at = |p: &[f32], y: isize, x: isize| {
            p[(y.clamp(0, h as isize - 1) as usize) * w + x.clamp(0, w as isize - 1) as usize]
        };
        let mut out = vec![0.0; img.len()];
        for ch in 0..c {
            let p = &img[ch * h * w..(ch + 1) * h * w];
            let mut hz = vec![0.0; h * w];
            for y in 0..h as isize {
                for x in 0..w as isize {
                    hz[y as usize * w + x as usize] = (-r..=r)
                        .map(|i| k[(i + r) as usize] / s * at(p, y, x + i))
                        .sum();
                }
            }
            for y in 0..h as isize {
                for x in 0..w as isize {
                    out[ch * h * w + y as usize * w + x as usize] = (-r..=r)
                        .map(|i| k[(i + r) as usize] / s * at(&hz, y + i, x))
                        .sum();
                }
            }
        }
        out
    }

    #[test]
    fn preserves_flat_images_and_spreads_a_dot() {
        let mut scratch = Vec::new();
        let mut flat = vec![0.3f32; 2 * 5 * 6];
        gaussian_blur(&mut flat, 5, 6, 1.0, &mut scratch);
        assert!(flat.iter().all(|&v| (v - 0.3).abs() < 1e-6));
        let mut dot = vec![0.0f32; 81];
        dot[4 * 9 + 4] = 1.0;
        gaussian_blur(&mut dot, 9, 9, 1.0, &mut scratch);
        assert!((dot.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(dot[4 * 9 + 4] < 0.2 && dot[4 * 9 + 5] > 0.05);
        assert!((dot[3 * 9 + 4] - dot[4 * 9 + 3]).abs() < 1e-7);
    }

    #[test]
    fn matches_the_clamped_edge_definition() {
        // A radius larger than the image exercises the clamping on both sides.
        for (c, h, w, sigma) in [(1, 7, 5, 0.4), (2, 4, 9, 1.2), (3, 3, 3, 2.0)] {
            let img: Vec<f32> = (0..c * h * w)
                .map(|i| ((i * 37) % 11) as f32 / 10.0)
                .collect();
            let mut fast = img.clone();
            gaussian_blur(&mut fast, h, w, sigma, &mut Vec::new());
            let want = reference(&img, c, h, w, sigma);
            for (a, b) in fast.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{c}×{h}×{w} σ {sigma}: {a} vs {b}");
            }
        }
    }
}
