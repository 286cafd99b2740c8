use std::fmt;

use serde::Serialize;

/// How many warnings a source keeps verbatim; a badly damaged video can report thousands, and
/// the user needs the first few plus a count, not a flood.
const MAX_WARNINGS: usize = 20;

/// Counters of one source run. `read` counts frames the source decoded, and each of them is
/// either kept or skipped for exactly one reason, so `read == kept + skipped_fps + skipped_duplicate`.
/// Once `max_frames` are kept the source stops reading, so no frame is decoded only to be dropped.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SourceStats {
    pub read: u64,
    pub kept: u64,
    pub skipped_fps: u64,
    pub skipped_duplicate: u64,
    /// Files, packets or camera buffers that did not decode. For a video these are the error
    /// messages ffmpeg printed (one per damaged packet or slice), not a count of lost frames.
    pub decode_errors: u64,
    /// Kept frames written to the frame store.
    pub stored: u64,
    /// What a user should be told at the end: truncated video, skipped files, and so on.
    pub warnings: Vec<String>,
    /// Warnings beyond the first 20, counted but not kept.
    pub warnings_dropped: u64,
}

impl SourceStats {
    /// Adds another run's counters and warnings to these (the passes of a looped source).
    pub fn absorb(&mut self, other: SourceStats) {
        self.read += other.read;
        self.kept += other.kept;
        self.skipped_fps += other.skipped_fps;
        self.skipped_duplicate += other.skipped_duplicate;
        self.decode_errors += other.decode_errors;
        self.stored += other.stored;
        for w in other.warnings {
            self.warn(w);
        }
        self.warnings_dropped += other.warnings_dropped;
    }

    pub(crate) fn warn(&mut self, message: impl Into<String>) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(message.into());
        } else {
            self.warnings_dropped += 1;
        }
    }
}

impl fmt::Display for SourceStats {
    /// One line for the end of a run: `795 read, 199 kept, 596 skipped (fps 596), 0 decode errors`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let skipped = self.skipped_fps + self.skipped_duplicate;
        write!(
            f,
            "{} read, {} kept, {skipped} skipped",
            self.read, self.kept
        )?;
        if skipped > 0 {
            let mut parts = Vec::new();
            for (n, why) in [
                (self.skipped_fps, "fps"),
                (self.skipped_duplicate, "duplicate"),
            ] {
                if n > 0 {
                    parts.push(format!("{why} {n}"));
                }
            }
            write!(f, " ({})", parts.join(", "))?;
        }
        write!(f, ", {} decode errors", self.decode_errors)?;
        if self.stored > 0 {
            write!(f, ", {} stored", self.stored)?;
        }
        let warnings = self.warnings.len() as u64 + self.warnings_dropped;
        if warnings > 0 {
            write!(f, ", {warnings} warnings")?;
        }
        Ok(())
    }
}
