//! Playing a finite source again and again, for a live run that must not end: a soak test on a
//! short clip, a demo stand, a serial link exercised for as long as it takes.

use crate::{Frame, FrameSource, Result, SourceInfo, SourceStats};

/// Opens one pass of the underlying source; called again each time a pass ends.
pub type Opener = Box<dyn FnMut() -> Result<Box<dyn FrameSource>> + Send>;

/// A source that reopens itself when it ends. Frame indices and timestamps keep counting across
/// passes (pass 2 of a 795-frame clip starts at index 795, one frame period after the last
/// timestamp), so samplers and latency statistics see one continuous stream; `origin` still
/// names the frame in the file (`vtest.avi#0` on every pass). Counters add up over passes.
///
/// A pass that yields no frame at all ends the loop, so an empty or wholly undecodable source
/// cannot spin forever. An error while reopening is returned like any other source error.
pub struct Looped {
    open: Opener,
    current: Box<dyn FrameSource>,
    info: SourceInfo,
    passes: u64,
    frames_this_pass: u64,
    index_offset: u64,
    next_index: u64,
    timestamp_offset: f64,
    last_timestamp: f64,
    finished: SourceStats,
}

impl Looped {
    pub fn new(mut open: Opener) -> Result<Self> {
        let current = open()?;
        let info = current.info().clone();
        Ok(Looped {
            open,
            current,
            info,
            passes: 1,
            frames_this_pass: 0,
            index_offset: 0,
            next_index: 0,
            timestamp_offset: 0.0,
            last_timestamp: 0.0,
            finished: SourceStats::default(),
        })
    }

    /// Passes started so far (1 while the first is playing).
    pub fn passes(&self) -> u64 {
        self.passes
    }

    fn frame_period(&self) -> f64 {
        match self.info.fps {
            Some(fps) if fps > 0.0 => 1.0 / fps,
            _ => 1.0,
        }
    }
}

impl FrameSource for Looped {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            if let Some(mut frame) = self.current.next_frame()? {
                self.frames_this_pass += 1;
                frame.index += self.index_offset;
                frame.timestamp += self.timestamp_offset;
                self.next_index = frame.index + 1;
                self.last_timestamp = frame.timestamp;
                return Ok(Some(frame));
            }
            if self.frames_this_pass == 0 {
                return Ok(None);
            }
            self.finished.absorb(self.current.stats());
            self.index_offset = self.next_index;
            self.timestamp_offset = self.last_timestamp + self.frame_period();
            self.current = (self.open)()?;
            self.passes += 1;
            self.frames_this_pass = 0;
        }
    }

    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn stats(&self) -> SourceStats {
        let mut stats = self.finished.clone();
        stats.absorb(self.current.stats());
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SourceKind;
    use image::DynamicImage;
    use std::sync::{Arc, Mutex};

    /// A source of `n` blank frames at 10 fps, each pass counting one decode error.
    struct Clip {
        n: u64,
        at: u64,
        info: SourceInfo,
    }

    impl FrameSource for Clip {
        fn next_frame(&mut self) -> Result<Option<Frame>> {
            if self.at == self.n {
                return Ok(None);
            }
            self.at += 1;
            Ok(Some(Frame {
                index: self.at - 1,
                timestamp: (self.at - 1) as f64 / 10.0,
                origin: format!("clip#{}", self.at - 1),
                image: DynamicImage::new_luma8(2, 2),
            }))
        }
        fn info(&self) -> &SourceInfo {
            &self.info
        }
        fn stats(&self) -> SourceStats {
            SourceStats {
                read: self.at,
                decode_errors: 1,
                ..Default::default()
            }
        }
    }

    fn clip(n: u64) -> Box<dyn FrameSource> {
        let mut info = SourceInfo::new(SourceKind::Video, "clip");
        info.fps = Some(10.0);
        Box::new(Clip { n, at: 0, info })
    }

    #[test]
    fn indices_and_timestamps_continue_across_passes_and_counters_add_up() {
        let opened = Arc::new(Mutex::new(0));
        let counter = opened.clone();
        let mut looped = Looped::new(Box::new(move || {
            *counter.lock().unwrap() += 1;
            Ok(clip(3))
        }))
        .unwrap();
        let frames: Vec<Frame> = (0..7)
            .map(|_| looped.next_frame().unwrap().unwrap())
            .collect();
        let indices: Vec<u64> = frames.iter().map(|f| f.index).collect();
        assert_eq!(indices, [0, 1, 2, 3, 4, 5, 6]);
        for pair in frames.windows(2) {
            let step = pair[1].timestamp - pair[0].timestamp;
            assert!((step - 0.1).abs() < 1e-9, "{step}");
        }
        assert_eq!(frames[4].origin, "clip#1");
        assert_eq!(looped.passes(), 3);
        assert_eq!(*opened.lock().unwrap(), 3);
        let stats = looped.stats();
        assert_eq!(stats.read, 7);
        assert_eq!(stats.decode_errors, 3);
    }

    #[test]
    fn an_empty_source_ends_instead_of_spinning() {
        let mut looped = Looped::new(Box::new(|| Ok(clip(0)))).unwrap();
        assert!(looped.next_frame().unwrap().is_none());
        assert_eq!(looped.passes(), 1);
    }
}
