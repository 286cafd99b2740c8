use serde::{Deserialize, Serialize};

use crate::{Result, TrainError};

/// What each view's random transformation may do. Ranges are `(low, high)` and sampled
/// uniformly (crop aspect ratio log-uniformly); each stage has a probability of being applied.
///
/// The stages run in camera order: framing (crop, flip) → exposure (brightness, contrast,
/// gamma) → optics (blur) → sensor (noise).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    /// Fraction of the source area the crop covers.
    pub crop_scale: (f32, f32),
    /// Crop width / height.
    pub crop_ratio: (f32, f32),
    pub flip_prob: f32,
    /// Probability that the exposure stage (brightness, contrast, gamma) is applied.
    pub color_prob: f32,
    /// Brightness factor drawn from `[1 − b, 1 + b]`.
    pub brightness: f32,
    /// Contrast factor drawn from `[1 − c, 1 + c]`.
    pub contrast: f32,
    /// Gamma exponent range; `(1, 1)` disables it.
    pub gamma: (f32, f32),
    pub blur_prob: f32,
    /// Gaussian sigma in output pixels.
    pub blur_sigma: (f32, f32),
    pub noise_prob: f32,
    /// Standard deviation of additive noise, in [0, 1] intensity units.
    pub noise_std: (f32, f32),
}

impl Default for AugmentConfig {
    /// A SimCLR-style recipe scaled down for small images (no hue/saturation jitter: it must also
    /// work on grayscale encoders).
    fn default() -> Self {
        AugmentConfig {
            crop_scale: (0.3, 1.0),
            crop_ratio: (0.75, 4.0 / 3.0),
            flip_prob: 0.5,
            color_prob: 0.8,
            brightness: 0.4,
            contrast: 0.4,
            gamma: (1.0, 1.0),
            blur_prob: 0.3,
            blur_sigma: (0.1, 1.5),
            noise_prob: 0.0,
            noise_std: (0.0, 0.0),
        }
    }
}

impl AugmentConfig {
    /// What a fixed camera does to the same scene between frames: moderate reframing, exposure
    /// and gamma changes, focus blur and sensor noise. Milder crops than [`Default`] because
    /// the object rarely leaves the frame.
    pub fn camera() -> Self {
        AugmentConfig {
            crop_scale: (0.5, 1.0),
            crop_ratio: (0.8, 1.25),
            flip_prob: 0.5,
            color_prob: 0.8,
            brightness: 0.3,
            contrast: 0.3,
            gamma: (0.7, 1.4),
            blur_prob: 0.5,
            blur_sigma: (0.2, 1.2),
            noise_prob: 0.5,
            noise_std: (0.005, 0.04),
        }
    }

    /// No randomness at all: just resize to the output size (for clean reference embeddings).
    pub fn identity() -> Self {
        AugmentConfig {
            crop_scale: (1.0, 1.0),
            crop_ratio: (1.0, 1.0),
            flip_prob: 0.0,
            color_prob: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            gamma: (1.0, 1.0),
            blur_prob: 0.0,
            blur_sigma: (0.0, 0.0),
            noise_prob: 0.0,
            noise_std: (0.0, 0.0),
        }
    }

    pub fn with_crop_scale(mut self, low: f32, high: f32) -> Self {
        self.crop_scale = (low, high);
        self
    }

    pub fn with_crop_ratio(mut self, low: f32, high: f32) -> Self {
        self.crop_ratio = (low, high);
        self
    }

    pub fn with_flip_prob(mut self, p: f32) -> Self {
        self.flip_prob = p;
        self
    }

    pub fn with_color(
        mut self,
        prob: f32,
        brightness: f32,
        contrast: f32,
        gamma: (f32, f32),
    ) -> Self {
        (self.color_prob, self.brightness, self.contrast, self.gamma) =
            (prob, brightness, contrast, gamma);
        self
    }

    pub fn with_blur(mut self, prob: f32, sigma: (f32, f32)) -> Self {
        (self.blur_prob, self.blur_sigma) = (prob, sigma);
        self
    }

    pub fn with_noise(mut self, prob: f32, std: (f32, f32)) -> Self {
        (self.noise_prob, self.noise_std) = (prob, std);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(TrainError::InvalidConfig(format!("augmentation {what}")));
        let ordered = |(a, b): (f32, f32)| a.is_finite() && b.is_finite() && a <= b;
        let prob = |p: f32| (0.0..=1.0).contains(&p);
        if !ordered(self.crop_scale) || self.crop_scale.0 <= 0.0 || self.crop_scale.1 > 1.0 {
            return bad("crop scale must satisfy 0 < low ≤ high ≤ 1");
        }
        if !ordered(self.crop_ratio) || self.crop_ratio.0 <= 0.0 {
            return bad("crop ratio must satisfy 0 < low ≤ high");
        }
        if ![
            self.flip_prob,
            self.color_prob,
            self.blur_prob,
            self.noise_prob,
        ]
        .into_iter()
        .all(prob)
        {
            return bad("probabilities must lie in [0, 1]");
        }
        if !(0.0..1.0).contains(&self.brightness) || !(0.0..1.0).contains(&self.contrast) {
            return bad("brightness and contrast must lie in [0, 1)");
        }
        if !ordered(self.gamma) || self.gamma.0 <= 0.0 {
            return bad("gamma must satisfy 0 < low ≤ high");
        }
        if !ordered(self.blur_sigma) || self.blur_sigma.0 < 0.0 {
            return bad("blur sigma must satisfy 0 ≤ low ≤ high");
        }
        if !ordered(self.noise_std) || self.noise_std.0 < 0.0 {
            return bad("noise std must satisfy 0 ≤ low ≤ high");
        }
        Ok(())
    }
}
