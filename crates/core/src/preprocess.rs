use std::path::Path;

use image::imageops::{self, FilterType};
use image::{DynamicImage, GenericImageView, ImageBuffer, ImageDecoder, Luma, Rgb};
use ndarray::{Array3, Array4, ArrayView3, Axis};

use crate::resample::{self, Window, as_is, resample, resample_into, unit_byte};
use crate::scaled_decode::{DecodeSize, decode_reduced_jpeg};
use crate::{CoreError, InputSpec, Layout, ResizeMode, Result, Tensor, open_regular};

type GrayF = ImageBuffer<Luma<f32>, Vec<f32>>;
type RgbF = ImageBuffer<Rgb<f32>, Vec<f32>>;

/// The most pixels [`decode_image`] decodes, whatever the colour type: 2^26, an 8192 × 8192
/// image, above a 50-megapixel phone photo. The bound is on pixels, not bytes, because what an
/// image costs is decided after decoding: [`Preprocessor`] works in `f32`, 4 bytes per channel,
/// so a gray image is as dangerous as a colour one of the same size (a 436 KB 20000 × 20000
/// gray PNG would take 1.6 GB there). At the bound an RGB image takes ~200 MB decoded and
/// ~800 MB as `f32`.
pub const MAX_IMAGE_PIXELS: u64 = 1 << 26;

/// The longest side decoded; with [`MAX_IMAGE_PIXELS`] it only stops 1-pixel-high absurdities.
const MAX_SIDE: u32 = 1 << 16;

/// Decodes a PNG or JPEG file, sniffing the format from its bytes rather than its name.
///
/// Decoders run on untrusted files, so a decoder panic is caught and reported as a decode
/// error naming the file: bad input must never take the process down. Only a regular file is
/// read (a FIFO or device is refused, see [`open_regular`](crate::open_regular)), and an image
/// whose header declares more than [`MAX_IMAGE_PIXELS`] pixels is refused before any pixel is
/// decoded; the decoder's own allocation limit is set to what such an image needs at 16 bits
/// and 4 channels. PNG is read through a buffer, not loaded whole. The image comes back at
/// full size; [`decode_image_at_least`] decodes a large JPEG smaller when the caller will shrink
/// it anyway.
pub fn decode_image(path: &Path) -> Result<DynamicImage> {
    decode_image_at_least(path, DecodeSize::Full)
}

/// [`decode_image`] for a caller that will resize the image as `size` says: a JPEG large enough
/// is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (see [`DecodeSize`]), anything else at
/// full size. The pixel bound is on the size the file declares either way.
pub fn decode_image_at_least(path: &Path, size: DecodeSize) -> Result<DynamicImage> {
    let file = open_regular(path)?;
    decode_bounded(std::io::BufReader::new(file), size).map_err(|message| CoreError::Image {
        path: path.to_owned(),
        message,
    })
}

/// Whether [`decode_image_at_least`] may give other pixels for `path` at size `a` than at `b`:
/// a JPEG whose DCT reductions for the two differ (anything else is decoded whole either way).
/// Reads the header only; a file whose header cannot be read answers `true`, so a caller that
/// decodes again on `true` never reuses a decode it should not.
pub fn decodes_differ(path: &Path, a: DecodeSize, b: DecodeSize) -> bool {
    if a == b {
        return false;
    }
    let header = || -> Option<Option<(u32, u32)>> {
        let file = std::io::BufReader::new(open_regular(path).ok()?);
        let reader = image::ImageReader::new(file).with_guessed_format().ok()?;
        if reader.format() != Some(image::ImageFormat::Jpeg) {
            return Some(None);
        }
        reader.into_dimensions().ok().map(Some)
    };
    match header() {
        Some(None) => false,
        // Either way round: the header's sides, or swapped by an EXIF quarter turn.
        Some(Some((w, h))) => {
            a.reduction(w, h) != b.reduction(w, h) || a.reduction(h, w) != b.reduction(h, w)
        }
        None => true,
    }
}

