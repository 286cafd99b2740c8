//! [`edge_ssl_core::gemm`] split over the trainer's threads for the dense layers.

use edge_ssl_core::gemm;
use ndarray::{ArrayView2, ArrayViewMut2, Axis, s};

/// Below this many multiply-adds [`gemm_threaded`] stays on the calling thread (a thread
/// costs more than it saves).
const THREADED_MIN: usize = 1 << 21;

/// Where blocks may start (see [`gemm_threaded`]).
const TILE_ALIGN: usize = 64;

/// [`gemm`] on up to [`crate::parallel::threads`] threads, for the dense layers (the adapter's
/// and the novelty network's): `c` is cut along its longer side into one block of rows (or
/// columns) per thread, and each block is one [`gemm`] call. Every element of `c` still sums
/// over all of `k` in one call, in the same blocks and order, so the result is bit for bit
/// [`gemm`]'s whatever the thread count (`split_gemm_is_bit_identical` checks it).
pub(crate) fn gemm_threaded(
    alpha: f32,
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    beta: f32,
    mut c: ArrayViewMut2<f32>,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    let threads = crate::parallel::threads();
    if threads < 2 || m.saturating_mul(k).saturating_mul(n) < THREADED_MIN || m.max(n) <= TILE_ALIGN
    {
        return gemm(alpha, a, b, beta, c);
    }
    let axis = if m >= n { Axis(0) } else { Axis(1) };
    // Blocks start on a multiple of 64 rows or columns, a whole number of the GEMM's tiles in
    // the direction it vectorizes (16 lanes): an element's sum then runs in the same kernel
    // and order in a block as in one call (`split_gemm_is_bit_identical` checks it).
    let chunk = c
        .len_of(axis)
        .div_ceil(threads)
        .next_multiple_of(TILE_ALIGN);
    let blocks: Vec<_> = c
        .axis_chunks_iter_mut(axis, chunk)
        .enumerate()
        .map(|(i, block)| {
            let range = i * chunk..i * chunk + block.len_of(axis);
            match axis {
                Axis(0) => (a.slice(s![range, ..]), b, block),
                _ => (a, b.slice(s![.., range]), block),
            }
        })
        .collect();
    crate::parallel::run(blocks, |_, (a, b, c)| gemm(alpha, a, b, beta, c));
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn split_gemm_is_bit_identical() {
        let mut rng = crate::Rng::new(3);
        for &(m, k, n) in &[
            (128, 1936, 128),
            (128, 128, 1936),
            (37, 300, 301),
            (700, 129, 33),
            (333, 257, 130),
        ] {
            let a = Array2::from_shape_simple_fn((m, k), || rng.uniform(-1.0, 1.0));
            let b = Array2::from_shape_simple_fn((n, k), || rng.uniform(-1.0, 1.0));
            let c0 = Array2::from_shape_simple_fn((m, n), || rng.uniform(-1.0, 1.0));
            let mut one = c0.clone();
            gemm(0.7, a.view(), b.t(), 1.0, one.view_mut());
            for threads in [2, 3, 4] {
                crate::parallel::set_threads(threads);
                let mut split = c0.clone();
                gemm_threaded(0.7, a.view(), b.t(), 1.0, split.view_mut());
                let same = one
                    .iter()
                    .zip(&split)
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{m}×{k}×{n} on {threads} threads");
            }
            crate::parallel::set_threads(0);
        }
    }
}
