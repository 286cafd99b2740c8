use std::os::fd::RawFd;

/// One driver buffer mapped into our address space; unmapped on drop.
pub(super) struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is plain shared memory owned by this value; it is only read through
// `&self` while the driver does not own the buffer (between DQBUF and QBUF).
unsafe impl Send for Mapping {}

impl Mapping {
    pub fn new(fd: RawFd, offset: u32, len: usize) -> std::io::Result<Self> {
        // SAFETY: a fresh shared mapping of a region the driver just described by QUERYBUF.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                // A cookie the driver chose, not a file position; small on every known driver.
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapping { ptr, len })
    }

    /// The first `used` bytes, clamped to the mapping (a driver's `bytesused` is not trusted).
    pub fn bytes(&self, used: usize) -> &[u8] {
        // SAFETY: ptr..ptr+len is mapped for as long as self lives.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, used.min(self.len)) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `new` mapped.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}
