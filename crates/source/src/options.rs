use std::path::PathBuf;
use std::time::Duration;

use edge_ssl_core::DecodeSize;

use crate::{Result, SourceError};

/// How frames are read and which of them are kept. Build with
/// `SourceOptions::default().with_*(…)`; the defaults read every frame of a finite source.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceOptions {
    /// Keep at most this many frames per second of source time (by timestamp, not wall clock).
    pub fps: Option<f64>,
    /// Skip a frame whose 16×16 gray thumbnail differs from the last kept frame's by less than
    /// this mean absolute difference (0–255 scale). 2–4 removes a static scene's sensor noise;
    /// see [`Dedup`](crate::Dedup).
    pub dedup_threshold: Option<f32>,
    /// Stop after this many kept frames; needed for a camera, which never ends by itself.
    pub max_frames: Option<u64>,
    /// Also write every kept frame into a bounded on-disk store.
    pub store: Option<StoreOptions>,
    /// Fail on the first frame that does not decode instead of skipping and counting it.
    pub strict: bool,
    /// Start a finite source (folder, video) again when it ends; see [`Looped`](crate::Looped).
    /// `max_frames` then counts over all passes.
    pub looping: bool,
    /// Frames per second a folder of images pretends to have, since files carry no clock:
    /// with the default 1.0, `fps = 0.5` keeps every second image.
    pub image_rate: f64,
    /// The ffmpeg and ffprobe programs that decode video files (looked up on `PATH` by default).
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    pub camera: CameraOptions,
    /// What the frames of an image folder or an MJPEG camera are decoded for: a JPEG larger
    /// than that needs is decoded at 1/2, 1/4 or 1/8 scale ([`DecodeSize`]; default: full size).
    pub decode_size: DecodeSize,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            fps: None,
            dedup_threshold: None,
            max_frames: None,
            store: None,
            strict: false,
            looping: false,
            image_rate: 1.0,
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            camera: CameraOptions::default(),
            decode_size: DecodeSize::Full,
        }
    }
}

impl SourceOptions {
    pub fn with_fps(mut self, fps: Option<f64>) -> Self {
        self.fps = fps;
        self
    }
    pub fn with_dedup_threshold(mut self, threshold: Option<f32>) -> Self {
        self.dedup_threshold = threshold;
        self
    }
    pub fn with_max_frames(mut self, max_frames: Option<u64>) -> Self {
        self.max_frames = max_frames;
        self
    }
    pub fn with_store(mut self, store: Option<StoreOptions>) -> Self {
        self.store = store;
        self
    }
    pub fn with_looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }

    pub fn with_strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }
    pub fn with_image_rate(mut self, rate: f64) -> Self {
        self.image_rate = rate;
        self
    }
    /// Use this ffmpeg; its ffprobe is taken from the same directory.
    pub fn with_ffmpeg(mut self, ffmpeg: impl Into<PathBuf>) -> Self {
        self.ffmpeg = ffmpeg.into();
        self.ffprobe = match self.ffmpeg.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join("ffprobe"),
            _ => "ffprobe".into(),
        };
        self
    }
    pub fn with_camera(mut self, camera: CameraOptions) -> Self {
        self.camera = camera;
        self
    }
    /// Decode image files no larger than `size` needs (for a model's input:
    /// [`Preprocessor::decode_size`](edge_ssl_core::Preprocessor::decode_size)).
    pub fn with_decode_size(mut self, size: DecodeSize) -> Self {
        self.decode_size = size;
        self
    }

    /// Rejects values that would make sampling meaningless, before anything is opened.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SourceError::Option(m));
        if let Some(fps) = self.fps
            && !(fps.is_finite() && fps > 0.0)
        {
            return bad(format!("fps must be a positive number, got {fps}"));
        }
        if let Some(t) = self.dedup_threshold
            && !(t.is_finite() && t >= 0.0)
        {
            return bad(format!("dedup threshold must be 0 or more, got {t}"));
        }
        if self.max_frames == Some(0) {
            return bad("max frames must be at least 1".into());
        }
        if !(self.image_rate.is_finite() && self.image_rate > 0.0) {
            return bad(format!(
                "image rate must be positive, got {}",
                self.image_rate
            ));
        }
        if let Some(store) = &self.store
            && (store.max_frames == Some(0) || store.max_bytes == Some(0))
        {
            return bad("frame store caps must be at least 1".into());
        }
        if self.camera.buffers == 0 || self.camera.width == 0 || self.camera.height == 0 {
            return bad("camera size and buffer count must be positive".into());
        }
        Ok(())
    }
}

/// The pixel format asked of a V4L2 camera first; the other one is the fallback.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CameraFormat {
    /// Compressed: USB cameras deliver their larger sizes at full rate only this way.
    #[default]
    Mjpeg,
    /// Uncompressed 4:2:2: no decoding cost and no JPEG artifacts, but USB 2 bandwidth limits it
    /// to small sizes or low rates.
    Yuyv,
}

/// V4L2 capture settings. The driver may grant something else (a nearby size, another rate);
/// what it granted is in [`SourceInfo`](crate::SourceInfo).
#[derive(Clone, Debug, PartialEq)]
pub struct CameraOptions {
    pub width: u32,
    pub height: u32,
    pub format: CameraFormat,
    /// Frame rate to request from the driver; `None` keeps the driver's default.
    pub fps: Option<u32>,
    /// Memory-mapped buffers in the driver's queue; more tolerate a slow consumer longer.
    pub buffers: u32,
    /// How long to wait for a frame before deciding the camera is stuck.
    pub timeout: Duration,
}

impl Default for CameraOptions {
    fn default() -> Self {
        CameraOptions {
            width: 640,
            height: 480,
            format: CameraFormat::Mjpeg,
            fps: None,
            buffers: 4,
            timeout: Duration::from_secs(5),
        }
    }
}

impl CameraOptions {
    pub fn with_size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }
    pub fn with_format(mut self, format: CameraFormat) -> Self {
        self.format = format;
        self
    }
    pub fn with_fps(mut self, fps: Option<u32>) -> Self {
        self.fps = fps;
        self
    }
    pub fn with_buffers(mut self, buffers: u32) -> Self {
        self.buffers = buffers;
        self
    }
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Where and how much of a camera's recent history to keep on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    pub dir: PathBuf,
    /// Evict the oldest frames beyond this many files.
    pub max_frames: Option<usize>,
    /// Evict the oldest frames beyond this many bytes of PNG.
    pub max_bytes: Option<u64>,
}

impl StoreOptions {
    /// A store in `dir` capped at 1000 frames and 512 MiB: bounded by default, because it is
    /// meant to run unattended for weeks on a device with a small SD card.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StoreOptions {
            dir: dir.into(),
            max_frames: Some(1000),
            max_bytes: Some(512 << 20),
        }
    }
    pub fn with_max_frames(mut self, max_frames: Option<usize>) -> Self {
        self.max_frames = max_frames;
        self
    }
    pub fn with_max_bytes(mut self, max_bytes: Option<u64>) -> Self {
        self.max_bytes = max_bytes;
        self
    }
}
