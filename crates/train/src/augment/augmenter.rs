use ndarray::{Array3, ArrayView3};

use super::{
    AugmentConfig, CropBox, Pixel, add_gaussian_noise, adjust_brightness, adjust_contrast,
    adjust_gamma, gaussian_blur, resized_crop_into,
};
use crate::{Result, Rng, TrainError};

/// Stream id that separates augmentation randomness from every other use of the seed.
const STREAM: u64 = 0xA06;

/// Turns one CHW image in [0, 1] into K random views of a fixed output size.
///
/// Each view's randomness comes from `Rng::stream(seed, [frame, view])` alone, so view `v` of
/// frame `f` is the same image whether frames are processed one at a time, in batches of 64 or
/// on eight threads, and a resumed `adapt` recomputes exactly the cache it had.
///
/// A view is rendered in one pass at the output size ([`Augmenter::render`]): the crop is
/// sampled straight from the stored frame, and exposure, blur and noise then work on the small
/// image only. Nothing the size of the source frame is allocated per view.
#[derive(Clone, Debug)]
pub struct Augmenter {
    config: AugmentConfig,
    height: usize,
    width: usize,
    seed: u64,
}

impl Augmenter {
    pub fn new(config: AugmentConfig, height: usize, width: usize, seed: u64) -> Result<Self> {
        config.validate()?;
        if height == 0 || width == 0 {
            return Err(TrainError::InvalidConfig(format!(
                "augmentation output size {height}×{width}"
            )));
        }
        Ok(Augmenter {
            config,
            height,
            width,
            seed,
        })
    }

    pub fn config(&self) -> &AugmentConfig {
        &self.config
    }

    /// View number `view` of frame number `frame`.
    pub fn augment<P: Pixel>(
        &self,
        img: ArrayView3<P>,
        frame: u64,
        view: u64,
    ) -> Result<Array3<f32>> {
        let mut out = Array3::zeros((img.dim().0, self.height, self.width));
        let dst = out.as_slice_mut().expect("a new array is contiguous");
        self.render(img, frame, view, dst, &mut Vec::new())?;
        Ok(out)
    }

