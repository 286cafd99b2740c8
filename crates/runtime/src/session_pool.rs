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
    pub fn run_batches<E, I, F>(&mut self, inputs: I, consume: F) -> Result<(), E>
    where
        E: From<RuntimeError> + Send,
        I: Iterator<Item = Result<Tensor, E>> + Send,
        F: FnMut(usize, Vec<Tensor>) -> Result<(), E>,
    {
        self.run_batches_returning(inputs, None, consume)
    }

    /// [`run_batches`](Self::run_batches), handing each input batch back through `spent` once
    /// its session has run it, so the producer can write the next batch into that memory
    /// instead of allocating (and zeroing) a new one. A closed receiver is ignored.
    pub fn run_batches_returning<E, I, F>(
        &mut self,
        inputs: I,
        spent: Option<mpsc::Sender<Tensor>>,
        mut consume: F,
    ) -> Result<(), E>
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
                let (queue, done, spent) = (&queue, done.clone(), spent.clone());
                s.spawn(move || {
                    loop {
                        let next = match queue.lock().map(|q| q.as_ref().map(|q| q.recv())) {
                            Ok(Some(Ok(next))) => next,
                            _ => break,
                        };
                        let (index, result) = match next {
                            (i, Ok(input)) => {
                                let outputs = session.run(&[input.view()]).map_err(E::from);
                                if let Some(spent) = &spent {
                                    let _ = spent.send(input);
                                }
                                (i, outputs)
                            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Result as RuntimeResult, TensorInfo};
    use edge_ssl_core::TensorView;

    /// Sums each input row.
    struct RowSums(Vec<TensorInfo>);

    impl Session for RowSums {
        fn inputs(&self) -> &[TensorInfo] {
            &self.0
        }
        fn outputs(&self) -> &[TensorInfo] {
            &self.0
        }
        fn run(&mut self, inputs: &[TensorView]) -> RuntimeResult<Vec<Tensor>> {
            let rows = inputs[0].sum_axis(ndarray::Axis(1)).into_dyn();
            Ok(vec![rows])
        }
        fn describe(&self) -> String {
            "row sums".into()
        }
    }

    /// Every batch comes back through `spent` after its session ran it, unchanged, and the
    /// outputs are what `run_batches` gives.
    #[test]
    fn spent_batches_come_back_once_each() {
        let sessions = || -> Vec<Box<dyn Session>> {
            (0..2)
                .map(|_| Box::new(RowSums(Vec::new())) as Box<dyn Session>)
                .collect()
        };
        let batches: Vec<Tensor> = (0..7)
            .map(|i| ndarray::Array2::from_elem((3, 4), i as f32).into_dyn())
            .collect();
        let run = |spent| {
            let mut pool = SessionPool::new(sessions()).unwrap();
            let mut sums = vec![Vec::new(); batches.len()];
            let inputs = batches.iter().cloned().map(Ok::<_, RuntimeError>);
            pool.run_batches_returning(inputs, spent, |i, out| {
                sums[i] = out[0].iter().copied().collect::<Vec<f32>>();
                Ok(())
            })
            .unwrap();
            sums
        };
        let (spent, back) = mpsc::channel();
        let with = run(Some(spent));
        assert_eq!(with, run(None));
        assert_eq!(with[6], vec![24.0; 3]);
        let mut returned: Vec<Tensor> = back.try_iter().collect();
        returned.sort_by(|a, b| a.iter().next().partial_cmp(&b.iter().next()).unwrap());
        assert_eq!(returned, batches);
    }
}
