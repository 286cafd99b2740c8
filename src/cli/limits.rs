//! Bounds on the knobs a user turns: `--threads` and `--batch`.
//!
//! `--threads 10000` spawned thousands of threads (embed took 103 s; `run` reached 4,951) and
//! `bench --batch 100000` ended in `bad_alloc`. Past a few threads per core nothing gets
//! faster, so thread counts are capped and the cap is said on stderr; a batch whose tensors
//! would not fit in the memory available now is refused before anything is allocated.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::bail;

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
    let per_sample = edge_ssl_runtime::inspect::activation_bytes_per_sample(onnx, input_shape)
        .unwrap_or_else(|_| input_shape.iter().map(|&d| d as u64).product::<u64>() * 4);
    let need = per_sample.saturating_mul(batch as u64);
    if let Some(available) = available_memory()
        && need > available
    {
        bail!(
            "--batch {batch}: its tensors take about {} MB ({} kB a sample), more than the {} MB of memory available",
            need >> 20,
            per_sample >> 10,
            available >> 20
        );
    }
    Ok(())
}

/// `MemAvailable` from /proc/meminfo, in bytes (Linux); `None` elsewhere.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb.saturating_mul(1024))
}
