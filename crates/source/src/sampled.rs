use crate::{
    Dedup, FpsSampler, Frame, FrameSource, FrameStore, Result, SourceInfo, SourceOptions,
    SourceStats,
};

/// Wraps any source with the choices of [`SourceOptions`]: frame-rate sampling, near-duplicate
/// skipping, a frame limit and the on-disk store, in that order.
///
/// The order is by cost: the fps test looks at a timestamp, dedup at a 16×16 thumbnail, the
/// store encodes a PNG, so each stage only sees what the cheaper ones let through. `max_frames`
/// is checked before reading, so a camera is not asked for a frame that would be thrown away.
pub struct Sampled<S> {
    inner: S,
    fps: Option<FpsSampler>,
    dedup: Option<Dedup>,
    max_frames: Option<u64>,
    store: Option<FrameStore>,
    kept: u64,
    skipped_fps: u64,
    skipped_duplicate: u64,
    stored: u64,
    /// Store failures; a full disk must not stop a live camera, so they are warnings.
    store_warnings: SourceStats,
}

impl<S: FrameSource> Sampled<S> {
    /// Validates `options` and opens the frame store if one is asked for.
    pub fn new(inner: S, options: &SourceOptions) -> Result<Self> {
        options.validate()?;
        Ok(Sampled {
            inner,
            fps: options.fps.map(FpsSampler::new),
            dedup: options.dedup_threshold.map(Dedup::new),
            max_frames: options.max_frames,
            store: options.store.as_ref().map(FrameStore::open).transpose()?,
            kept: 0,
            skipped_fps: 0,
            skipped_duplicate: 0,
            stored: 0,
            store_warnings: SourceStats::default(),
        })
    }

    /// The frame store, to list what it holds after a run.
    pub fn store(&self) -> Option<&FrameStore> {
        self.store.as_ref()
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: FrameSource> FrameSource for Sampled<S> {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            if self.max_frames.is_some_and(|m| self.kept >= m) {
                return Ok(None);
            }
            let Some(frame) = self.inner.next_frame()? else {
                return Ok(None);
            };
            if let Some(fps) = &mut self.fps
                && !fps.keep(frame.timestamp)
            {
                self.skipped_fps += 1;
                continue;
            }
            if let Some(dedup) = &mut self.dedup
                && dedup.is_duplicate(&frame.image)
            {
                self.skipped_duplicate += 1;
                continue;
            }
            self.kept += 1;
            if let Some(store) = &mut self.store {
                match store.put(&frame.image) {
                    Ok(_) => self.stored += 1,
                    Err(e) => self
                        .store_warnings
                        .warn(format!("{}: not stored: {e}", frame.origin)),
                }
            }
            return Ok(Some(frame));
        }
    }

    fn info(&self) -> &SourceInfo {
        self.inner.info()
    }

    fn stats(&self) -> SourceStats {
        let mut stats = self.inner.stats();
        stats.kept = self.kept;
        stats.skipped_fps = self.skipped_fps;
        stats.skipped_duplicate = self.skipped_duplicate;
        stats.stored = self.stored;
        for w in &self.store_warnings.warnings {
            stats.warn(w.clone());
        }
        stats.warnings_dropped += self.store_warnings.warnings_dropped;
        stats
    }
}
