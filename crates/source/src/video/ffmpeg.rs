use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use image::{DynamicImage, RgbImage};

use super::local_input::{LOCAL_ONLY, local_input};
use super::probe::{Probe, probe, spawn_error};
use super::stderr_log::{StderrLog, drain};
use crate::{
    Frame, FrameSource, Result, SourceError, SourceInfo, SourceKind, SourceOptions, SourceStats,
};

/// A video file decoded by an `ffmpeg` child process that writes raw RGB24 frames to a pipe.
///
/// Only a local regular file is handed to ffmpeg and ffprobe, as a `file:` URL with every other
/// protocol disallowed: a path that begins `http:` is a local path here, never a download.
///
/// ffprobe reads the size, rate and announced frame count first, so every frame is exactly
/// `width × height × 3` bytes on the pipe. A file that ends early or has damaged packets yields
/// what ffmpeg could decode, with the damage counted and described in [`SourceStats`]; a file
/// that yields nothing is an error. Dropping the source kills the child, so stopping after
/// `max_frames` or on Ctrl-C never leaves an ffmpeg decoding a long video in the background.
pub struct VideoFile {
    path: PathBuf,
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<()>>,
    log: Arc<Mutex<StderrLog>>,
    probe: Probe,
    next_index: u64,
    finished: bool,
    info: SourceInfo,
    stats: SourceStats,
}

impl VideoFile {
    pub fn open(path: &Path, options: &SourceOptions) -> Result<Self> {
        let input = local_input(path)?;
        let probe = probe(&options.ffprobe, path, &input)?;
        let mut command = Command::new(&options.ffmpeg);
        command
            .args(["-nostdin", "-hide_banner", "-nostats", "-v", "error"])
            .args(LOCAL_ONLY)
            .arg("-i")
            .arg(&input)
            .args(["-map", "0:v:0", "-an", "-sn", "-dn"]);
        // Frame i is what is on screen at i / rate: AVI "dropped" frames (empty packets that mean
        // "show the last one again"; most of tree.avi) come out as copies, so timestamps from the
        // index are exact and fps sampling follows the real clock. Dedup removes the copies.
        // `-r` does this on every ffmpeg release; `-vsync`/`-fps_mode` were renamed between them.
        if let Some(rate) = &probe.rate {
            command.args(["-r", rate]);
        }
        let mut child = command
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error(&options.ffmpeg, e))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        widen_pipe(&stdout);
        let (log, stderr) = drain(child.stderr.take().expect("stderr is piped"));
        let mut info = SourceInfo::new(SourceKind::Video, path.display().to_string());
        info.width = Some(probe.width);
        info.height = Some(probe.height);
        info.fps = probe.fps;
        info.frame_count = probe.frame_count;
        info.details = probe.codec.clone();
        Ok(VideoFile {
            path: path.to_owned(),
            child,
            stdout,
            stderr: Some(stderr),
            log,
            probe,
            next_index: 0,
            finished: false,
            info,
            stats: SourceStats::default(),
        })
    }

    /// Reads one frame's bytes, or fewer at the end of the stream.
    fn read_frame(&mut self, len: usize) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(len);
        // `take` + `read_to_end` fills the buffer without zeroing it first, retries on EINTR and
        // stops at end of stream.
        (&mut self.stdout)
            .take(len as u64)
            .read_to_end(&mut buf)
            .map_err(|e| SourceError::io(&self.path, e))?;
        Ok(buf)
    }

    /// Waits for ffmpeg, turns what it said into counts and warnings, and decides whether the
    /// file gave anything at all.
    fn finish(&mut self, partial_bytes: usize) -> Result<()> {
        self.finished = true;
        let status = self
            .child
            .wait()
            .map_err(|e| SourceError::io(&self.path, e))?;
        if let Some(handle) = self.stderr.take() {
            let _ = handle.join();
        }
        let log = std::mem::take(&mut *self.log.lock().unwrap_or_else(|e| e.into_inner()));
        self.stats.decode_errors += log.messages;
        let first = log.first.first().cloned().unwrap_or_default();
        if self.stats.read == 0 {
            let message = if !first.is_empty() {
                first
            } else if !status.success() {
                format!("ffmpeg failed ({status})")
            } else {
                "the video stream has no frames".into()
            };
            return Err(SourceError::Video {
                path: self.path.clone(),
                message,
            });
        }
        if partial_bytes > 0 {
            self.stats.warn(format!(
                "{}: dropped an incomplete last frame ({partial_bytes} bytes)",
                self.info.spec
            ));
        }
        if let Some(count) = self.probe.frame_count
            && self.stats.read < count
        {
            self.stats.warn(format!(
                "{}: decoded {} of the {count} frames the container announces (truncated or damaged file?)",
                self.info.spec, self.stats.read
            ));
        }
        if log.messages > 0 {
            self.stats.warn(format!(
                "{}: ffmpeg reported {} decode errors, first: {}",
                self.info.spec, log.messages, first
            ));
        }
        if !status.success() {
            self.stats.warn(format!(
                "{}: ffmpeg stopped early ({status})",
                self.info.spec
            ));
        }
        Ok(())
    }
}

impl FrameSource for VideoFile {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        if self.finished {
            return Ok(None);
        }
        let (w, h) = (self.probe.width, self.probe.height);
        let len = w as usize * h as usize * 3;
        let buf = self.read_frame(len)?;
        if buf.len() < len {
            self.finish(buf.len())?;
            return Ok(None);
        }
        let index = self.next_index;
        self.next_index += 1;
        self.stats.read += 1;
        self.stats.kept += 1;
        let image = RgbImage::from_raw(w, h, buf).expect("buffer sized from the probe");
        Ok(Some(Frame {
            index,
            // Without a known rate there is no clock; one frame per second keeps timestamps
            // increasing so fps sampling still behaves predictably.
            timestamp: index as f64 / self.probe.fps.unwrap_or(1.0),
            origin: format!("{}#{index}", edge_ssl_core::escape_row(&self.info.spec)),
            image: DynamicImage::ImageRgb8(image),
        }))
    }

    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn stats(&self) -> SourceStats {
        self.stats.clone()
    }
}

/// A frame is ~1.3 MB and the default pipe holds 64 KB, so each frame costs twenty context
/// switches between ffmpeg and us; a 1 MB pipe (the unprivileged maximum) cuts that to two.
#[cfg(target_os = "linux")]
fn widen_pipe(stdout: &ChildStdout) {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a descriptor we own; failure just leaves the default size.
    unsafe {
        libc::fcntl(stdout.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}

#[cfg(not(target_os = "linux"))]
fn widen_pipe(_stdout: &ChildStdout) {}

impl Drop for VideoFile {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(handle) = self.stderr.take() {
            let _ = handle.join();
        }
    }
}
