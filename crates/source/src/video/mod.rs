mod ffmpeg;
mod local_input;
mod probe;
mod stderr_log;

pub use ffmpeg::VideoFile;
