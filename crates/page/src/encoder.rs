//! JPEG encoding off the inference thread. The loop offers each frame; a frame arrives here only
//! if the last one is done and the page's frame rate allows it, otherwise only its decision is
//! published and its pixels are dropped. Encoding a VGA frame takes milliseconds; the loop pays
//! a channel `try_send` and nothing else.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use image::{DynamicImage, RgbImage, codecs::jpeg::JpegEncoder};

use crate::error::{PageError, Result};
use crate::prediction::{FrameRecord, Prediction};
use crate::state::LiveState;

/// How frames are turned into the JPEGs the page serves.
#[derive(Clone, Copy, Debug)]
pub struct EncoderOptions {
    max_fps: f32,
    max_width: u32,
    quality: u8,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            max_fps: 10.0,
            max_width: 800,
            quality: 80,
        }
    }
}

impl EncoderOptions {
    /// Frames per second encoded at most; the rest only update the numbers.
    #[must_use]
    pub fn with_max_fps(mut self, fps: f32) -> Self {
        self.max_fps = if fps.is_finite() { fps.max(0.1) } else { 10.0 };
        self
    }
    /// Wider frames are scaled down to this width first.
    #[must_use]
    pub fn with_max_width(mut self, width: u32) -> Self {
        self.max_width = width.clamp(16, 4096);
        self
    }
    #[must_use]
    pub fn with_quality(mut self, quality: u8) -> Self {
        self.quality = quality.clamp(10, 100);
        self
    }
}

/// The loop's handle: [`offer`](FrameEncoder::offer) each frame with its decision.
pub struct FrameEncoder {
    state: Arc<LiveState>,
    tx: Option<SyncSender<(Prediction, DynamicImage)>>,
    thread: Option<JoinHandle<()>>,
    interval: Duration,
    last_sent: Option<Instant>,
}

impl FrameEncoder {
    pub fn spawn(state: Arc<LiveState>, options: EncoderOptions) -> Result<Self> {
        let (tx, rx) = sync_channel::<(Prediction, DynamicImage)>(1);
        let worker_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("page-jpeg".into())
            .spawn(move || {
                crate::priority::lower();
                for (prediction, image) in rx {
                    match encode(image, options) {
                        Some(jpeg) => worker_state.put_frame(FrameRecord {
                            prediction,
                            jpeg: jpeg.into(),
                        }),
                        None => worker_state.note_dropped(),
                    }
                }
            })
            .map_err(|source| PageError::Spawn {
                what: "JPEG encoder",
                source,
            })?;
        Ok(FrameEncoder {
            state,
            tx: Some(tx),
            thread: Some(thread),
            interval: Duration::from_secs_f32(1.0 / options.max_fps),
            last_sent: None,
        })
    }

    /// Publishes `prediction` now and hands `image` to the encoder if it is free and the frame
    /// rate allows; never waits.
    pub fn offer(&mut self, prediction: Prediction, image: DynamicImage) {
        self.state.publish(prediction.clone());
        let now = Instant::now();
        if self
            .last_sent
            .is_some_and(|t| now.duration_since(t) < self.interval)
        {
            self.state.note_dropped();
            return;
        }
        let Some(tx) = &self.tx else { return };
        match tx.try_send((prediction, image)) {
            Ok(()) => self.last_sent = Some(now),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.state.note_dropped(),
        }
    }
}

impl Drop for FrameEncoder {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `None` only if the image has no pixels or the encoder fails (it writes to memory).
fn encode(image: DynamicImage, options: EncoderOptions) -> Option<Vec<u8>> {
    if image.width() == 0 || image.height() == 0 {
        return None;
    }
    let rgb: RgbImage = if image.width() > options.max_width {
        let h = (u64::from(image.height()) * u64::from(options.max_width)
            / u64::from(image.width()))
        .max(1) as u32;
        image::imageops::thumbnail(&image.into_rgb8(), options.max_width, h)
    } else {
        image.into_rgb8()
    };
    let mut out = Vec::with_capacity(64 * 1024);
    JpegEncoder::new_with_quality(&mut out, options.quality)
        .encode_image(&rgb)
        .ok()?;
    Some(out)
}
