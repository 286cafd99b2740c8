//! The trainer's threads, and why its results do not depend on how many there are.
//!
//! Training the encoder spends its time in convolutions (im2col, GEMM, col2im) and
//! BatchNormalization over batches of hundreds of images: independent work per image or per
//! channel, split here over a few scoped threads. What sums over images — a convolution's
//! weight gradient — is split into a fixed number of [`LANES`] whatever the thread count
//! (`parts`): each lane sums its images on its own, and the lanes are added in lane order. One
//! thread runs the lanes one after another, four run them side by side; the floating-point sums are
//! the same, so a run resumed with another `--threads` still continues bit for bit.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Work that sums over the images of a batch is split into this many lanes.
pub const LANES: usize = 4;

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets how many threads the trainer's heavy operators use (0, the default: every core, up
/// to [`LANES`]). Results do not depend on it.
pub fn set_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// The threads the heavy operators use now.
#[must_use]
pub fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, LANES)
}

/// `0..n` in `k` contiguous ranges, as even as can be (`k ≥ 1`; empty ones when `n < k`).
/// For work whose results do not depend on where it is cut: more parts than threads let a
/// thread that finishes early take another (see [`run`]).
pub(crate) fn parts(n: usize, k: usize) -> Vec<Range<usize>> {
    let k = k.max(1);
    (0..k).map(|l| l * n / k..(l + 1) * n / k).collect()
}

/// `work(worker, item)` for every item, on up to [`threads`] threads (one of them the calling
/// thread), each taking the next item not yet taken ([`edge_ssl_core::claim_each`]), so a thread
/// slowed by the machine's other load holds up no more than one item; `worker` numbers the
/// thread (`0..threads()`), so it can pick per-thread scratch. Results come back in item order,
/// whichever thread computed them; a panic goes on in the caller.
pub(crate) fn run<I: Send, R: Send>(items: Vec<I>, work: impl Fn(usize, I) -> R + Sync) -> Vec<R> {
    let (results, panic) = edge_ssl_core::claim_each(items, threads(), work);
    // An operator does not panic on data (shapes are checked before); if one did, the panic
    // goes on in the caller as it would have without threads.
    if let Some(payload) = panic {
        std::panic::resume_unwind(payload);
    }
    // Without a panic every item has its result.
    results.into_iter().flatten().collect()
}

/// Below this many values an element-wise pass stays on the calling thread (a thread costs
/// more than it saves).
const ELEMENTWISE_MIN: usize = 1 << 16;

/// `f(out_chunk, in_chunk)` over matching contiguous chunks of `out` and `input` (the same
/// length), on up to [`threads`] threads. For element-wise work, whose result does not depend
/// on where the chunks are cut.
pub(crate) fn zip_chunks<A: Send, B: Sync>(
    out: &mut [A],
    input: &[B],
    f: impl Fn(&mut [A], &[B]) + Sync,
) {
    assert_eq!(out.len(), input.len(), "element-wise operands");
    let workers = threads().min(out.len() / ELEMENTWISE_MIN).max(1);
    if workers == 1 {
        return f(out, input);
    }
    let per = out.len().div_ceil(workers);
    let f = &f;
    std::thread::scope(|s| {
        let mut parts = out.chunks_mut(per).zip(input.chunks(per));
        let own = parts.next();
        for (o, i) in parts {
            s.spawn(move || f(o, i));
        }
        if let Some((o, i)) = own {
            f(o, i);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_chunks_covers_every_element_once() {
        let n = 3 * ELEMENTWISE_MIN + 7;
        let input: Vec<u32> = (0..n as u32).collect();
        let mut out = vec![0u32; n];
        zip_chunks(&mut out, &input, |o, i| {
            o.iter_mut().zip(i).for_each(|(o, &i)| *o += 2 * i + 1);
        });
        assert!(out.iter().enumerate().all(|(k, &v)| v == 2 * k as u32 + 1));
    }

    #[test]
    fn run_keeps_item_order_and_numbers_workers() {
        let out = run((0..7).collect(), |w, i: usize| (w, i * 10));
        let values: Vec<usize> = out.iter().map(|&(_, v)| v).collect();
        assert_eq!(values, [0, 10, 20, 30, 40, 50, 60]);
        assert!(out.iter().all(|&(w, _)| w < threads()));
    }

    #[test]
    fn parts_cover_every_index_once_in_order() {
        for (n, k) in [(0, 3), (5, 16), (512, 16), (7, 1), (9, 0)] {
            let p = parts(n, k);
            assert_eq!(p.len(), k.max(1));
            assert_eq!((p[0].start, p[p.len() - 1].end), (0, n));
            assert!(p.windows(2).all(|w| w[0].end == w[1].start));
            let sizes: Vec<usize> = p.iter().map(ExactSizeIterator::len).collect();
            assert!(
                sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
                "{n}, {k}: {sizes:?}"
            );
        }
    }
}
