mod ffmpeg;
mod probe;
mod stderr_log;

pub use ffmpeg::VideoFile;
