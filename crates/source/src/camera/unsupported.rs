use std::path::Path;

use crate::{Frame, FrameSource, Result, SourceError, SourceInfo, SourceOptions, SourceStats};

/// V4L2 exists only on Linux; elsewhere opening a camera is a clear error, so callers need no
/// `cfg` of their own.
pub enum Camera {}

impl Camera {
    pub fn open(device: &Path, _options: &SourceOptions) -> Result<Self> {
        Err(SourceError::camera(
            device,
            "V4L2 cameras are only supported on Linux",
        ))
    }
}

impl FrameSource for Camera {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        match *self {}
    }
    fn info(&self) -> &SourceInfo {
        match *self {}
    }
    fn stats(&self) -> SourceStats {
        match *self {}
    }
}