/// [`decode_image`] for bytes already in memory (a camera's MJPEG frame): the same format
/// sniffing, pixel bound and caught panics. The error is a message for the caller to attach to
/// where the bytes came from.
pub fn decode_image_bytes(bytes: &[u8]) -> std::result::Result<DynamicImage, String> {
    decode_image_bytes_at_least(bytes, DecodeSize::Full)
}

/// [`decode_image_bytes`] at the reduced size `size` allows, as [`decode_image_at_least`].
pub fn decode_image_bytes_at_least(
    bytes: &[u8],
    size: DecodeSize,
) -> std::result::Result<DynamicImage, String> {
    decode_bounded(std::io::Cursor::new(bytes), size)
}

fn decode_bounded<R>(input: R, size: DecodeSize) -> std::result::Result<DynamicImage, String>
where
    R: std::io::BufRead + std::io::Seek,
{
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut reader = image::ImageReader::new(input)
            .with_guessed_format()
            .map_err(|e| e.to_string())?;
        if reader.format().is_none() {
            return Err("not a PNG or JPEG image".to_owned());
        }
        if reader.format() == Some(image::ImageFormat::Jpeg) && size != DecodeSize::Full {
            let mut input = reader.into_inner();
            let start = input.stream_position().map_err(|e| e.to_string())?;
            if let Some(img) = decode_reduced_jpeg(&mut input, size, MAX_IMAGE_PIXELS) {
                return Ok(img);
            }
            input
                .seek(std::io::SeekFrom::Start(start))
                .map_err(|e| e.to_string())?;
            reader = image::ImageReader::with_format(input, image::ImageFormat::Jpeg);
        }
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_IMAGE_PIXELS * 8);
        reader.limits(limits);
        let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
        // Unreadable metadata leaves the image as stored.
        let orientation = decoder
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        let (w, h) = decoder.dimensions();
        let pixels = u64::from(w) * u64::from(h);
        if pixels > MAX_IMAGE_PIXELS {
            return Err(format!(
                "{w}×{h} is {pixels} pixels, more than the {MAX_IMAGE_PIXELS} decoded at most"
            ));
        }
        let mut img = DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
        img.apply_orientation(orientation);
        Ok(img)
    }));
    match decoded {
        Ok(Ok(img)) if img.width() > 0 && img.height() > 0 => Ok(img),
        Ok(Ok(_)) => Err("image has no pixels".into()),
        Ok(Err(message)) => Err(message),
        Err(_) => Err("the decoder crashed on this file".into()),
    }
}

/// Turns decoded images into encoder input exactly as a [`ModelCard`](crate::ModelCard) says.
#[derive(Clone, Debug)]
pub struct Preprocessor {
    spec: InputSpec,
}

impl Preprocessor {
    pub fn new(spec: InputSpec) -> Self {
        Preprocessor { spec }
    }

    pub fn spec(&self) -> &InputSpec {
        &self.spec
    }

    /// What [`unit_image`](Self::unit_image) needs of a decoded image, for
    /// [`decode_image_at_least`]: it covers the input size (or is stretched to it).
    pub fn decode_size(&self) -> DecodeSize {
        DecodeSize::Cover {
            width: self.spec.width as u32,
            height: self.spec.height as u32,
        }
    }

    /// The image as CHW in [0, 1] with the card's channel count, at its own size.
    /// This is the space the trainer's augmentations work in.
    pub fn unit_full(&self, img: &DynamicImage) -> Array3<f32> {
        match self.spec.channels {
            1 => gray_to_chw(&to_gray(img)),
            _ => rgb_to_chw(&img.to_rgb32f()),
        }
    }

    /// The image as CHW in [0, 1], resized to the input size by the card's resize rule.
    pub fn unit_image(&self, img: &DynamicImage) -> Array3<f32> {
        let (w, h) = (self.spec.width as u32, self.spec.height as u32);
        let mode = self.spec.resize;
        if let Some(unit) = unit_image_8bit(img, self.spec.channels, w, h, mode, |t| t) {
            return unit;
        }
        self.unit_image_any(img)
    }

