use image::DynamicImage;

/// Side of the gray thumbnail frames are compared by.
pub const THUMB_SIDE: usize = 16;

/// A frame reduced to a 16×16 gray thumbnail by area averaging.
///
/// Averaging each cell over every pixel in it is what makes the comparison cheap *and* robust:
/// sensor noise and JPEG artifacts average out over the ~1700 pixels per cell of a VGA frame,
/// while a person walking in changes several cells by tens of levels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumbnail(pub [u8; THUMB_SIDE * THUMB_SIDE]);

impl Thumbnail {
    pub fn of(image: &DynamicImage) -> Self {
        match image {
            DynamicImage::ImageLuma8(g) => {
                Self::from_interleaved::<1>(g.as_raw(), g.width(), g.height())
            }
            DynamicImage::ImageRgb8(c) => {
                Self::from_interleaved::<3>(c.as_raw(), c.width(), c.height())
            }
            DynamicImage::ImageRgba8(c) => {
                Self::from_interleaved::<4>(c.as_raw(), c.width(), c.height())
            }
            other => {
                let c = other.to_rgb8();
                Self::from_interleaved::<3>(c.as_raw(), c.width(), c.height())
            }
        }
    }

    /// `CH` is 1 (gray) or ≥ 3 (RGB first, anything after ignored); a const so each layout gets
    /// its own tight loop.
    fn from_interleaved<const CH: usize>(data: &[u8], width: u32, height: u32) -> Self {
        let (w, h) = (width as usize, height as usize);
        // Sums of 256 × luma, so Rec. 601 weights (77, 150, 29: the ones edge_ssl_core uses, in
        // 8.8 fixed point) need no per-pixel shift.
        let mut sums = [0u64; THUMB_SIDE * THUMB_SIDE];
        let mut counts = [0u32; THUMB_SIDE * THUMB_SIDE];
        // Column c of the grid covers the pixels x with x * 16 / w == c.
        let bounds: [usize; THUMB_SIDE + 1] = std::array::from_fn(|c| (c * w).div_ceil(THUMB_SIDE));
        for (y, row) in data.chunks_exact(w * CH).take(h).enumerate() {
            let base = (y * THUMB_SIDE / h) * THUMB_SIDE;
            for c in 0..THUMB_SIDE {
                let segment = &row[bounds[c] * CH..bounds[c + 1] * CH];
                let sum: u32 = segment
                    .chunks_exact(CH)
                    .map(|px| match CH {
                        1 => 256 * u32::from(px[0]),
                        _ => 77 * u32::from(px[0]) + 150 * u32::from(px[1]) + 29 * u32::from(px[2]),
                    })
                    .sum();
                sums[base + c] += u64::from(sum);
                counts[base + c] += (bounds[c + 1] - bounds[c]) as u32;
            }
        }
        let mut out = [0u8; THUMB_SIDE * THUMB_SIDE];
        for ((o, s), n) in out.iter_mut().zip(sums).zip(counts) {
            // Images smaller than 16 px on a side leave some cells empty; they stay 0 in both
            // thumbnails being compared, so they add no difference.
            let n = u64::from(n) * 256;
            *o = (s + n / 2).checked_div(n).unwrap_or(0) as u8;
        }
        Thumbnail(out)
    }

    /// Mean absolute difference per cell, on the 0–255 scale.
    pub fn mean_abs_diff(&self, other: &Thumbnail) -> f32 {
        let total: u32 = self
            .0
            .iter()
            .zip(&other.0)
            .map(|(&a, &b)| u32::from(a.abs_diff(b)))
            .sum();
        total as f32 / (THUMB_SIDE * THUMB_SIDE) as f32
    }
}

/// Drops frames that look like the last *kept* one, for static cameras that would otherwise fill
/// the adaptation set with thousands of copies of an empty hallway.
///
/// Comparing with the last kept frame rather than the previous frame matters: a slow change
/// (dawn) still produces a new frame once it has accumulated past the threshold.
#[derive(Clone, Debug)]
pub struct Dedup {
    threshold: f32,
    last_kept: Option<Thumbnail>,
}

impl Dedup {
    pub fn new(threshold: f32) -> Self {
        Dedup {
            threshold,
            last_kept: None,
        }
    }

    /// Whether `image` duplicates the last kept frame; if not, it becomes the last kept frame.
    pub fn is_duplicate(&mut self, image: &DynamicImage) -> bool {
        let thumb = Thumbnail::of(image);
        let duplicate = self
            .last_kept
            .as_ref()
            .is_some_and(|last| last.mean_abs_diff(&thumb) < self.threshold);
        if !duplicate {
            self.last_kept = Some(thumb);
        }
        duplicate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, RgbImage};

    #[test]
    fn thumbnail_averages_cells_and_matches_gray() {
        // Left half black, right half white: cells are 0 or 255, nothing in between.
        let rgb = RgbImage::from_fn(64, 32, |x, _| {
            if x < 32 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        let t = Thumbnail::of(&DynamicImage::ImageRgb8(rgb));
        assert!(t.0[..8].iter().all(|&v| v == 0) && t.0[8..16].iter().all(|&v| v == 255));
        let gray = GrayImage::from_fn(64, 32, |x, _| Luma([if x < 32 { 0 } else { 255 }]));
        assert_eq!(Thumbnail::of(&DynamicImage::ImageLuma8(gray)), t);
    }

    #[test]
    fn noise_is_a_duplicate_a_new_object_is_not() {
        let base = RgbImage::from_fn(160, 120, |x, y| Rgb([(x % 200) as u8, (y * 2) as u8, 90]));
        let noisy = RgbImage::from_fn(160, 120, |x, y| {
            let p = base.get_pixel(x, y).0;
            let n = ((x * 7 + y * 13) % 9) as u8; // ±4 levels of fixed-pattern "noise"
            Rgb([p[0].saturating_add(n).saturating_sub(4), p[1], p[2]])
        });
        let mut object = base.clone();
        for y in 30..90 {
            for x in 40..100 {
                object.put_pixel(x, y, Rgb([250, 250, 250]));
            }
        }
        let mut d = Dedup::new(2.0);
        assert!(!d.is_duplicate(&DynamicImage::ImageRgb8(base)));
        assert!(d.is_duplicate(&DynamicImage::ImageRgb8(noisy)));
        assert!(!d.is_duplicate(&DynamicImage::ImageRgb8(object)));
    }

    #[test]
    fn tiny_images_do_not_panic() {
        let t = Thumbnail::of(&DynamicImage::ImageRgb8(RgbImage::new(3, 1)));
        assert_eq!(t.mean_abs_diff(&t), 0.0);
    }
}
