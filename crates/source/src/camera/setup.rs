//! The ioctls that set a capture device up before streaming: format, rate, buffers.

use std::os::fd::RawFd;

use super::mapping::Mapping;
use super::v4l2::{self, Buffer, Format, RequestBuffers, StreamParm, ioctl, zeroed};
use crate::{CameraFormat, SourceOptions};

/// Asks for the preferred pixel format, then the other; the driver answers with what it will
/// really deliver, which may be neither.
pub(super) fn negotiate_format(
    fd: RawFd,
    options: &SourceOptions,
) -> std::result::Result<v4l2::PixFormat, String> {
    let order = match options.camera.format {
        CameraFormat::Mjpeg => [v4l2::PIX_MJPEG, v4l2::PIX_YUYV],
        CameraFormat::Yuyv => [v4l2::PIX_YUYV, v4l2::PIX_MJPEG],
    };
    let mut granted = Vec::new();
    for want in order {
        let mut fmt: Format = zeroed();
        fmt.type_ = v4l2::BUF_TYPE_VIDEO_CAPTURE;
        fmt.fmt.pix = v4l2::PixFormat {
            width: options.camera.width,
            height: options.camera.height,
            pixelformat: want,
            field: v4l2::FIELD_ANY,
            ..zeroed()
        };
        ioctl(fd, v4l2::VIDIOC_S_FMT, &mut fmt)
            .map_err(|e| explain("cannot set the capture format", &e))?;
        // SAFETY: S_FMT with a capture type fills the `pix` member.
        let mut pix = unsafe { fmt.fmt.pix };
        if matches!(
            pix.pixelformat,
            v4l2::PIX_MJPEG | v4l2::PIX_JPEG | v4l2::PIX_YUYV
        ) {
            pix.bytesperline = pix.bytesperline.max(pix.width * 2);
            return Ok(pix);
        }
        granted.push(v4l2::fourcc_name(pix.pixelformat));
    }
    Err(format!(
        "offers neither MJPEG nor YUYV (driver answered {})",
        granted.join(", ")
    ))
}

/// Requests a frame rate; returns the rate granted, or `None` when the driver cannot set one.
pub(super) fn request_fps(fd: RawFd, fps: u32) -> Option<f64> {
    let mut parm: StreamParm = zeroed();
    parm.type_ = v4l2::BUF_TYPE_VIDEO_CAPTURE;
    parm.parm.capture = v4l2::CaptureParm {
        timeperframe: v4l2::Fract {
            numerator: 1,
            denominator: fps.max(1),
        },
        ..zeroed()
    };
    ioctl(fd, v4l2::VIDIOC_S_PARM, &mut parm).ok()?;
    // SAFETY: S_PARM with a capture type fills the `capture` member.
    let capture = unsafe { parm.parm.capture };
    let t = capture.timeperframe;
    (capture.capability & v4l2::CAP_TIMEPERFRAME != 0 && t.numerator > 0)
        .then(|| f64::from(t.denominator) / f64::from(t.numerator))
}

/// Requests `count` memory-mapped buffers, maps each and queues it for the driver to fill.
pub(super) fn map_buffers(fd: RawFd, count: u32) -> std::io::Result<Vec<Mapping>> {
    let mut req: RequestBuffers = zeroed();
    req.count = count;
    req.type_ = v4l2::BUF_TYPE_VIDEO_CAPTURE;
    req.memory = v4l2::MEMORY_MMAP;
    ioctl(fd, v4l2::VIDIOC_REQBUFS, &mut req)?;
    if req.count == 0 {
        return Err(std::io::Error::other("the driver granted no buffers"));
    }
    let mut maps = Vec::with_capacity(req.count as usize);
    for index in 0..req.count {
        let mut buf: Buffer = zeroed();
        buf.index = index;
        buf.type_ = v4l2::BUF_TYPE_VIDEO_CAPTURE;
        buf.memory = v4l2::MEMORY_MMAP;
        ioctl(fd, v4l2::VIDIOC_QUERYBUF, &mut buf)?;
        // SAFETY: QUERYBUF with MMAP memory fills `m.offset`.
        let offset = unsafe { buf.m.offset };
        maps.push(Mapping::new(fd, offset, buf.length as usize)?);
        ioctl(fd, v4l2::VIDIOC_QBUF, &mut buf)?;
    }
    Ok(maps)
}

/// Turns errno into the sentence a user can act on.
pub(super) fn explain(what: &str, e: &std::io::Error) -> String {
    let hint = match e.raw_os_error() {
        Some(libc::ENOENT) => " (no such device; is the camera plugged in? see `ls /dev/video*`)",
        Some(libc::EACCES) | Some(libc::EPERM) => " (add the user to the `video` group)",
        Some(libc::EBUSY) => " (another program is using the camera)",
        Some(libc::ENODEV) | Some(libc::EIO) => " (the camera was disconnected)",
        Some(libc::ENOTTY) => " (not a V4L2 device)",
        _ => "",
    };
    format!("{what}: {e}{hint}")
}
