//! The listing's frames handed to another thread as they are read, so work that needs every
//! frame once (BatchNorm statistics) runs beside the decoding instead of after it.
//!
//! The first pass over a source ([`FrameList::scan_tapped`](super::frame_list::FrameList::scan_tapped))
//! decodes every frame and holds each as `run` reads it; the BN pass used to start only once
//! that was over, and for a video — decoded by one `ffmpeg` — the second core idled while the
//! first decoded. A tap gives the receiver the very frames the list will hold, in order, while
//! they are read. It hands frames on only when that is exactly what a later pass would give:
//! the source's frames (by the bound known before reading) all fit the held inputs' budget and
//! the receiver wants them all; anything else (a frame already the input size, a bound past
//! the budget, an unknown length) closes it. [`Tapped::End`] comes only when every frame of the
//! list went through; a channel that closes without it means "do the pass yourself".

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::frame_list::Pixels;

/// What the receiver of a [`Tap`] gets.
pub enum Tapped {
    /// The source is open and the tap will hand its frames on (sent once, before the first):
    /// the receiver may get ready for them while the first is decoded.
    Begin,
    /// The next frame as `run` reads it.
    Frame(Pixels),
    /// Every frame of the list was handed on, in order: nothing more comes.
    End,
}

/// Frames a tap may have sent and the receiver not yet taken.
const IN_FLIGHT: usize = 64;

/// The sending end, which the listing feeds.
pub struct Tap {
    to: Option<SyncSender<Tapped>>,
    /// The receiver wants the frames only when there are at most this many.
    max_frames: usize,
    sent: usize,
    /// [`Tapped::End`] went out.
    ended: bool,
}

impl Tap {
    /// A tap whose receiver wants the frames when the source has at most `max_frames`.
    pub fn new(max_frames: usize) -> (Tap, Receiver<Tapped>) {
        let (to, from) = sync_channel(IN_FLIGHT);
        let tap = Tap {
            to: Some(to),
            max_frames,
            sent: 0,
            ended: false,
        };
        (tap, from)
    }

    /// A tap with no receiver: the listing hands nothing on.
    pub fn none() -> Tap {
        Tap {
            to: None,
            max_frames: 0,
            sent: 0,
            ended: false,
        }
    }

    /// Before the first frame: the source yields at most `bound` frames (`None`: unknown) of
    /// `frame_bytes` each, and the list holds inputs up to `budget` bytes. Closes the tap
    /// unless every frame is sure to be held and wanted.
    pub(crate) fn begin(&mut self, bound: Option<usize>, frame_bytes: usize, budget: usize) {
        let fits = bound.is_some_and(|n| {
            n <= self.max_frames && n.checked_mul(frame_bytes).is_some_and(|b| b <= budget)
        });
        if !fits {
            self.stop();
        } else if let Some(to) = &self.to
            && to.send(Tapped::Begin).is_err()
        {
            self.stop();
        }
    }

    /// The next frame as `run` reads it (and as the list holds it).
    pub(crate) fn frame(&mut self, pixels: &Pixels) {
        if let Some(to) = &self.to {
            match to.send(Tapped::Frame(pixels.clone())) {
                Ok(()) => self.sent += 1,
                // The receiver is gone: it no longer wants them.
                Err(_) => self.stop(),
            }
        }
    }

    /// Hands nothing more on: the receiver sees the channel close without [`Tapped::End`].
    pub(crate) fn stop(&mut self) {
        self.to = None;
    }

    /// After the last frame: [`Tapped::End`] when the list holds its `frames` inputs (`held`)
    /// and every one of them was handed on; otherwise the channel just closes.
    pub(crate) fn end(&mut self, frames: usize, held: bool) {
        if let Some(to) = self.to.take()
            && held
            && self.sent == frames
            && frames <= self.max_frames
        {
            self.ended = to.send(Tapped::End).is_ok();
        }
    }

    /// Whether every frame of the list went through and [`Tapped::End`] was sent.
    pub fn ended(&self) -> bool {
        self.ended
    }
}

/// The frames a [`Tap`] hands on, as an iterator (each `next` blocks until a frame comes) that
/// ends at [`Tapped::End`] or when the channel closes; [`Received::complete`] tells the two apart.
pub struct Received {
    from: Receiver<Tapped>,
    /// A frame that came while [`Received::begun`] waited for [`Tapped::Begin`].
    pending: Option<Pixels>,
    ended: bool,
    closed: bool,
}

impl Received {
    pub fn new(from: Receiver<Tapped>) -> Self {
        Received {
            from,
            pending: None,
            ended: false,
            closed: false,
        }
    }