    /// [`unit_image`](Self::unit_image) rounded to 8 bits ([`unit_to_byte`]), the same bytes
    /// as rounding its result, without the `f32` image in between.
    pub fn unit_image_bytes(&self, img: &DynamicImage) -> Array3<u8> {
        let (w, h) = (self.spec.width as u32, self.spec.height as u32);
        let mode = self.spec.resize;
        if let Some(bytes) = unit_image_8bit(img, self.spec.channels, w, h, mode, unit_to_byte) {
            return bytes;
        }
        self.unit_image_any(img).mapv(unit_to_byte)
    }

    /// [`unit_image`](Self::unit_image) for any pixel type: through `image`'s `f32` conversion
    /// and resize.
    fn unit_image_any(&self, img: &DynamicImage) -> Array3<f32> {
        let (w, h) = (self.spec.width as u32, self.spec.height as u32);
        let mode = self.spec.resize;
        match self.spec.channels {
            1 => gray_to_chw(&fit(&to_gray(img), w, h, mode)),
            _ => rgb_to_chw(&fit(&img.to_rgb32f(), w, h, mode)),
        }
    }

    /// Resizes a CHW [0, 1] image of any size to the input size (what an augmentation crop
    /// hands back is resized here).
    pub fn resize_unit(&self, unit: ArrayView3<f32>) -> Array3<f32> {
        let (w, h) = (self.spec.width as u32, self.spec.height as u32);
        let (c, uh, uw) = unit.dim();
        if (uh, uw) == (h as usize, w as usize) {
            return unit.to_owned();
        }
        let mut out = Array3::zeros((c, h as usize, w as usize));
        for (src, mut plane) in unit.axis_iter(Axis(0)).zip(out.axis_iter_mut(Axis(0))) {
            // Row-major copies of whole planes (iteration order is the logical order).
            let src: Vec<f32> = src.iter().copied().collect();
            let resized = resample(&src, as_is, (uw as u32, uh as u32), 1, Window::full(w, h));
            plane
                .iter_mut()
                .zip(resized)
                .for_each(|(o, t)| *o = resample::unit(t));
        }
        out
    }

    /// Normalizes CHW [0, 1] images of the input size and stacks them in the card's layout.
    pub fn batch(&self, units: &[Array3<f32>]) -> Result<Tensor> {
        let s = &self.spec;
        let mut stacked = Array4::<f32>::zeros((units.len(), s.channels, s.height, s.width));
        for (i, unit) in units.iter().enumerate() {
            if unit.dim() != (s.channels, s.height, s.width) {
                return Err(CoreError::Shape(format!(
                    "image {i} is {:?} (CHW) but the model takes {:?}",
                    unit.dim(),
                    (s.channels, s.height, s.width)
                )));
            }
            stacked.index_axis_mut(Axis(0), i).assign(unit);
        }
        self.normalize_units(stacked)
    }

    /// [`batch`](Self::batch) of 8-bit CHW frames (each value `v` read as `v / 255`), resized
    /// to the input first where they are not its size ([`resize_unit`](Self::resize_unit)).
    /// Frames of the input size are converted straight into the batch: the same values as
    /// converting, copying and stacking them, without the three copies (BN statistics and
    /// novelty rows make a batch so from every held frame).
    pub fn batch_bytes(&self, frames: &[ArrayView3<u8>]) -> Result<Tensor> {
        let s = &self.spec;
        let shape = (s.channels, s.height, s.width);
        let mut stacked = Array4::<f32>::zeros((frames.len(), s.channels, s.height, s.width));
        for (i, (frame, mut out)) in frames.iter().zip(stacked.outer_iter_mut()).enumerate() {
            if frame.dim() == shape {
                out.zip_mut_with(frame, |o, &v| *o = v as f32 / 255.0);
                continue;
            }
            let unit = self.resize_unit(frame.mapv(|v| v as f32 / 255.0).view());
            if unit.dim() != shape {
                return Err(CoreError::Shape(format!(
                    "image {i} is {:?} (CHW) but the model takes {shape:?}",
                    unit.dim()
                )));
            }
            out.assign(&unit);
        }
        self.normalize_units(stacked)
    }

