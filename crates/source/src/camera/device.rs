use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use edge_ssl_core::DecodeSize;
use image::DynamicImage;

use super::mapping::Mapping;
use super::setup::{explain, map_buffers, negotiate_format, request_fps};
use super::v4l2::{self, Buffer, Capability, ioctl, zeroed};
use super::{decode_mjpeg, yuyv_to_rgb};
use crate::{
    Frame, FrameSource, Result, SourceError, SourceInfo, SourceKind, SourceOptions, SourceStats,
};

/// After this many undecodable frames in a row the camera is declared broken: counting garbage
/// forever would look like a hang.
const MAX_BAD_IN_A_ROW: u32 = 50;

/// A V4L2 capture device (`/dev/videoN`) streaming MJPEG or YUYV through memory-mapped buffers.
///
/// Frames come out in capture order with the driver's timestamps. A frame the driver flags as
/// damaged, or that does not decode, is skipped and counted. Reads wait at most
/// [`CameraOptions::timeout`](crate::CameraOptions) for the next frame, so an unplugged or stuck
/// camera becomes an error instead of a hang. Dropping it stops streaming and unmaps buffers.
pub struct Camera {
    device: PathBuf,
    // Field order is drop order: buffers are unmapped before the descriptor closes.
    buffers: Vec<Mapping>,
    fd: OwnedFd,
    pixelformat: u32,
    stride: usize,
    width: u32,
    height: u32,
    timeout: Duration,
    strict: bool,
    decode_size: DecodeSize,
    next_index: u64,
    first_timestamp: Option<f64>,
    opened: Instant,
    info: SourceInfo,
    stats: SourceStats,
}