    /// Waits until the tap says whether frames will come: true at [`Tapped::Begin`] (or a
    /// first frame), false when it closed (or ended) without one.
    pub fn begun(&mut self) -> bool {
        if self.pending.is_some() {
            return true;
        }
        match self.receive() {
            Some(Tapped::Frame(pixels)) => {
                self.pending = Some(pixels);
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    /// The next message but [`Tapped::End`]; `None` at the end or when the channel closed
    /// (each noted).
    fn receive(&mut self) -> Option<Tapped> {
        if self.ended || self.closed {
            return None;
        }
        match self.from.recv() {
            Ok(Tapped::End) => {
                self.ended = true;
                None
            }
            Ok(message) => Some(message),
            Err(_) => {
                self.closed = true;
                None
            }
        }
    }

    /// Whether [`Tapped::End`] came: every frame of the list went through.
    pub fn complete(&self) -> bool {
        self.ended
    }
}

impl Iterator for Received {
    type Item = Pixels;

    fn next(&mut self) -> Option<Pixels> {
        if let Some(pixels) = self.pending.take() {
            return Some(pixels);
        }
        match self.receive()? {
            Tapped::Frame(pixels) => Some(pixels),
            _ => self.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Received, Tap};
    use ndarray::Array3;

    fn frame(v: u8) -> super::Pixels {
        Array3::from_elem((1, 2, 2), v)
    }

    #[test]
    fn frames_go_through_in_order_and_end_only_when_all_were_held() {
        let (mut tap, from) = Tap::new(10);
        tap.begin(Some(3), 4, 100);
        let sender = std::thread::spawn(move || {
            for v in 0..3 {
                tap.frame(&frame(v));
            }
            tap.end(3, true);
            tap.ended()
        });
        let mut received = Received::new(from);
        let got: Vec<u8> = received.by_ref().map(|f| f[[0, 0, 0]]).collect();
        assert!(sender.join().unwrap());
        assert_eq!(got, [0, 1, 2]);
        assert!(received.complete());
    }

    #[test]
    fn a_tap_closes_without_end_when_frames_were_not_all_held_or_sent() {
        // Inputs no longer held at the end.
        let (mut tap, from) = Tap::new(10);
        tap.begin(Some(2), 4, 100);
        tap.frame(&frame(1));
        tap.frame(&frame(2));
        tap.end(2, false);
        assert!(!tap.ended());
        drop(tap);
        let mut received = Received::new(from);
        assert_eq!(received.by_ref().count(), 2);
        assert!(!received.complete());

        // More frames in the list than went through (a header that undercounted, a stop).
        let (mut tap, from) = Tap::new(10);
        tap.begin(Some(2), 4, 100);
        tap.frame(&frame(1));
        tap.end(2, true);
        drop(tap);
        let mut received = Received::new(from);
        assert_eq!(received.by_ref().count(), 1);
        assert!(!received.complete());
    }

    #[test]
    fn begin_closes_the_tap_past_the_frame_limit_the_budget_or_an_unknown_length() {
        for (bound, bytes, budget) in [
            (Some(11), 1, 1000),
            (Some(5), 30, 100),
            (None, 1, 1000),
            (Some(usize::MAX), 2, usize::MAX),
        ] {
            let (mut tap, from) = Tap::new(10);
            tap.begin(bound, bytes, budget);
            tap.frame(&frame(1));
            tap.end(1, true);
            drop(tap);
            let mut received = Received::new(from);
            assert!(!received.begun(), "{bound:?} {bytes} {budget}");
            assert!(received.next().is_none(), "{bound:?} {bytes} {budget}");
            assert!(!received.complete());
        }
    }

    /// `begun` answers at `begin`, before any frame: yes when the frames will come (and then
    /// every frame still comes, in order), no when the tap closed.
    #[test]
    fn begun_answers_before_the_first_frame() {
        let (mut tap, from) = Tap::new(10);
        let mut received = Received::new(from);
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let sender = std::thread::spawn(move || {
            tap.begin(Some(2), 4, 100);
            // No frame until the receiver has its answer.
            wait.recv().unwrap();
            tap.frame(&frame(7));
            tap.frame(&frame(8));
            tap.end(2, true);
        });
        assert!(received.begun());
        go.send(()).unwrap();
        let got: Vec<u8> = received.by_ref().map(|f| f[[0, 0, 0]]).collect();
        sender.join().unwrap();
        assert_eq!(got, [7, 8]);
        assert!(received.complete());

        // A frame already waiting is not lost by asking.
        let (mut tap, from) = Tap::new(10);
        tap.begin(Some(1), 4, 100);
        tap.frame(&frame(3));
        tap.end(1, true);
        drop(tap);
        let mut received = Received::new(from);
        assert!(received.begun() && received.begun());
        assert_eq!(
            received.by_ref().map(|f| f[[0, 0, 0]]).collect::<Vec<_>>(),
            [3]
        );
        assert!(received.complete());

        // A tap stopped before `begin` (a source that failed to open) says no.
        let (mut tap, from) = Tap::new(10);
        tap.stop();
        drop(tap);
        assert!(!Received::new(from).begun());
    }
}
