//! Whether a batch fits: `bench --batch 100000` once ended in `bad_alloc`. The tensors a batch
//! needs (tract's activation estimate per sample, else the input alone) are compared with the
//! memory available now, before anything is allocated.

use std::path::Path;

/// What a batch of a model needs, and what this machine has now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMemory {
    pub per_sample: u64,
    pub need: u64,
    /// `MemAvailable` in bytes (Linux); `None` where it cannot be read.
    pub available: Option<u64>,
}

impl BatchMemory {
    /// `batch` samples of `input_shape` (at batch 1) of the model at `onnx`.
    pub fn of(onnx: &Path, input_shape: &[usize], batch: usize) -> Self {
        let per_sample =
            edge_ssl_runtime::onnx::inspect::activation_bytes_per_sample(onnx, input_shape)
                .unwrap_or_else(|_| input_shape.iter().map(|&d| d as u64).product::<u64>() * 4);
        BatchMemory {
            per_sample,
            need: per_sample.saturating_mul(batch as u64),
            available: available_memory(),
        }
    }

    /// Whether the batch is known not to fit.
    pub fn too_large(&self) -> bool {
        self.available.is_some_and(|a| self.need > a)
    }
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
