//! The last few frames held as JPEG: what the strip shows and what can be labeled. A fixed
//! number of entries, each an `Arc`, so a reader copies a pointer under the lock and writes the
//! bytes to its socket after letting go.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::prediction::FrameRecord;

#[derive(Debug)]
pub(crate) struct Recent {
    frames: VecDeque<Arc<FrameRecord>>,
    capacity: usize,
}

impl Recent {
    pub(crate) fn new(capacity: usize) -> Self {
        Recent {
            frames: VecDeque::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
        }
    }

    /// Keeps frames in frame order: one older than the newest is dropped (the encoder may
    /// finish out of order only if it is ever made parallel).
    pub(crate) fn push(&mut self, record: FrameRecord) {
        if self
            .frames
            .back()
            .is_some_and(|b| b.prediction.frame >= record.prediction.frame)
        {
            return;
        }
        if self.frames.len() == self.capacity {
            self.frames.pop_front();
        }
        self.frames.push_back(Arc::new(record));
    }

    pub(crate) fn get(&self, frame: u64) -> Option<Arc<FrameRecord>> {
        self.frames
            .iter()
            .find(|r| r.prediction.frame == frame)
            .cloned()
    }

    pub(crate) fn newest(&self) -> Option<Arc<FrameRecord>> {
        self.frames.back().cloned()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<FrameRecord>> {
        self.frames.iter()
    }
}