    /// Turns an `N × C × H × W` batch of [0, 1] images of the input size into the model's input:
    /// normalized by the card's mean and std, in its layout. For NCHW (the usual case) this
    /// works in place, so a caller that renders views straight into one buffer copies nothing.
    pub fn normalize_units(&self, mut units: Array4<f32>) -> Result<Tensor> {
        self.check_units(&units)?;
        if let Some(all) = units.as_slice_mut() {
            for unit in all.chunks_exact_mut(self.unit_len().max(1)) {
                self.normalize_unit(unit);
            }
        } else {
            let s = &self.spec;
            for (ch, mut plane) in units.axis_iter_mut(Axis(1)).enumerate() {
                let (mean, inv_std) = (s.mean[ch], 1.0 / s.std[ch]);
                plane.mapv_inplace(|v| (v - mean) * inv_std);
            }
        }
        Ok(self.in_layout(units))
    }

    /// [`normalize_units`](Self::normalize_units) of a batch whose images were each normalized
    /// already ([`normalize_unit`](Self::normalize_unit), on the threads that rendered them):
    /// only the card's layout is left to apply.
    pub fn stack_normalized(&self, units: Array4<f32>) -> Result<Tensor> {
        self.check_units(&units)?;
        Ok(self.in_layout(units))
    }

    /// Values in one CHW image of the input size.
    pub fn unit_len(&self) -> usize {
        self.spec.channels * self.spec.height * self.spec.width
    }

    /// Normalizes one CHW [0, 1] image of the input size (`unit_len` values) in place by the
    /// card's mean and std: the same arithmetic as [`normalize_units`](Self::normalize_units).
    #[inline]
    pub fn normalize_unit(&self, unit: &mut [f32]) {
        let s = &self.spec;
        let plane = s.height * s.width;
        for (ch, values) in unit
            .chunks_exact_mut(plane.max(1))
            .enumerate()
            .take(s.channels)
        {
            let (mean, inv_std) = (s.mean[ch], 1.0 / s.std[ch]);
            for v in values.iter_mut() {
                *v = (*v - mean) * inv_std;
            }
        }
    }

    fn check_units(&self, units: &Array4<f32>) -> Result<()> {
        let s = &self.spec;
        let (_, c, h, w) = units.dim();
        if (c, h, w) != (s.channels, s.height, s.width) {
            return Err(CoreError::Shape(format!(
                "a batch of {:?} (CHW) images but the model takes {:?}",
                (c, h, w),
                (s.channels, s.height, s.width)
            )));
        }
        Ok(())
    }

    fn in_layout(&self, units: Array4<f32>) -> Tensor {
        match self.spec.layout {
            Layout::Nchw => units.into_dyn(),
            Layout::Nhwc => units
                .permuted_axes([0, 2, 3, 1])
                .as_standard_layout()
                .into_owned()
                .into_dyn(),
        }
    }
}

/// Gray in [0, 1]: gray sources are taken as they are, colour by Rec. 601 luma
/// (0.299 R + 0.587 G + 0.114 B), the weights torchvision and PIL use.
fn to_gray(img: &DynamicImage) -> GrayF {
    if !img.color().has_color() {
        return img.to_luma32f();
    }
    let rgb = img.to_rgb32f();
    ImageBuffer::from_fn(rgb.width(), rgb.height(), |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        Luma([0.299 * r + 0.587 * g + 0.114 * b])
    })
}

fn fit<P>(
    img: &ImageBuffer<P, Vec<f32>>,
    w: u32,
    h: u32,
    mode: ResizeMode,
) -> ImageBuffer<P, Vec<f32>>
where
    P: image::Pixel<Subpixel = f32> + 'static,
{
    if img.dimensions() == (w, h) {
        return img.clone();
    }
    match mode {
        ResizeMode::Stretch => imageops::resize(img, w, h, FilterType::Triangle),
        ResizeMode::CenterCrop => {
            let (rw, rh) = center_crop_size(img.width(), img.height(), w, h);
            let resized = imageops::resize(img, rw, rh, FilterType::Triangle);
            imageops::crop_imm(&resized, (rw - w) / 2, (rh - h) / 2, w, h).to_image()
        }
    }
}

