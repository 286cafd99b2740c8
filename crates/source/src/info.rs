use std::fmt;

use serde::Serialize;

/// The kinds of source [`open_source`](crate::open_source) can pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// One image file or a folder of them.
    Images,
    Video,
    Camera,
}

/// What is known about a source when it is opened; every field but `kind` and `spec` may be
/// unknown (a folder of mixed sizes has no single size, a camera no frame count).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceInfo {
    pub kind: SourceKind,
    /// The path or device the source was opened from, as given.
    pub spec: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Nominal frames per second (container rate, or what the camera driver granted).
    pub fps: Option<f64>,
    /// Frames the container or folder promises; a truncated file delivers fewer.
    pub frame_count: Option<u64>,
    /// Codec, camera name and pixel format, or similar; for people, not for parsing.
    pub details: String,
}

impl SourceInfo {
    pub(crate) fn new(kind: SourceKind, spec: impl Into<String>) -> Self {
        SourceInfo {
            kind,
            spec: spec.into(),
            width: None,
            height: None,
            fps: None,
            frame_count: None,
            details: String::new(),
        }
    }
}

impl fmt::Display for SourceInfo {
    /// `vtest.avi: video msmpeg4v3, 768x576, 10 fps, 795 frames`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            SourceKind::Images => "images",
            SourceKind::Video => "video",
            SourceKind::Camera => "camera",
        };
        write!(f, "{}: {kind}", self.spec)?;
        if !self.details.is_empty() {
            write!(f, " {}", self.details)?;
        }
        if let (Some(w), Some(h)) = (self.width, self.height) {
            write!(f, ", {w}x{h}")?;
        }
        if let Some(fps) = self.fps {
            write!(f, ", {} fps", (fps * 100.0).round() / 100.0)?;
        }
        if let Some(n) = self.frame_count {
            write!(f, ", {n} frames")?;
        }
        Ok(())
    }
}
