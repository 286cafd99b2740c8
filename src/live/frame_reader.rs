//! Decoding on its own thread, so the next frame is being read (and, for a video, converted from
//! ffmpeg's pipe) while the encoder runs on this one. The queue is two frames deep: a live run
//! wants the newest frame, not a backlog.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use edge_ssl_source::{Frame, FrameSource, SourceError, SourceInfo, SourceStats};

const QUEUE: usize = 2;

/// What [`FrameReader::next`] hands back.
pub enum Next {
    Frame(Frame),
    /// The source failed; it yields nothing more.
    Failed(SourceError),
    /// The source is exhausted.
    End,
    /// Nothing arrived within the wait; ask again (after checking for Ctrl-C).
    Waiting,
}

pub struct FrameReader {
    info: SourceInfo,
    frames: Receiver<Result<Frame, SourceError>>,
    thread: JoinHandle<SourceStats>,
}

impl FrameReader {
    pub fn spawn(source: Box<dyn FrameSource>) -> anyhow::Result<Self> {
        let info = source.info().clone();
        let (tx, frames) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("frame-reader".into())
            .spawn(move || read_all(source, tx))?;
        Ok(FrameReader {
            info,
            frames,
            thread,
        })
    }

    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// The next frame, waiting at most `wait` for it.
    pub fn next(&self, wait: Duration) -> Next {
        match self.frames.recv_timeout(wait) {
            Ok(Ok(frame)) => Next::Frame(frame),
            Ok(Err(e)) => Next::Failed(e),
            Err(RecvTimeoutError::Timeout) => Next::Waiting,
            Err(RecvTimeoutError::Disconnected) => Next::End,
        }
    }

    /// Stops reading (dropping the source kills ffmpeg or stops the camera) and returns the
    /// source's final counters.
    pub fn finish(self) -> SourceStats {
        drop(self.frames);
        self.thread.join().unwrap_or_default()
    }
}

fn read_all(
    mut source: Box<dyn FrameSource>,
    tx: SyncSender<Result<Frame, SourceError>>,
) -> SourceStats {
    loop {
        let item = match source.next_frame() {
            Ok(Some(frame)) => Ok(frame),
            Ok(None) => break,
            Err(e) => Err(e),
        };
        let failed = item.is_err();
        if tx.send(item).is_err() || failed {
            break;
        }
    }
    source.stats()
}
