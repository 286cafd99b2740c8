mod augmenter;
mod blur;
mod config;
mod crop;
mod noise;
mod photometric;
mod pixel;

pub use augmenter::Augmenter;
pub use blur::gaussian_blur;
pub use config::AugmentConfig;
pub use crop::{CropBox, resized_crop, resized_crop_into};
pub use noise::add_gaussian_noise;
pub use photometric::{adjust_brightness, adjust_contrast, adjust_gamma, unit_pow};
pub use pixel::Pixel;
