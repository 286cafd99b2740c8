//! A camera's frames on disk instead of in memory.
//!
//! A camera cannot be read twice, so `adapt` keeps its frames from the first pass for the
//! later ones (BN statistics, the view cache). In memory that grows with `--max-frames`:
//! 5,000 frames kept for a 224×224 encoder (448×448×3 bytes each) are 3 GB. Past
//! [`HOLD_BYTES`](super::frame_list::HOLD_BYTES) they go to one file in the output's
//! directory instead, written once and read back per pass with positioned reads.
//!
//! The file is unlinked as soon as it is opened: only the open descriptor reaches it, so
//! whatever ends the process — an error, Ctrl-C, SIGKILL, power loss — leaves nothing behind,
//! and no other path can name it. It is created new (never an existing file or a link) with
//! mode 0600.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

use crate::error::Context;
use crate::frames::frame_list::Pixels;

/// Frames written to an unlinked file, read back in order.
pub(crate) struct SpillFile {
    file: BufWriter<File>,
    /// Shape (channels, height, width) of each frame, in order; frame `i` starts at the sum of
    /// the sizes before it.
    shapes: Vec<(usize, usize, usize)>,
    bytes: u64,
}

impl std::fmt::Debug for SpillFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpillFile")
            .field("frames", &self.shapes.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl SpillFile {
    /// A new, already unlinked file in `dir` (created if missing).
    pub fn create(dir: &Path) -> crate::Result<SpillFile> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!(".edge-ssl-frames.{}.raw", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&path)
            .with_context(|| format!("creating {} for the camera's frames", path.display()))?;
        std::fs::remove_file(&path).with_context(|| format!("unlinking {}", path.display()))?;
        Ok(SpillFile {
            file: BufWriter::with_capacity(1 << 20, file),
            shapes: Vec::new(),
            bytes: 0,
        })
    }

    /// Appends one frame.
    pub fn push(&mut self, pixels: &Pixels) -> crate::Result<()> {
        let standard = pixels.as_standard_layout();
        let bytes = standard.as_slice().unwrap_or_default();
        self.file
            .write_all(bytes)
            .context("writing the camera's frames to disk")?;
        self.shapes.push(pixels.dim());
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Flushes what is buffered; the frames can be read after this.
    pub fn finish(&mut self) -> crate::Result<()> {
        self.file
            .flush()
            .context("writing the camera's frames to disk")
    }

    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The frames in the order they were pushed (after [`SpillFile::finish`]).
    pub fn pass(&self) -> impl Iterator<Item = crate::Result<Pixels>> + Send + '_ {
        let file = self.file.get_ref();
        let mut offset = 0u64;
        self.shapes.iter().map(move |&shape| {
            let mut buf = vec![0u8; shape.0 * shape.1 * shape.2];
            read_at(file, &mut buf, offset).context("reading the camera's frames back")?;
            offset += buf.len() as u64;
            Pixels::from_shape_vec(shape, buf)
                .map_err(|e| crate::Error::Data(format!("a spilled frame: {e}")))
        })
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match std::os::windows::fs::FileExt::seek_read(
            file,
            &mut buf[done..],
            offset + done as u64,
        )? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => done += n,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_back_in_order_and_no_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = SpillFile::create(&dir.path().join("out")).unwrap();
        let frames: Vec<Pixels> = (0..5u8)
            .map(|i| {
                Pixels::from_shape_fn((3, 4 + i as usize, 6), |(c, y, x)| {
                    i ^ (c * 31 + y * 7 + x) as u8
                })
            })
            .collect();
        for f in &frames {
            spill.push(f).unwrap();
        }
        spill.finish().unwrap();
        assert_eq!(spill.len(), 5);
        assert_eq!(
            spill.bytes(),
            frames.iter().map(|f| f.len() as u64).sum::<u64>()
        );
        let back: Vec<Pixels> = spill.pass().collect::<crate::Result<_>>().unwrap();
        assert_eq!(back, frames);
        // A second pass reads the same bytes again.
        let again: Vec<Pixels> = spill.pass().collect::<crate::Result<_>>().unwrap();
        assert_eq!(again, frames);
        let left: Vec<_> = std::fs::read_dir(dir.path().join("out")).unwrap().collect();
        assert!(left.is_empty(), "the spill file is unlinked: {left:?}");
    }
}
