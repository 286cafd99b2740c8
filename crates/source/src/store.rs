use std::collections::VecDeque;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use edge_ssl_core::write_atomic;
use image::DynamicImage;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};

use crate::{Result, SourceError, StoreOptions};

/// Digits in a stored frame's name: sorted by name is sorted by age, for ~30 years at 1 fps.
const NAME_DIGITS: usize = 12;

/// A directory holding a camera's most recent kept frames as `000000000042.png`, capped by count
/// and bytes with the oldest evicted first.
///
/// It is an ordinary image folder: `adapt --data DIR` reads it in capture order, because names
/// are zero-padded sequence numbers and the folder listing is sorted. Numbering continues after
/// the highest name already present, so a restarted device appends rather than overwrites.
/// Frames are written with [`write_atomic`], so a power cut leaves whole PNGs or none, and the
/// temporary files it uses are hidden, so a reader never sees half a frame.
pub struct FrameStore {
    dir: PathBuf,
    max_frames: Option<usize>,
    max_bytes: Option<u64>,
    /// (path, size) of every stored frame, oldest first.
    entries: VecDeque<(PathBuf, u64)>,
    bytes: u64,
    next_seq: u64,
}

impl FrameStore {
    /// Opens (creating if needed) the store and applies the caps to what is already there.
    pub fn open(options: &StoreOptions) -> Result<Self> {
        let dir = options.dir.clone();
        fs::create_dir_all(&dir).map_err(|e| SourceError::io(&dir, e))?;
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| SourceError::io(&dir, e))? {
            let entry = entry.map_err(|e| SourceError::io(&dir, e))?;
            // Only our own names: anything else in the folder is the user's and left alone.
            if let Some(seq) = sequence_of(&entry.path()) {
                let size = entry
                    .metadata()
                    .map_err(|e| SourceError::io(entry.path(), e))?
                    .len();
                found.push((seq, entry.path(), size));
            }
        }
        found.sort();
        let next_seq = found.last().map_or(0, |(seq, _, _)| seq + 1);
        let mut store = FrameStore {
            dir,
            max_frames: options.max_frames,
            max_bytes: options.max_bytes,
            bytes: found.iter().map(|(_, _, size)| size).sum(),
            entries: found
                .into_iter()
                .map(|(_, path, size)| (path, size))
                .collect(),
            next_seq,
        };
        store.evict(0)?;
        Ok(store)
    }

    /// Writes `image` as the newest frame and evicts the oldest beyond the caps. The newest frame
    /// is always kept, even when it alone exceeds the byte cap.
    pub fn put(&mut self, image: &DynamicImage) -> Result<PathBuf> {
        let path = self.dir.join(format!(
            "{:0width$}.png",
            self.next_seq,
            width = NAME_DIGITS
        ));
        let mut png = Vec::new();
        // Fast compression: on a Pi, default zlib effort costs more than decoding the frame.
        image
            .write_with_encoder(PngEncoder::new_with_quality(
                &mut png,
                CompressionType::Fast,
                FilterType::Sub,
            ))
            .map_err(|e| SourceError::io(&path, std::io::Error::other(e)))?;
        write_atomic(&path, |w: &mut dyn Write| w.write_all(&png))?;
        self.next_seq += 1;
        self.entries.push_back((path.clone(), png.len() as u64));
        self.bytes += png.len() as u64;
        self.evict(1)?;
        Ok(path)
    }

    /// Removes oldest frames until the caps hold, never touching the newest `keep`.
    fn evict(&mut self, keep: usize) -> Result<()> {
        while self.entries.len() > keep
            && (self.max_frames.is_some_and(|m| self.entries.len() > m)
                || self.max_bytes.is_some_and(|m| self.bytes > m))
        {
            let (path, size) = self.entries.pop_front().expect("checked non-empty");
            match fs::remove_file(&path) {
                Ok(()) => {}
                // Someone cleaned up by hand; the cap is met either way.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(SourceError::io(&path, e)),
            }
            self.bytes -= size;
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stored frames, oldest first.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.entries.iter().map(|(p, _)| p.as_path())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of PNG currently stored.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// `000000000042.png` → 42; anything else → None.
fn sequence_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_suffix(".png")?;
    (digits.len() == NAME_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}
