//! Bounds on `--threads` (capped per core, said on stderr: `--threads 10000` once spawned
//! thousands) and `--batch` (refused before allocating when its tensors would not fit in the
//! memory available now: `bench --batch 100000` once ended in `bad_alloc`).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::bail;
use edge_ssl::bench::memory::BatchMemory;

/// Threads per core past which a request is capped.
pub const THREADS_PER_CORE: usize = 4;

/// `requested` threads, at most [`THREADS_PER_CORE`] × the cores; a capped request is noted on
/// stderr once per process.
pub fn cap_threads(requested: usize) -> usize {
    static SAID: AtomicBool = AtomicBool::new(false);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cap = THREADS_PER_CORE * cores;
    if requested > cap {
        if !SAID.swap(true, Ordering::Relaxed) {
            eprintln!(
                "note: --threads {requested} is more than {THREADS_PER_CORE} per core; using {cap} ({cores} cores)"
            );
        }
        return cap;
    }
    requested
}

/// Refuses a `batch` of `input_shape`-sized samples (batch 1) of the model at `onnx` whose
/// tensors would not fit in the memory available now (`MemAvailable`).
pub fn check_batch(onnx: &Path, input_shape: &[usize], batch: usize) -> anyhow::Result<()> {
    let m = BatchMemory::of(onnx, input_shape, batch);
    if m.too_large() {
        bail!(
            "--batch {batch}: its tensors take about {} MB ({} kB a sample), more than the {} MB of memory available",
            m.need >> 20,
            m.per_sample >> 10,
            m.available.unwrap_or(0) >> 20
        );
    }
    Ok(())
}
