//! The slice of the V4L2 kernel ABI (`linux/videodev2.h`) that memory-mapped capture needs,
//! written out by hand so building needs neither kernel headers nor libclang. Sizes and offsets
//! are checked below against what the kernel headers give on 64-bit targets; the ioctl numbers
//! encode the struct sizes, so a layout mistake shows up as `ENOTTY`, not as memory corruption.

use std::os::fd::RawFd;

pub const BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
pub const MEMORY_MMAP: u32 = 1;
pub const FIELD_ANY: u32 = 0;
pub const CAP_VIDEO_CAPTURE: u32 = 0x0000_0001;
pub const CAP_STREAMING: u32 = 0x0400_0000;
pub const CAP_DEVICE_CAPS: u32 = 0x8000_0000;
pub const CAP_TIMEPERFRAME: u32 = 0x1000;
/// The driver says the buffer's content may be damaged (a USB transfer lost packets).
pub const BUF_FLAG_ERROR: u32 = 0x0040;

pub const fn fourcc(code: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*code)
}
pub const PIX_MJPEG: u32 = fourcc(b"MJPG");
/// Some drivers (older gspca ones) label the same JPEG stream `JPEG`.
pub const PIX_JPEG: u32 = fourcc(b"JPEG");
pub const PIX_YUYV: u32 = fourcc(b"YUYV");

/// `MJPG` for 0x47504a4d, for messages.
pub fn fourcc_name(code: u32) -> String {
    code.to_le_bytes()
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect()
}

#[repr(C)]
pub struct Capability {
    pub driver: [u8; 16],
    pub card: [u8; 32],
    pub bus_info: [u8; 32],
    pub version: u32,
    pub capabilities: u32,
    pub device_caps: u32,
    pub reserved: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PixFormat {
    pub width: u32,
    pub height: u32,
    pub pixelformat: u32,
    pub field: u32,
    pub bytesperline: u32,
    pub sizeimage: u32,
    pub colorspace: u32,
    pub priv_: u32,
    pub flags: u32,
    pub ycbcr_enc: u32,
    pub quantization: u32,
    pub xfer_func: u32,
}

#[repr(C)]
pub union FormatUnion {
    pub pix: PixFormat,
    pub raw: [u8; 200],
    /// `struct v4l2_window` in the kernel's union holds pointers, which sets its alignment.
    pub align: [usize; 0],
}

#[repr(C)]
pub struct Format {
    pub type_: u32,
    pub fmt: FormatUnion,
}

#[repr(C)]
pub struct RequestBuffers {
    pub count: u32,
    pub type_: u32,
    pub memory: u32,
    pub capabilities: u32,
    pub flags: u8,
    pub reserved: [u8; 3],
}

#[repr(C)]
pub struct Timecode {
    pub type_: u32,
    pub flags: u32,
    pub frames: u8,
    pub seconds: u8,
    pub minutes: u8,
    pub hours: u8,
    pub userbits: [u8; 4],
}

#[repr(C)]
pub union BufferM {
    pub offset: u32,
    pub userptr: libc::c_ulong,
    pub planes: *mut libc::c_void,
    pub fd: i32,
}

#[repr(C)]
pub struct Buffer {
    pub index: u32,
    pub type_: u32,
    pub bytesused: u32,
    pub flags: u32,
    pub field: u32,
    pub timestamp: libc::timeval,
    pub timecode: Timecode,
    pub sequence: u32,
    pub memory: u32,
    pub m: BufferM,
    pub length: u32,
    pub reserved2: u32,
    pub request_fd: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Fract {
    pub numerator: u32,
    pub denominator: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct CaptureParm {
    pub capability: u32,
    pub capturemode: u32,
    pub timeperframe: Fract,
    pub extendedmode: u32,
    pub readbuffers: u32,
    pub reserved: [u32; 4],
}

#[repr(C)]
pub union StreamParmUnion {
    pub capture: CaptureParm,
    pub raw: [u8; 200],
}

#[repr(C)]
pub struct StreamParm {
    pub type_: u32,
    pub parm: StreamParmUnion,
}

#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<Capability>() == 104);
    assert!(size_of::<Format>() == 208);
    assert!(size_of::<RequestBuffers>() == 20);
    assert!(size_of::<Buffer>() == 88);
    assert!(size_of::<StreamParm>() == 204);
    assert!(std::mem::offset_of!(Buffer, timestamp) == 24);
    assert!(std::mem::offset_of!(Buffer, m) == 64);
    assert!(std::mem::offset_of!(Buffer, length) == 72);
};

/// `_IOC(dir, 'V', nr, size)` as the asm-generic, x86 and ARM kernels encode it.
const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | ((b'V' as u64) << 8) | nr
}
const WRITE: u64 = 1;
const READ: u64 = 2;

pub const VIDIOC_QUERYCAP: u64 = ioc(READ, 0, size_of::<Capability>());
pub const VIDIOC_S_FMT: u64 = ioc(READ | WRITE, 5, size_of::<Format>());
pub const VIDIOC_REQBUFS: u64 = ioc(READ | WRITE, 8, size_of::<RequestBuffers>());
pub const VIDIOC_QUERYBUF: u64 = ioc(READ | WRITE, 9, size_of::<Buffer>());
pub const VIDIOC_QBUF: u64 = ioc(READ | WRITE, 15, size_of::<Buffer>());
pub const VIDIOC_DQBUF: u64 = ioc(READ | WRITE, 17, size_of::<Buffer>());
pub const VIDIOC_STREAMON: u64 = ioc(WRITE, 18, size_of::<libc::c_int>());
pub const VIDIOC_STREAMOFF: u64 = ioc(WRITE, 19, size_of::<libc::c_int>());
pub const VIDIOC_S_PARM: u64 = ioc(READ | WRITE, 22, size_of::<StreamParm>());

/// A zeroed kernel struct: every V4L2 struct here is plain old data for which all-zero bytes
/// are valid (and what the API asks callers to start from).
pub fn zeroed<T>() -> T {
    // SAFETY: only instantiated with the repr(C) integer/array/union structs above.
    unsafe { std::mem::zeroed() }
}

/// `ioctl(fd, request, arg)`, retried on `EINTR` (a signal such as Ctrl-C's can interrupt it).
pub fn ioctl<T>(fd: RawFd, request: u64, arg: &mut T) -> std::io::Result<()> {
    loop {
        // SAFETY: `arg` is a live, exclusively borrowed struct of the size `request` encodes.
        let r = unsafe { libc::ioctl(fd, request as _, arg as *mut T) };
        if r != -1 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(
        target_pointer_width = "64",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    fn ioctl_numbers_match_the_kernel_headers() {
        assert_eq!(VIDIOC_QUERYCAP, 0x8068_5600);
        assert_eq!(VIDIOC_S_FMT, 0xc0d0_5605);
        assert_eq!(VIDIOC_REQBUFS, 0xc014_5608);
        assert_eq!(VIDIOC_QUERYBUF, 0xc058_5609);
        assert_eq!(VIDIOC_QBUF, 0xc058_560f);
        assert_eq!(VIDIOC_DQBUF, 0xc058_5611);
        assert_eq!(VIDIOC_STREAMON, 0x4004_5612);
        assert_eq!(VIDIOC_S_PARM, 0xc0cc_5616);
    }

    #[test]
    fn fourcc_round_trips() {
        assert_eq!(fourcc_name(PIX_MJPEG), "MJPG");
        assert_eq!(fourcc_name(PIX_YUYV), "YUYV");
    }
}