    /// View number `view` of frame number `frame`, written into `out` (CHW at the output size,
    /// `channels · height · width` values in [0, 1]). `scratch` is working memory the caller
    /// keeps between views.
    ///
    /// On x86-64 CPUs with AVX2 the same code runs compiled for AVX2 (eight lanes instead of
    /// SSE2's four); the arithmetic is the same operations in the same order (no fused
    /// multiply-add), so the view is the same bytes either way.
    pub fn render<P: Pixel>(
        &self,
        img: ArrayView3<P>,
        frame: u64,
        view: u64,
        out: &mut [f32],
        scratch: &mut Vec<f32>,
    ) -> Result<()> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: `render_avx2` may use AVX2 instructions, and this CPU has them.
            return unsafe { self.render_avx2(img, frame, view, out, scratch) };
        }
        self.render_any(img, frame, view, out, scratch)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn render_avx2<P: Pixel>(
        &self,
        img: ArrayView3<P>,
        frame: u64,
        view: u64,
        out: &mut [f32],
        scratch: &mut Vec<f32>,
    ) -> Result<()> {
        self.render_any(img, frame, view, out, scratch)
    }

    /// [`render`](Self::render)'s body, inlined into each instruction-set variant (with the
    /// stages it calls, so they are compiled for that variant too).
    #[inline(always)]
    fn render_any<P: Pixel>(
        &self,
        img: ArrayView3<P>,
        frame: u64,
        view: u64,
        out: &mut [f32],
        scratch: &mut Vec<f32>,
    ) -> Result<()> {
        let (c, h, w) = img.dim();
        if c == 0 || h == 0 || w == 0 {
            return Err(TrainError::Empty(format!("image of shape {c}×{h}×{w}")));
        }
        if !img.iter().all(|p| p.is_finite()) {
            return Err(TrainError::NonFinite("image".into()));
        }
        if out.len() != c * self.height * self.width {
            return Err(TrainError::DimMismatch {
                what: "augmented view buffer".into(),
                expected: c * self.height * self.width,
                got: out.len(),
            });
        }
        let cfg = &self.config;
        let mut rng = Rng::stream(self.seed, &[STREAM, frame, view]);
        // Every draw happens whether or not its stage fires, so the stages stay independent:
        // turning blur off does not change which crop a view gets.
        let crop = CropBox::random(h, w, cfg.crop_scale, cfg.crop_ratio, &mut rng);
        let flip = rng.chance(cfg.flip_prob);
        let color = rng.chance(cfg.color_prob);
        let brightness = rng.uniform(1.0 - cfg.brightness, 1.0 + cfg.brightness);
        let contrast = rng.uniform(1.0 - cfg.contrast, 1.0 + cfg.contrast);
        let gamma = rng.uniform(cfg.gamma.0.ln(), cfg.gamma.1.ln()).exp();
        let blur = rng.chance(cfg.blur_prob);
        let sigma = rng.uniform(cfg.blur_sigma.0, cfg.blur_sigma.1);
        let noise = rng.chance(cfg.noise_prob);
        let std = rng.uniform(cfg.noise_std.0, cfg.noise_std.1);

        resized_crop_into(img, crop, self.height, self.width, flip, out);
        if color {
            adjust_brightness(out, brightness);
            adjust_contrast(out, contrast);
            if gamma != 1.0 {
                adjust_gamma(out, gamma);
            }
        }
        if blur {
            gaussian_blur(out, self.height, self.width, sigma, scratch);
        }
        if noise {
            add_gaussian_noise(out, std, &mut rng);
        }
        for v in out.iter_mut() {
            *v = v.clamp(0.0, 1.0);
        }
        Ok(())
    }

    /// Views `0..k` of `frame`.
    pub fn views(&self, img: ArrayView3<f32>, frame: u64, k: usize) -> Result<Vec<Array3<f32>>> {
        if k == 0 {
            return Err(TrainError::TooFewViews(0));
        }
        (0..k as u64).map(|v| self.augment(img, frame, v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_image() -> Array3<f32> {
        Array3::from_shape_fn((3, 40, 50), |(c, y, x)| {
            ((c * 7 + y * 3 + x) % 17) as f32 / 16.0
        })
    }

    #[test]
    fn views_are_reproducible_per_frame_and_view_and_differ_between_them() {
        let a = Augmenter::new(AugmentConfig::camera(), 32, 32, 9).unwrap();
        let img = test_image();
        let batch = a.views(img.view(), 5, 4).unwrap();
        // Same view computed alone, out of order, equals the batched one.
        assert_eq!(a.augment(img.view(), 5, 2).unwrap(), batch[2]);
        assert_ne!(batch[0], batch[1]);
        assert_ne!(a.augment(img.view(), 6, 0).unwrap(), batch[0]);
        let other_seed = Augmenter::new(AugmentConfig::camera(), 32, 32, 10).unwrap();
        assert_ne!(other_seed.augment(img.view(), 5, 0).unwrap(), batch[0]);
        for v in &batch {
            assert_eq!(v.dim(), (3, 32, 32));
            assert!(v.iter().all(|x| (0.0..=1.0).contains(x)));
        }
    }

    /// The AVX2 variant writes the same bits as the portable one: camera-style views (every
    /// stage on) of a byte frame and of a float frame, RGB and gray.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_variant_renders_the_same_bits() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("this CPU has no AVX2: nothing to compare");
            return;
        }
        let mut config = AugmentConfig::camera();
        (config.color_prob, config.blur_prob, config.noise_prob) = (1.0, 1.0, 1.0);
        let a = Augmenter::new(config, 24, 20, 11).unwrap();
        let bytes = Array3::from_shape_fn((3, 50, 70), |(c, y, x)| {
            ((c * 31 + y * 13 + x * 7) % 256) as u8
        });
        let floats = Array3::from_shape_fn((1, 33, 41), |(_, y, x)| {
            ((y * 5 + x * 3) % 29) as f32 / 28.0
        });
        let mut scratch = Vec::new();
        for view in 0..40 {
            let (mut any, mut avx) = (vec![0.0; 3 * 24 * 20], vec![0.0; 3 * 24 * 20]);
            a.render_any(bytes.view(), 3, view, &mut any, &mut scratch)
                .unwrap();
            // SAFETY: AVX2 was detected above.
            unsafe { a.render_avx2(bytes.view(), 3, view, &mut avx, &mut scratch) }.unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&any), bits(&avx), "byte frame, view {view}");
            let (mut any, mut avx) = (vec![0.0; 24 * 20], vec![0.0; 24 * 20]);
            a.render_any(floats.view(), 4, view, &mut any, &mut scratch)
                .unwrap();
            // SAFETY: as above.
            unsafe { a.render_avx2(floats.view(), 4, view, &mut avx, &mut scratch) }.unwrap();
            assert_eq!(bits(&any), bits(&avx), "float frame, view {view}");
        }
    }

    #[test]
    fn rendering_from_bytes_equals_rendering_from_their_floats() {
        let bytes = Array3::from_shape_fn((1, 40, 50), |(_, y, x)| ((y * 13 + x * 7) % 256) as u8);
        let floats = bytes.mapv(|v| v as f32 / 255.0);
        let a = Augmenter::new(AugmentConfig::camera(), 28, 28, 3).unwrap();
        let mut out = vec![0.0; 28 * 28];
        let mut scratch = Vec::new();
        for view in 0..6 {
            a.render(bytes.view(), 2, view, &mut out, &mut scratch)
                .unwrap();
            let want = a.augment(floats.view(), 2, view).unwrap();
            for (x, y) in out.iter().zip(want.iter()) {
                assert!((x - y).abs() < 1e-6, "view {view}: {x} vs {y}");
            }
        }
        let mut short = vec![0.0; 10];
        assert!(matches!(
            a.render(bytes.view(), 0, 0, &mut short, &mut scratch),
            Err(TrainError::DimMismatch { .. })
        ));
    }

    #[test]
    fn identity_config_only_resizes() {
        let img = test_image();
        let a = Augmenter::new(AugmentConfig::identity(), 40, 50, 1).unwrap();
        assert_eq!(a.augment(img.view(), 0, 0).unwrap(), img);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(Augmenter::new(AugmentConfig::default(), 0, 5, 1).is_err());
        assert!(
            Augmenter::new(AugmentConfig::default().with_crop_scale(0.0, 1.0), 8, 8, 1).is_err()
        );
        assert!(Augmenter::new(AugmentConfig::default().with_flip_prob(1.5), 8, 8, 1).is_err());
        let a = Augmenter::new(AugmentConfig::default(), 8, 8, 1).unwrap();
        assert!(matches!(
            a.augment(Array3::<f32>::zeros((3, 0, 4)).view(), 0, 0),
            Err(TrainError::Empty(_))
        ));
        let mut nan = test_image();
        nan[[0, 0, 0]] = f32::NAN;
        assert!(matches!(
            a.augment(nan.view(), 0, 0),
            Err(TrainError::NonFinite(_))
        ));
        assert!(a.views(test_image().view(), 0, 0).is_err());
    }
}