impl Camera {
    pub fn open(device: &Path, options: &SourceOptions) -> Result<Self> {
        let fail = |what: &str, e: std::io::Error| SourceError::camera(device, explain(what, &e));
        let c_path = CString::new(device.as_os_str().as_bytes())
            .map_err(|_| SourceError::camera(device, "path contains a NUL byte"))?;
        // Non-blocking so that waiting is done by poll() with a timeout, never inside DQBUF.
        // SAFETY: a valid C string; the descriptor is owned by OwnedFd right away.
        let raw = unsafe {
            libc::open(
                c_path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(fail("cannot open", std::io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a descriptor we just opened and nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let fdr = fd.as_raw_fd();

        let mut cap: Capability = zeroed();
        ioctl(fdr, v4l2::VIDIOC_QUERYCAP, &mut cap)
            .map_err(|e| fail("is not a V4L2 device (VIDIOC_QUERYCAP failed)", e))?;
        let caps = if cap.capabilities & v4l2::CAP_DEVICE_CAPS != 0 {
            cap.device_caps
        } else {
            cap.capabilities
        };
        if caps & v4l2::CAP_VIDEO_CAPTURE == 0 || caps & v4l2::CAP_STREAMING == 0 {
            return Err(SourceError::camera(
                device,
                "is not a streaming video capture node (UVC cameras also create a metadata node; try the other /dev/videoN)",
            ));
        }
        let card = c_string(&cap.card);

        let pix = negotiate_format(fdr, options).map_err(|m| SourceError::camera(device, m))?;
        let mut info = SourceInfo::new(SourceKind::Camera, device.display().to_string());
        info.width = Some(pix.width);
        info.height = Some(pix.height);
        info.fps = options.camera.fps.and_then(|fps| request_fps(fdr, fps));
        info.details = format!("{card} {}", v4l2::fourcc_name(pix.pixelformat));

        let buffers = map_buffers(fdr, options.camera.buffers)
            .map_err(|e| fail("cannot set up capture buffers", e))?;
        let mut kind = v4l2::BUF_TYPE_VIDEO_CAPTURE as libc::c_int;
        ioctl(fdr, v4l2::VIDIOC_STREAMON, &mut kind)
            .map_err(|e| fail("cannot start streaming", e))?;

        Ok(Camera {
            device: device.to_owned(),
            buffers,
            fd,
            pixelformat: pix.pixelformat,
            stride: pix.bytesperline as usize,
            width: pix.width,
            height: pix.height,
            timeout: options.camera.timeout,
            strict: options.strict,
            decode_size: options.decode_size,
            next_index: 0,
            first_timestamp: None,
            opened: Instant::now(),
            info,
            stats: SourceStats::default(),
        })
    }

    /// Waits for the next filled buffer; the caller must hand it back with [`Camera::requeue`].
    fn dequeue(&mut self) -> Result<Buffer> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let mut buf: Buffer = zeroed();
            buf.type_ = v4l2::BUF_TYPE_VIDEO_CAPTURE;
            buf.memory = v4l2::MEMORY_MMAP;
            match ioctl(self.fd.as_raw_fd(), v4l2::VIDIOC_DQBUF, &mut buf) {
                Ok(()) => return Ok(buf),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    return Err(SourceError::camera(
                        &self.device,
                        explain("stopped delivering frames", &e),
                    ));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SourceError::camera(
                    &self.device,
                    format!(
                        "no frame within {:.1} s (camera stuck or unplugged?)",
                        self.timeout.as_secs_f64()
                    ),
                ));
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r =
                unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
            if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return Err(SourceError::camera(
                    &self.device,
                    explain("poll failed", &std::io::Error::last_os_error()),
                ));
            }
        }
    }

    fn requeue(&mut self, mut buf: Buffer) -> Result<()> {
        ioctl(self.fd.as_raw_fd(), v4l2::VIDIOC_QBUF, &mut buf)
            .map_err(|e| SourceError::camera(&self.device, explain("cannot requeue a buffer", &e)))
    }

    fn convert(&self, bytes: &[u8]) -> std::result::Result<DynamicImage, String> {
        if self.pixelformat == v4l2::PIX_YUYV {
            yuyv_to_rgb(bytes, self.width, self.height, self.stride).map(DynamicImage::ImageRgb8)
        } else {
            decode_mjpeg(bytes, self.decode_size)
        }
    }
}

impl FrameSource for Camera {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let mut bad_in_a_row = 0;
        loop {
            let buf = self.dequeue()?;
            let index = self.next_index;
            self.next_index += 1;
            let decoded = match self.buffers.get(buf.index as usize) {
                _ if buf.flags & v4l2::BUF_FLAG_ERROR != 0 => {
                    Err("driver flagged the buffer as damaged".to_owned())
                }
                Some(map) => self.convert(map.bytes(buf.bytesused as usize)),
                None => Err(format!("driver returned unknown buffer {}", buf.index)),
            };
            let driver_time = buf.timestamp.tv_sec as f64 + buf.timestamp.tv_usec as f64 * 1e-6;
            self.requeue(buf)?;
            let origin = format!("{}#{index}", edge_ssl_core::escape_row(&self.info.spec));
            match decoded {
                Ok(image) => {
                    // Drivers stamp frames with the monotonic clock; one that leaves it at zero
                    // gets the time the frame reached us instead.
                    let now = if driver_time > 0.0 {
                        driver_time
                    } else {
                        self.opened.elapsed().as_secs_f64()
                    };
                    let first = *self.first_timestamp.get_or_insert(now);
                    self.stats.read += 1;
                    self.stats.kept += 1;
                    return Ok(Some(Frame {
                        index,
                        timestamp: (now - first).max(0.0),
                        origin,
                        image,
                    }));
                }
                Err(message) if self.strict => return Err(SourceError::Frame { origin, message }),
                Err(message) => {
                    self.stats.decode_errors += 1;
                    self.stats.warn(format!("{origin}: skipped: {message}"));
                    bad_in_a_row += 1;
                    if bad_in_a_row >= MAX_BAD_IN_A_ROW {
                        return Err(SourceError::camera(
                            &self.device,
                            format!(
                                "{MAX_BAD_IN_A_ROW} frames in a row did not decode; last: {message}"
                            ),
                        ));
                    }
                }
            }
        }
    }

    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn stats(&self) -> SourceStats {
        self.stats.clone()
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        let mut kind = v4l2::BUF_TYPE_VIDEO_CAPTURE as libc::c_int;
        let _ = ioctl(self.fd.as_raw_fd(), v4l2::VIDIOC_STREAMOFF, &mut kind);
        self.buffers.clear();
    }
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}