/// [`Preprocessor::unit_image`] for the 8-bit RGB and gray images that decoders return: the
/// same numbers as converting to `f32` and resizing with `image` (see [`resample`]), without
/// converting the whole frame first or resizing what the centre crop drops. `None` for other
/// pixel types, which take the general path.
fn unit_image_8bit<O: Copy + Default>(
    img: &DynamicImage,
    channels: usize,
    w: u32,
    h: u32,
    mode: ResizeMode,
    store: impl Fn(f32) -> O + Copy,
) -> Option<Array3<O>> {
    let (iw, ih) = img.dimensions();
    let window = if (iw, ih) == (w, h) {
        Window::full(w, h)
    } else {
        match mode {
            ResizeMode::Stretch => Window::full(w, h),
            ResizeMode::CenterCrop => {
                let (rw, rh) = center_crop_size(iw, ih, w, h);
                Window {
                    width: rw,
                    height: rh,
                    x: (rw - w) / 2,
                    y: (rh - h) / 2,
                    w,
                    h,
                }
            }
        }
    };
    // 8-bit samples go into the resize as they are, each converted as `image` converts it
    // (`unit_byte`) when its row is first read: no `f32` copy of the whole frame. The resize
    // writes each plane itself, clamped (`unit`) and stored by `store`.
    let (hu, wu) = (h as usize, w as usize);
    let store = move |t: f32| store(resample::unit(t));
    let mut out = Array3::default((channels, hu, wu));
    let planes = out.as_slice_mut()?;
    match (img, channels) {
        (DynamicImage::ImageRgb8(rgb), 3) => resample_into::<true, true, _, _>(
            rgb.as_raw(),
            unit_byte,
            (iw, ih),
            3,
            window,
            planes,
            store,
        ),
        (DynamicImage::ImageLuma8(gray), 1) => resample_into::<true, true, _, _>(
            gray.as_raw(),
            unit_byte,
            (iw, ih),
            1,
            window,
            planes,
            store,
        ),
        (DynamicImage::ImageRgb8(rgb), 1) => {
            let lut = unit_lut();
            let luma: Vec<f32> = rgb
                .as_raw()
                .chunks_exact(3)
                .map(|p| {
                    let (r, g, b) = (lut[p[0] as usize], lut[p[1] as usize], lut[p[2] as usize]);
                    0.299 * r + 0.587 * g + 0.114 * b
                })
                .collect();
            resample_into::<true, true, _, _>(&luma, as_is, (iw, ih), 1, window, planes, store)
        }
        _ => return None,
    };
    Some(out)
}

/// A sample in [0, 1] as a byte: clamped, scaled by 255 and rounded half up (NaN gives 0).
#[inline(always)]
#[allow(clippy::manual_clamp)] // NaN to 0, and it vectorizes: see below
pub fn unit_to_byte(v: f32) -> u8 {
    // `max` then `min` takes NaN to 0 and vectorizes, as `clamp` did not; the same value
    // otherwise. In [0.5, 255.5] the conversion is exact truncation.
    let v = v.max(0.0).min(1.0) * 255.0 + 0.5;
    // SAFETY: `v` is finite and in [0.5, 255.5], where `to_int_unchecked` is defined.
    let whole: i32 = unsafe { v.to_int_unchecked() };
    whole as u8
}

/// What `image` makes of each 8-bit sample when converting to `f32` (`to_rgb32f`), read from
/// `image` itself once so the fast path cannot drift from it.
fn unit_lut() -> &'static [f32; 256] {
    static LUT: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    LUT.get_or_init(|| {
        let ramp = ImageBuffer::from_fn(256, 1, |x, _| Luma([x as u8]));
        let unit = DynamicImage::ImageLuma8(ramp).to_luma32f();
        let mut lut = [0.0; 256];
        lut.iter_mut().zip(unit.as_raw()).for_each(|(l, &v)| *l = v);
        lut
    })
}

