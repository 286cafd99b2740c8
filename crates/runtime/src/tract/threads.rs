//! Whether tract's multithreaded matrix products pay off for a model, decided by timing it.
//!
//! tract splits a matrix product across its thread pool when it is large enough, but for a small
//! encoder the hand-off costs more than it saves: the bundled encoder (28 MFLOPs per sample) runs
//! batch 1 in 0.475 ms on one thread and 0.614 ms on two (`edge-ssl bench --backend tract
//! --threads 1,2 --batch 1`, quiet machine), while ResNet-18 gains from the second thread. Rather
//! than guess from FLOPs, a session with several threads times its batch-1 plan both ways at load
//! (alternating, keeping each side's fastest run) and keeps the faster executor. A model whose
//! single run already takes longer than [`BIG_RUN`] keeps the pool without timing: its products
//! are large enough, and more runs would lengthen the cold start.

use std::time::{Duration, Instant};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::tract_linalg::multithread::{Executor, multithread_tract_scope};

use super::split::Plan;

/// A batch-1 run at least this long keeps the thread pool without being timed.
const BIG_RUN: Duration = Duration::from_millis(20);
/// Timing stops after this much time or [`ROUNDS`] rounds, whichever comes first.
const BUDGET: Duration = Duration::from_millis(60);
const ROUNDS: usize = 5;

/// The faster of one thread and `pool` for `plan` on inputs of `shape`, and whether one thread
/// won. Errors (which the caller's own runs would report) count as "keep the pool".
pub(crate) fn faster_executor(
    plan: &mut Plan,
    shape: &[usize],
    pool: Executor,
) -> (Executor, bool) {
    let Ok(input) = Tensor::zero::<f32>(shape) else {
        return (pool, false);
    };
    let input = input.into_tvalue();
    let mut time = |executor: &Executor| -> Option<Duration> {
        let start = Instant::now();
        multithread_tract_scope(executor.clone(), || plan.run(tvec!(input.clone()))).ok()?;
        Some(start.elapsed())
    };
    let single = Executor::SingleThread;
    let (Some(first_pool), Some(first_single)) = (time(&pool), time(&single)) else {
        return (pool, false);
    };
    if first_pool >= BIG_RUN {
        return (pool, false);
    }
    let (mut best_pool, mut best_single) = (first_pool, first_single);
    let start = Instant::now();
    for _ in 0..ROUNDS {
        match (time(&pool), time(&single)) {
            (Some(p), Some(s)) => {
                best_pool = best_pool.min(p);
                best_single = best_single.min(s);
            }
            _ => return (pool, false),
        }
        if start.elapsed() >= BUDGET {
            break;
        }
    }
    if best_single < best_pool {
        (single, true)
    } else {
        (pool, false)
    }
}
