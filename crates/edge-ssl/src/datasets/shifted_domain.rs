//! A camera-like target domain made from Fashion-MNIST: what a fixed camera looking at the
//! garment on a table would see. Each 28×28 image is placed, slightly rotated and scaled, on a
//! light textured background (64×64 RGB), lit unevenly (a gradient and a vignette), blurred,
//! given sensor noise, and finally JPEG-compressed when written. Every random choice comes
//! from `(seed, index)`, so the same seed gives the same pictures on every machine.
//!
//! The source domain (clean Fashion-MNIST) is a bright garment on black; here the background
//! is light and the garment takes a random tint, which is the kind of shift a lab-trained
//! encoder meets on a device.

use edge_ssl_train::Rng;
use image::RgbImage;

/// Output side in pixels.
pub const SIZE: usize = 64;
/// Rng stream id of the generator (distinct from the trainer's streams).
const STREAM: u64 = 0x5_41f7;

/// One rendered picture and the JPEG quality it should be saved with.
pub struct Shot {
    pub image: RgbImage,
    pub jpeg_quality: u8,
}

/// Renders Fashion-MNIST image `index` (28×28 row-major gray bytes) as a camera shot.
pub fn render(src: &[u8; 784], seed: u64, index: u64) -> Shot {
    let mut rng = Rng::stream(seed, &[STREAM, index]);
    let n = SIZE * SIZE;
    // Background: light paper/cloth, a slight colour cast, two gratings and fine grain.
    let gray = rng.uniform(0.68, 0.9);
    let bg: [f32; 3] = std::array::from_fn(|_| gray + rng.uniform(-0.05, 0.05));
    let gratings: Vec<(f32, f32, f32, f32)> = (0..2)
        .map(|_| {
            let angle = rng.uniform(0.0, std::f32::consts::PI);
            (
                angle.cos(),
                angle.sin(),
                rng.uniform(0.2, 0.9),
                rng.uniform(0.01, 0.035),
            )
        })
        .collect();
    // Garment: a random tint applied to its own shading.
    let tint: [f32; 3] = std::array::from_fn(|_| rng.uniform(0.1, 0.95));
    let scale = rng.uniform(1.75, 2.15);
    let angle = rng.uniform(-12.0f32, 12.0).to_radians();
    let (tx, ty) = (rng.uniform(-4.0, 4.0), rng.uniform(-4.0, 4.0));
    // Lighting: directional gradient plus vignette.
    let (light_dir, light_amp) = (
        rng.uniform(0.0, std::f32::consts::TAU),
        rng.uniform(0.12, 0.35),
    );
    let vignette = rng.uniform(0.08, 0.25);
    let sigma = rng.uniform(0.4, 1.0);
    let noise_std = rng.uniform(0.01, 0.04);
    let jpeg_quality = rng.uniform(55.0, 85.0) as u8;

    let mut planes = vec![0f32; 3 * n];
    let (ca, sa) = (angle.cos(), angle.sin());
    let half = SIZE as f32 / 2.0;
    for y in 0..SIZE {
        for x in 0..SIZE {
            let (px, py) = (x as f32 - half, y as f32 - half);
            // Inverse map into the 28×28 source.
            let (u, v) = (px - tx, py - ty);
            let sx = (ca * u + sa * v) / scale + 14.0 - 0.5;
            let sy = (-sa * u + ca * v) / scale + 14.0 - 0.5;
            let g = bilinear(src, sx, sy);
            let alpha = (g * 4.0).min(1.0);
            let mut texture = rng.uniform(-0.02, 0.02);
            for &(cx, cy, freq, amp) in &gratings {
                texture += amp * ((cx * x as f32 + cy * y as f32) * freq).sin();
            }
            let (rx, ry) = (px / half, py / half);
            let light = (1.0 + light_amp * (rx * light_dir.cos() + ry * light_dir.sin()))
                * (1.0 - vignette * (rx * rx + ry * ry) / 2.0);
            for c in 0..3 {
                let cloth = tint[c] * (0.35 + 0.65 * g);
                let value = alpha * cloth + (1.0 - alpha) * (bg[c] + texture);
                planes[c * n + y * SIZE + x] = value * light;
            }
        }
    }
    for c in 0..3 {
        blur(&mut planes[c * n..(c + 1) * n], sigma);
    }
    let image = RgbImage::from_fn(SIZE as u32, SIZE as u32, |x, y| {
        let i = y as usize * SIZE + x as usize;
        image::Rgb(std::array::from_fn(|c| {
            let v = planes[c * n + i] + noise_std * rng.normal();
            (v.clamp(0.0, 1.0) * 255.0).round() as u8
        }))
    });
    Shot {
        image,
        jpeg_quality,
    }
}

/// The source pixel at (x, y) in [0, 1], bilinear, zero (the black background) outside.
fn bilinear(src: &[u8; 784], x: f32, y: f32) -> f32 {
    let at = |xi: i32, yi: i32| -> f32 {
        if (0..28).contains(&xi) && (0..28).contains(&yi) {
            src[yi as usize * 28 + xi as usize] as f32 / 255.0
        } else {
            0.0
        }
    };
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (xi, yi) = (x0 as i32, y0 as i32);
    at(xi, yi) * (1.0 - fx) * (1.0 - fy)
        + at(xi + 1, yi) * fx * (1.0 - fy)
        + at(xi, yi + 1) * (1.0 - fx) * fy
        + at(xi + 1, yi + 1) * fx * fy
}

/// Separable Gaussian blur of one SIZE×SIZE plane, edges clamped (defocus).
fn blur(plane: &mut [f32], sigma: f32) {
    let r = (sigma * 3.0).ceil() as i32;
    let kernel: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = kernel.iter().sum();
    let s = SIZE as i32;
    for pass in 0..2 {
        let copy = plane.to_vec();
        for y in 0..s {
            for x in 0..s {
                let mut acc = 0.0;
                for (k, w) in kernel.iter().enumerate() {
                    let d = k as i32 - r;
                    let (xx, yy) = if pass == 0 {
                        ((x + d).clamp(0, s - 1), y)
                    } else {
                        (x, (y + d).clamp(0, s - 1))
                    };
                    acc += w * copy[(yy * s + xx) as usize];
                }
                plane[(y * s + x) as usize] = acc / sum;
            }
        }
    }
}

/// Encodes a shot as JPEG bytes at its quality.
pub fn jpeg_bytes(shot: &Shot) -> crate::Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, shot.jpeg_quality)
        .encode_image(&shot.image)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> [u8; 784] {
        std::array::from_fn(|i| {
            if (8..20).contains(&(i % 28)) && (4..24).contains(&(i / 28)) {
                200
            } else {
                0
            }
        })
    }

    #[test]
    fn same_seed_same_picture_other_seed_other_picture() {
        let a = render(&sample(), 7, 3);
        let b = render(&sample(), 7, 3);
        let c = render(&sample(), 8, 3);
        assert_eq!(a.image, b.image);
        assert_eq!(a.jpeg_quality, b.jpeg_quality);
        assert_ne!(a.image, c.image);
        assert_eq!(a.image.dimensions(), (64, 64));
    }

    #[test]
    fn background_is_light_and_garment_region_differs() {
        let shot = render(&sample(), 1, 0);
        let corner = shot
            .image
            .get_pixel(1, 1)
            .0
            .iter()
            .map(|&v| v as f32)
            .sum::<f32>()
            / 3.0;
        assert!(corner > 110.0, "background should be light, got {corner}");
        let jpeg = jpeg_bytes(&shot).unwrap();
        assert!(image::load_from_memory(&jpeg).is_ok());
    }
}
