use std::path::PathBuf;

use edge_ssl_core::CoreError;

/// Everything that can stop a source. Each variant names the file, folder or device it is about,
/// because the CLI prints it as the one line a user reads.
///
/// Problems that only cost some frames (a corrupt image in a folder, a damaged packet in a video,
/// a garbled MJPEG frame from a USB camera) are *not* errors: they are counted in
/// [`SourceStats`](crate::SourceStats) and described in its warnings, and the source goes on.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Core(#[from] CoreError),

    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{spec}: no such file, folder or camera")]
    NotFound { spec: String },

    #[error("{path}: no frames: {reason}")]
    Empty { path: PathBuf, reason: String },

    #[error(
        "`{program}` is needed to decode video files but could not be started ({message}); \
         install it (Debian/Ubuntu: apt-get install ffmpeg) or point SourceOptions::with_ffmpeg at it"
    )]
    FfmpegMissing { program: PathBuf, message: String },

    #[error("{path}: cannot decode video: {message}")]
    Video { path: PathBuf, message: String },

    #[error("{device}: {message}")]
    Camera { device: PathBuf, message: String },

    /// Only with [`SourceOptions::with_strict`](crate::SourceOptions::with_strict): a frame that
    /// does not decode stops the source instead of being skipped and counted.
    #[error("{origin}: cannot decode frame: {message}")]
    Frame { origin: String, message: String },

    #[error("invalid source option: {0}")]
    Option(String),
}

impl SourceError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SourceError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn camera(device: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        SourceError::Camera {
            device: device.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = SourceError> = std::result::Result<T, E>;
