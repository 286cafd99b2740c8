use std::path::{Path, PathBuf};

use edge_ssl_core::{DecodeSize, decode_image_at_least, image_files};

use crate::{
    Frame, FrameSource, Result, SourceError, SourceInfo, SourceKind, SourceOptions, SourceStats,
};

/// One image file, or every file under a folder (recursively, sorted by path, hidden entries
/// skipped — the listing is [`edge_ssl_core::image_files`], so row *i* of an embedding file and
/// frame *i* here mean the same image).
///
/// A large JPEG is decoded no larger than [`SourceOptions::decode_size`] needs.
///
/// Files that are not PNG or JPEG are skipped and counted as decode errors (a stray `README` in
/// a capture folder should not stop a week-long adaptation), unless the options are strict.
pub struct ImageFolder {
    files: Vec<PathBuf>,
    next: usize,
    rate: f64,
    strict: bool,
    decode_size: DecodeSize,
    info: SourceInfo,
    stats: SourceStats,
}

impl ImageFolder {
    pub fn open(path: &Path, options: &SourceOptions) -> Result<Self> {
        let files = image_files(path)?;
        if files.is_empty() {
            return Err(SourceError::Empty {
                path: path.to_owned(),
                reason: "no image files (empty folder)".into(),
            });
        }
        let mut info = SourceInfo::new(SourceKind::Images, path.display().to_string());
        info.frame_count = Some(files.len() as u64);
        info.fps = Some(options.image_rate);
        info.details = if files.len() == 1 {
            "1 file".into()
        } else {
            format!("{} files", files.len())
        };
        Ok(ImageFolder {
            files,
            next: 0,
            rate: options.image_rate,
            strict: options.strict,
            decode_size: options.decode_size,
            info,
            stats: SourceStats::default(),
        })
    }

    /// The files this source will read, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl FrameSource for ImageFolder {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        while let Some(path) = self.files.get(self.next) {
            let index = self.next as u64;
            self.next += 1;
            match decode_image_at_least(path, self.decode_size) {
                Ok(image) => {
                    self.stats.read += 1;
                    self.stats.kept += 1;
                    return Ok(Some(Frame {
                        index,
                        timestamp: index as f64 / self.rate,
                        origin: edge_ssl_core::escape_path(path),
                        image,
                    }));
                }
                Err(e) if self.strict => return Err(e.into()),
                Err(e) => {
                    self.stats.decode_errors += 1;
                    self.stats.warn(format!("skipped {e}"));
                }
            }
        }
        if self.stats.read == 0 {
            // Every file failed: say so once, as an error, rather than "0 frames" and a shrug.
            return Err(SourceError::Empty {
                path: PathBuf::from(&self.info.spec),
                reason: format!(
                    "none of the {} file(s) is a decodable image (first: {})",
                    self.files.len(),
                    self.stats
                        .warnings
                        .first()
                        .map_or("", |w| w.trim_start_matches("skipped "))
                ),
            });
        }
        Ok(None)
    }

    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn stats(&self) -> SourceStats {
        self.stats.clone()
    }
}
