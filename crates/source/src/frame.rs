use image::DynamicImage;

use crate::{Result, SourceInfo, SourceStats};

/// One decoded picture and where it came from.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Position in the underlying source — the file's place in the sorted listing, the video's
    /// frame number, the camera's capture count — including frames a sampler skipped, so
    /// `origin` and `index` agree (`vtest.avi#123` has index 123).
    pub index: u64,
    /// Seconds since the source's first frame: the container's clock for a video, the driver's
    /// capture time for a camera, `index / image_rate` for a folder (which has no clock).
    pub timestamp: f64,
    /// Where to find this frame again: a file path, `video.avi#123` or `/dev/video0#57`, as one
    /// printable line in the reversible form of [`edge_ssl_core::escape_path`] (`\` as `\\`,
    /// control characters escaped, bytes of a file name that are not UTF-8 as `\xHH`);
    /// [`edge_ssl_core::unescape_row`] gives back the name's exact bytes.
    pub origin: String,
    pub image: DynamicImage,
}

/// Anything that yields frames one at a time: an image folder, a video file, a camera, or a
/// sampler wrapped around one of those.
///
/// `next_frame` returns `Ok(None)` at the end of a finite source and never again produces a frame
/// after that. An `Err` is fatal for the source (it could not be opened, the camera vanished);
/// frames that merely fail to decode are skipped and counted in [`stats`](FrameSource::stats).
///
/// Sources are `Send` so the CLI can decode on one thread while the encoder runs on another.
/// Dropping a source releases what it holds: the ffmpeg child is killed, the camera stops
/// streaming and its buffers are unmapped.
pub trait FrameSource: Send {
    fn next_frame(&mut self) -> Result<Option<Frame>>;

    /// What the source is, as far as it was known when it was opened.
    fn info(&self) -> &SourceInfo;

    /// Counters and warnings so far; call it again at the end for the final numbers.
    fn stats(&self) -> SourceStats;
}

impl<S: FrameSource + ?Sized> FrameSource for Box<S> {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        (**self).next_frame()
    }
    fn info(&self) -> &SourceInfo {
        (**self).info()
    }
    fn stats(&self) -> SourceStats {
        (**self).stats()
    }
}

/// Iterates a source: `for frame in Frames::new(&mut source) { let frame = frame?; }`.
///
/// It stops after the first error, so a `?` in the loop body and a `break` on error behave alike.
pub struct Frames<'a, S: FrameSource + ?Sized> {
    source: &'a mut S,
    done: bool,
}

impl<'a, S: FrameSource + ?Sized> Frames<'a, S> {
    pub fn new(source: &'a mut S) -> Self {
        Frames {
            source,
            done: false,
        }
    }
}

impl<S: FrameSource + ?Sized> Iterator for Frames<'_, S> {
    type Item = Result<Frame>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.source.next_frame().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}
