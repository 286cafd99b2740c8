//! Several sessions of one model running independent batches side by side.
//!
//! A small encoder on a small CPU spends much of a multi-threaded run waiting at the barrier
//! after every op, and on a machine shared with other work a thread that is descheduled
//! stalls its partner at each one. One single-threaded session per core, each on its own
//! batch, has no barrier at all (measured on this 2-core box under load: 0.36 ms/image for
//! one single-threaded session against 0.44–0.93 ms for one 2-thread session). Sessions of
//! the same model with the same thread count compute bit-identical rows, so which session
//! ran a batch never shows in the result.

use std::sync::Mutex;
use std::sync::mpsc;

use edge_ssl_core::Tensor;

use crate::{RuntimeError, Session};

/// Batches the producer may have ready before a session takes them.
const AHEAD: usize = 2;

pub struct SessionPool {
    sessions: Vec<Box<dyn Session>>,
}

impl SessionPool {
    /// A pool of `sessions` (at least one).
    pub fn new(sessions: Vec<Box<dyn Session>>) -> Result<Self, RuntimeError> {
        if sessions.is_empty() {
            return Err(RuntimeError::Input("a session pool needs a session".into()));
        }
        Ok(SessionPool { sessions })
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn describe(&self) -> String {
        format!("{} × {}", self.sessions.len(), self.sessions[0].describe())
    }

    /// Pulls single-input batches from `inputs` on a producer thread (so building the next
    /// batch overlaps running this one), runs each on whichever session is free, and hands
    /// `consume(index, outputs)` the outputs of batch number `index` on the caller's thread,
    /// in completion order. The first error — from `inputs`, a session or `consume` — stops
    /// everything and is returned.
    pub fn run_batches<E, I, F>(&mut self, inputs: I, mut consume: F) -> Result<(), E>
    where
        E: From<RuntimeError> + Send,
        I: Iterator<Item = Result<Tensor, E>> + Send,
        F: FnMut(usize, Vec<Tensor>) -> Result<(), E>,
    {
        let (to_sessions, queue) = mpsc::sync_channel::<(usize, Result<Tensor, E>)>(AHEAD);
        // `None` once the caller stops early: the producer's next send then fails and it ends.
        let queue = Mutex::new(Some(queue));
        // Bounded too: outputs can be large (the BN probe returns every BN input), and a slow
        // consumer must hold the sessions back instead of letting outputs pile up in memory.
        let (done, results) =
            mpsc::sync_channel::<(usize, Result<Vec<Tensor>, E>)>(self.sessions.len());
        std::thread::scope(|s| {
            s.spawn(move || {
                for item in inputs.enumerate() {
                    if to_sessions.send(item).is_err() {
                        break;
                    }
                }
            });
            for session in &mut self.sessions {
                let (queue, done) = (&queue, done.clone());
                s.spawn(move || {
                    loop {
                        let next = match queue.lock().map(|q| q.as_ref().map(|q| q.recv())) {
                            Ok(Some(Ok(next))) => next,
                            _ => break,
                        };
                        let (index, result) = match next {
                            (i, Ok(input)) => (i, session.run(&[input.view()]).map_err(E::from)),
                            (i, Err(e)) => (i, Err(e)),
                        };
                        let failed = result.is_err();
                        if done.send((index, result)).is_err() || failed {
                            break;
                        }
                    }
                });
            }
            drop(done);
            let outcome = results
                .iter()
                .try_for_each(|(index, outputs)| consume(index, outputs?));
            if outcome.is_err() {
                // Unblocks the producer and any session waiting to hand over a result; the
                // sessions then stop at their next batch.
                drop(results);
                if let Ok(mut q) = queue.lock() {
                    *q = None;
                }
            }
            outcome
        })
    }
}
