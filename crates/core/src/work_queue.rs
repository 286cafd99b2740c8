//! Items handed out one at a time to a few scoped threads, results back in item order.
//!
//! Both the listing's decodes and the trainer's operators split independent work over the
//! cores of a small, shared device. Fixed halves leave one thread idle when the other drew the
//! slower items or lost its core to other load for a while; here each thread takes the next item
//! not yet taken, and the results come back in item order whichever thread made them.

use std::any::Any;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A panic's payload, as [`std::thread::JoinHandle::join`] gives it.
pub type Panic = Box<dyn Any + Send>;

/// `work(worker, item)` for every item, on up to `threads` threads (the calling thread is worker
/// `0`; `worker` lets the work pick per-thread scratch). Each result is at its item's index;
/// `None` where the thread that took the item panicked, with the first such panic's payload (a
/// panic on the calling thread goes on as usual). The caller decides: a file that crashed its
/// decoder is an undecodable file, a panicking operator a panic to resume.
pub fn claim_each<I: Send, R: Send>(
    items: Vec<I>,
    threads: usize,
    work: impl Fn(usize, I) -> R + Sync,
) -> (Vec<Option<R>>, Option<Panic>) {
    let n = items.len();
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 {
        return (items.into_iter().map(|i| Some(work(0, i))).collect(), None);
    }
    let slots: Vec<Mutex<Option<I>>> = items.into_iter().map(|i| Mutex::new(Some(i))).collect();
    let next = AtomicUsize::new(0);
    let (work, slots, next) = (&work, &slots, &next);
    let take = move |w: usize| {
        let mut done = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            if k >= n {
                return done;
            }
            // Each index is claimed once: the lock is never contended, and a slot's item is
            // taken exactly once.
            let item = slots[k].lock().ok().and_then(|mut s| s.take());
            if let Some(item) = item {
                done.push((k, work(w, item)));
            }
        }
    };
    let (parts, panic) = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|w| s.spawn(move || take(w))).collect();
        let mut parts = take(0);
        let mut panic = None;
        for handle in handles {
            match handle.join() {
                Ok(part) => parts.extend(part),
                Err(payload) => {
                    panic.get_or_insert(payload);
                }
            }
        }
        (parts, panic)
    });
    let mut out: Vec<Option<R>> = (0..n).map(|_| None).collect();
    for (k, r) in parts {
        out[k] = Some(r);
    }
    (out, panic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_once_in_item_order() {
        for threads in [1, 2, 3, 8] {
            let (out, panic) = claim_each((0..37).collect(), threads, |w, i: usize| (w, i * 10));
            assert!(panic.is_none());
            let values: Vec<usize> = out
                .iter()
                .map(|r| r.map_or(usize::MAX, |(_, v)| v))
                .collect();
            assert_eq!(values, (0..37).map(|i| i * 10).collect::<Vec<_>>());
            assert!(out.iter().flatten().all(|&(w, _)| w < threads));
        }
        let (out, panic) = claim_each(Vec::<u8>::new(), 4, |_, i| i);
        assert!(out.is_empty() && panic.is_none());
    }

    /// A worker thread that panics loses the items it took (`None`) and hands back the payload;
    /// the other items are still computed. (Worker 0 is slowed so that worker 1 takes some.)
    #[test]
    fn a_panicking_worker_loses_only_its_items() {
        let (out, panic) = claim_each((0..20).collect(), 2, |w, i: usize| {
            if w == 1 {
                panic!("worker 1 fails on item {i}");
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
            i
        });
        assert!(panic.is_some());
        assert!(out.iter().any(Option::is_none));
        assert!(
            out.iter()
                .enumerate()
                .all(|(i, r)| r.is_none_or(|v| v == i))
        );
        assert!(out.iter().filter(|r| r.is_some()).count() >= 18);
    }
}