/// The size a `ResizeMode::CenterCrop` resizes to before cropping `w × h` out of it.
fn center_crop_size(iw: u32, ih: u32, w: u32, h: u32) -> (u32, u32) {
    let scale = f64::max(w as f64 / iw as f64, h as f64 / ih as f64);
    let rw = ((iw as f64 * scale).round() as u32).max(w);
    let rh = ((ih as f64 * scale).round() as u32).max(h);
    (rw, rh)
}

fn gray_to_chw(img: &GrayF) -> Array3<f32> {
    let (w, h) = img.dimensions();
    Array3::from_shape_vec((1, h as usize, w as usize), img.as_raw().clone())
        .expect("buffer length is width*height")
}

fn rgb_to_chw(img: &RgbF) -> Array3<f32> {
    let (w, h) = img.dimensions();
    let hwc = ArrayView3::from_shape((h as usize, w as usize, 3), img.as_raw())
        .expect("buffer length is width*height*3");
    hwc.permuted_axes([2, 0, 1])
        .as_standard_layout()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `resize_unit` equals resizing each channel as an image (`imageops::resize`, Triangle)
    /// read pixel by pixel, on a strided (non-contiguous) view.
    #[test]
    fn resize_unit_resizes_each_channel_plane() {
        let pre = Preprocessor::new(spec(3, Layout::Nchw, ResizeMode::Stretch));
        let (h, w) = (pre.spec().height, pre.spec().width);
        let hwc = Array3::from_shape_fn((45, 70, 3), |(y, x, c)| {
            ((y * 3 + x * 5 + c * 11) % 17) as f32 / 16.0
        });
        let unit = hwc.view().permuted_axes([2, 0, 1]);
        let got = pre.resize_unit(unit);
        for c in 0..3 {
            let plane: GrayF =
                ImageBuffer::from_fn(70, 45, |x, y| Luma([unit[[c, y as usize, x as usize]]]));
            let want = imageops::resize(&plane, w as u32, h as u32, FilterType::Triangle);
            for y in 0..h {
                for x in 0..w {
                    assert_eq!(got[[c, y, x]], want.get_pixel(x as u32, y as u32)[0]);
                }
            }
        }
    }

    /// The 8-bit fast path gives the general path's numbers exactly, for every pairing of RGB or
    /// gray source with an RGB or gray card, both resize rules, shrinking, growing and cropping.
    #[test]
    fn unit_image_of_8_bit_images_equals_the_general_path() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut byte = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        };
        for (iw, ih) in [(97, 61), (40, 90), (6, 4), (3, 2), (13, 13)] {
            let rgb = ImageBuffer::from_fn(iw, ih, |_, _| Rgb([byte(), byte(), byte()]));
            let gray = ImageBuffer::from_fn(iw, ih, |_, _| Luma([byte()]));
            for img in [DynamicImage::ImageRgb8(rgb), DynamicImage::ImageLuma8(gray)] {
                for channels in [1, 3] {
                    for mode in [ResizeMode::Stretch, ResizeMode::CenterCrop] {
                        let p = Preprocessor::new(spec(channels, Layout::Nchw, mode));
                        let (w, h) = (p.spec().width as u32, p.spec().height as u32);
                        let want = p.unit_image_any(&img);
                        let fast = unit_image_8bit(&img, channels, w, h, mode, |t| t);
                        // A gray frame for an RGB card goes through `image`'s colour conversion.
                        if img.color().has_color() || channels == 1 {
                            let fast = fast.unwrap();
                            assert_eq!(
                                fast,
                                want,
                                "{:?} {iw}×{ih} → {channels} {mode:?}",
                                img.color()
                            );
                        } else {
                            assert!(fast.is_none());
                        }
                    }
                }
            }
        }
    }

    /// The fast path converts each byte as `v / 255` while resizing: that is `image`'s own
    /// conversion for every byte, and camera-sized frames cropped to a 224×224 input (wide
    /// footprints, a ring of rows, pixels summed four at a time) still equal the general path.
    #[test]
    fn bytes_convert_as_image_converts_them_at_camera_sizes_too() {
        for (v, &want) in unit_lut().iter().enumerate() {
            assert_eq!(unit_byte(v as u8).to_bits(), want.to_bits(), "{v}");
        }
        let rgb = ImageBuffer::from_fn(771, 577, |x, y| {
            Rgb([
                (x * 7 % 256) as u8,
                (y * 3 % 256) as u8,
                ((x ^ y) % 256) as u8,
            ])
        });
        let img = DynamicImage::ImageRgb8(rgb);
        for mode in [ResizeMode::Stretch, ResizeMode::CenterCrop] {
            let p = Preprocessor::new(InputSpec {
                height: 224,
                width: 224,
                ..spec(3, Layout::Nchw, mode)
            });
            let fast = unit_image_8bit(&img, 3, 224, 224, mode, |t| t).unwrap();
            assert_eq!(fast, p.unit_image_any(&img), "{mode:?}");
            // Rounded in the resize: the bytes of rounding the `f32` image.
            let rounded = fast.mapv(|v| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8);
            assert_eq!(p.unit_image_bytes(&img), rounded, "{mode:?}");
        }
    }

    fn spec(channels: usize, layout: Layout, resize: ResizeMode) -> InputSpec {
        InputSpec {
            name: "input".into(),
            layout,
            height: 4,
            width: 6,
            channels,
            mean: vec![0.5; channels],
            std: vec![0.25; channels],
            resize,
        }
    }

    /// 8-bit frames batched straight are the bits of converting, resizing and batching them:
    /// frames of the input size and others, NCHW and NHWC.
    #[test]
    fn batch_bytes_equals_converting_then_batching() {
        for layout in [Layout::Nchw, Layout::Nhwc] {
            let p = Preprocessor::new(spec(3, layout, ResizeMode::Stretch));
            let frames = [
                Array3::from_shape_fn((3, 4, 6), |(c, y, x)| (c * 71 + y * 29 + x * 13) as u8),
                Array3::from_shape_fn((3, 9, 5), |(c, y, x)| (c * 37 + y * 11 + x * 53) as u8),
                Array3::from_shape_fn((3, 4, 6), |(c, y, x)| (255 - c * 3 - y * x) as u8),
            ];
            let views: Vec<_> = frames.iter().map(|f| f.view()).collect();
            let units: Vec<_> = frames
                .iter()
                .map(|f| p.resize_unit(f.mapv(|v| v as f32 / 255.0).view()))
                .collect();
            let (got, want) = (p.batch_bytes(&views).unwrap(), p.batch(&units).unwrap());
            let bits = |t: &Tensor| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(got.shape(), want.shape());
            assert_eq!(bits(&got), bits(&want), "{layout:?}");
        }
        let p = Preprocessor::new(spec(1, Layout::Nchw, ResizeMode::Stretch));
        let rgb = Array3::<u8>::zeros((3, 4, 6));
        assert!(p.batch_bytes(&[rgb.view()]).is_err());
    }

    #[test]
    fn rgb_to_gray_uses_rec601_luma_and_normalizes() {
        let img = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(6, 4, Rgb([255u8, 0, 0])));
        let p = Preprocessor::new(spec(1, Layout::Nchw, ResizeMode::Stretch));
        let unit = p.unit_image(&img);
        assert!((unit[[0, 2, 3]] - 0.299).abs() < 1e-6);
        let batch = p.batch(&[unit]).unwrap();
        assert_eq!(batch.shape(), &[1, 1, 4, 6]);
        assert!((batch[[0, 0, 1, 1]] - (0.299 - 0.5) / 0.25).abs() < 1e-5);
    }

    #[test]
    fn nhwc_puts_channels_last() {
        let img = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(6, 4, Rgb([0u8, 255, 0])));
        let p = Preprocessor::new(spec(3, Layout::Nhwc, ResizeMode::Stretch));
        let batch = p.batch(&[p.unit_image(&img)]).unwrap();
        assert_eq!(batch.shape(), &[1, 4, 6, 3]);
        assert_eq!(batch[[0, 3, 5, 1]], 2.0);
        assert_eq!(batch[[0, 3, 5, 0]], -2.0);
    }

    #[test]
    fn center_crop_keeps_the_centre() {
        // 12x4 image: left third black, middle white, right third black. Center-crop to 6x4
        // after resizing the short side (already 4) keeps the middle half.
        let img = DynamicImage::ImageLuma8(ImageBuffer::from_fn(12, 4, |x, _| {
            Luma([if (3..9).contains(&x) { 255u8 } else { 0 }])
        }));
        let p = Preprocessor::new(spec(1, Layout::Nchw, ResizeMode::CenterCrop));
        let unit = p.unit_image(&img);
        assert_eq!(unit.dim(), (1, 4, 6));
        assert!(unit.iter().all(|&v| v == 1.0), "{unit:?}");
    }

    #[test]
    fn wrong_size_unit_is_a_shape_error() {
        let p = Preprocessor::new(spec(1, Layout::Nchw, ResizeMode::Stretch));
        assert!(p.batch(&[Array3::zeros((1, 5, 5))]).is_err());
    }

    /// A valid `width × height` PNG of zeros, written row by row (it compresses to little).
    fn zero_png(path: &Path, width: u32, height: u32, color: png::ColorType, depth: png::BitDepth) {
        use std::io::Write;
        let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        let mut encoder = png::Encoder::new(file, width, height);
        encoder.set_color(color);
        encoder.set_depth(depth);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().unwrap();
        let row_bytes = (width as usize * color.samples() * depth as usize).div_ceil(8);
        let row = vec![0u8; row_bytes];
        let mut stream = writer.stream_writer().unwrap();
        for _ in 0..height {
            stream.write_all(&row).unwrap();
        }
        stream.finish().unwrap();
    }

    /// The error for an image that must not decode (not `unwrap_err`: a decoded image would be
    /// printed whole).
    fn refused(path: &Path) -> String {
        match decode_image(path) {
            Ok(img) => panic!(
                "{}: decoded {}×{}",
                path.display(),
                img.width(),
                img.height()
            ),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn images_over_the_pixel_bound_are_refused_for_every_colour_type() {
        let dir = tempfile::tempdir().unwrap();
        // The case: 20000 × 20000 gray, 8 bits — under the decoder's default byte
        // limit (400 MB of 512 MB), so it used to decode and take 1.6 GB as f32.
        let gray = dir.path().join("gray.png");
        zero_png(
            &gray,
            20000,
            20000,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
        );
        assert!(
            std::fs::metadata(&gray).unwrap().len() < 4 << 20,
            "the fixture is small"
        );
        let start = std::time::Instant::now();
        let err = refused(&gray);
        assert!(
            err.contains("gray.png") && err.contains("20000×20000") && err.contains("pixels"),
            "{err}"
        );
        // Refused from the header: decoding 400 MB of rows would take far longer.
        assert!(start.elapsed().as_secs_f64() < 1.0, "{:?}", start.elapsed());
        // Every colour type and depth is held to the same pixel bound, just above it too.
        let side = 8193; // 8193² > 2^26
        for (name, color, depth) in [
            ("gray1.png", png::ColorType::Grayscale, png::BitDepth::One),
            ("rgb.png", png::ColorType::Rgb, png::BitDepth::Eight),
            ("rgba16.png", png::ColorType::Rgba, png::BitDepth::Sixteen),
        ] {
            let path = dir.path().join(name);
            zero_png(&path, side, side, color, depth);
            let err = refused(&path);
            assert!(err.contains("8193×8193"), "{name}: {err}");
        }
        // An image at a usual size still decodes.
        let small = dir.path().join("small.png");
        zero_png(
            &small,
            640,
            480,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
        );
        assert_eq!(decode_image(&small).unwrap().width(), 640);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("frame.png");
        crate::regular_file::tests::mkfifo(&fifo);
        let err = decode_image(&fifo).unwrap_err().to_string();
        assert!(err.contains("FIFO"), "{err}");
    }

    #[test]
    fn garbage_bytes_are_a_decode_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.png");
        std::fs::write(&path, b"this is not an image").unwrap();
        let err = decode_image(&path).unwrap_err().to_string();
        assert!(err.contains("notes.png"), "{err}");
    }
}
