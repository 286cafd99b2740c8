//! The one place that multiplies f32 matrices, on ndarray views of any strides: the trainer's
//! layers (`edge-ssl-train`) and the runtime's batched 1×1 convolutions for tract's BN probe
//! (`edge-ssl-runtime`) both multiply through it.
//!
//! Strides instead of copies: the transposes of backward (`Wᵀ·dY`, `dY·Xᵀ`) are just views
//! with swapped strides, and the packing the GEMM does anyway absorbs them.
//!
//! The kernels are `gemm-f32`'s (faer's GEMM: AVX-512, AVX2+FMA, NEON), one thread per call
//! (the callers share the work out themselves). It replaced `matrixmultiply`: a 3-epoch
//! whole-encoder `adapt` of the bundled encoder (2 threads, Xeon with AVX-512) took 24.3–24.7 s
//! instead of 25.7–26.8 s, back to back, because gemm-f32 reads a left operand whose columns are
//! contiguous without packing it — hence the orientation chosen in [`gemm`] (without it the
//! same run was 8–10 % slower than with matrixmultiply). Each element's sum over `k` runs in
//! blocks fixed by `k` and the machine's caches, so blocks of rows or columns of `c` starting on
//! multiples of 64, each its own call (as the trainer's threads cut them), give the bits of one
//! call (tested).

use std::mem::MaybeUninit;

use ndarray::{ArrayView2, ArrayViewMut2};

/// `c = alpha·a·b + beta·c`; with `beta = 0` the old content of `c` is ignored (may be NaN).
pub fn gemm(
    alpha: f32,
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    beta: f32,
    mut c: ArrayViewMut2<f32>,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(
        k == k2 && c.dim() == (m, n),
        "gemm shapes {:?}·{:?} → {:?}",
        a.dim(),
        b.dim(),
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.mapv_inplace(|v| if beta == 0.0 { 0.0 } else { beta * v });
        return;
    }
    let sc = c.strides();
    let (rsc, csc) = (sc[0], sc[1]);
    // SAFETY: the view guarantees every (i, j) inside its dims is in bounds at
    // ptr + i·rsc + j·csc, and `c` is a unique borrow.
    unsafe { product(alpha, a, b, beta, c.as_mut_ptr(), (rsc, csc)) }
}

/// `a·b` (any strides) into `c` with strides `(rsc, csc)`: `c = alpha·a·b + beta·c`.
///
/// # Safety
/// `c + i·rsc + j·csc` is writable (and readable, unless `beta = 0`) for every `i < a.nrows()`,
/// `j < b.ncols()`, and nothing else accesses it during the call; `a.ncols() == b.nrows() > 0`.
unsafe fn product(
    alpha: f32,
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    beta: f32,
    c: *mut f32,
    (rsc, csc): (isize, isize),
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    let (sa, sb) = (a.strides(), b.strides());
    // gemm-f32 is column-major at heart: it reads a left operand whose columns are contiguous
    // without packing it, and writes contiguous columns of C. A row-major C (the trainer's
    // activations) is therefore computed as Cᵀ = bᵀ·aᵀ: same products, same sums, and the
    // choice depends on the strides alone, so a block of C gets the bits one call gives it.
    let transpose = rsc.unsigned_abs() > csc.unsigned_abs();
    let (m, n, c_rs, c_cs) = match transpose {
        false => (m, n, rsc, csc),
        true => (n, m, csc, rsc),
    };
    let (lhs, lhs_rs, lhs_cs, rhs, rhs_rs, rhs_cs) = match transpose {
        false => (a.as_ptr(), sa[0], sa[1], b.as_ptr(), sb[0], sb[1]),
        true => (b.as_ptr(), sb[1], sb[0], a.as_ptr(), sa[1], sa[0]),
    };
    // SAFETY: the views guarantee every (i, k) and (k, j) inside their dims is in bounds at
    // ptr + i·rs + j·cs (transposed: the same elements with the roles of the strides swapped);
    // the caller vouches for `c`. gemm-f32 takes column strides first, and computes
    // `dst = alpha·dst + beta·lhs·rhs` (its names swapped against BLAS'), reading `dst` only
    // when told to; the operands are only read, whatever its `*mut` says.
    unsafe {
        gemm_f32::gemm::f32::get_gemm_fn()(
            m,
            n,
            k,
            c,
            c_cs,
            c_rs,
            beta != 0.0,
            lhs.cast_mut(),
            lhs_cs,
            lhs_rs,
            rhs.cast_mut(),
            rhs_cs,
            rhs_rs,
            beta,
            alpha,
            false,
            false,
            false,
            gemm_common::Parallelism::None,
        );
    }
}

/// `c = alpha·a·b` into `c`, `m × n` values row-major that need not be initialized: every
/// one is written (the GEMM does not read C when β = 0). For outputs allocated only to be
/// written over: zeroing them first was 3.9 % of a whole-encoder training run (Conv and
/// BatchNormalization outputs, `memset` in `perf record` of `adapt --train all`).
///
/// # Panics
/// When the shapes do not agree or `c` does not hold `m × n` values.
pub fn gemm_overwrite(
    alpha: f32,
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    c: &mut [MaybeUninit<f32>],
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(
        k == k2 && c.len() == m * n,
        "gemm shapes {:?}·{:?} → {} values",
        a.dim(),
        b.dim(),
        c.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(MaybeUninit::new(0.0));
        return;
    }
    // SAFETY: `c` holds m·n values, row-major (row stride n, column stride 1), a unique
    // borrow; with β = 0 sgemm only writes C, so its values need no initialization.
    unsafe {
        product(
            alpha,
            a,
            b,
            0.0,
            c.as_mut_ptr().cast::<f32>(),
            (n as isize, 1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn writing_over_uninitialized_values_matches_gemm() {
        let a = Array2::from_shape_fn((5, 3), |(i, j)| (i * 3 + j) as f32 * 0.1 - 0.4);
        let b = Array2::from_shape_fn((4, 3), |(i, j)| (i as f32 - j as f32) * 0.3);
        let mut want = Array2::from_elem((5, 4), f32::NAN);
        gemm(1.5, a.view(), b.t(), 0.0, want.view_mut());
        let mut c = vec![MaybeUninit::<f32>::uninit(); 20];
        gemm_overwrite(1.5, a.view(), b.t(), &mut c);
        // SAFETY: gemm_overwrite wrote all 20 values.
        let got: Vec<f32> = c.iter().map(|v| unsafe { v.assume_init() }).collect();
        assert_eq!(got, want.iter().copied().collect::<Vec<_>>());
        let mut empty = vec![MaybeUninit::<f32>::uninit(); 6];
        gemm_overwrite(
            1.0,
            Array2::zeros((2, 0)).view(),
            Array2::zeros((0, 3)).view(),
            &mut empty,
        );
        // SAFETY: a product over k = 0 writes zeros.
        assert!(empty.iter().all(|v| unsafe { v.assume_init() } == 0.0));
    }

    #[test]
    fn matches_ndarray_dot_on_transposed_views() {
        let a = Array2::from_shape_fn((5, 3), |(i, j)| (i * 3 + j) as f32 * 0.1 - 0.4);
        let b = Array2::from_shape_fn((4, 3), |(i, j)| (i as f32 - j as f32) * 0.3);
        let mut c = Array2::from_elem((5, 4), 1.0f32);
        gemm(2.0, a.view(), b.t(), 0.5, c.view_mut());
        let want = a.dot(&b.t()) * 2.0 + 0.5;
        assert!(c.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-5));
    }

    /// Deterministic values in [-1, 1) (no dependency on an RNG crate).
    fn values(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Array2::from_shape_simple_fn((rows, cols), || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
    }

    /// Every layout of a, b and c (row- or column-major, so both orientations of the call),
    /// β = 0 over NaN and β ≠ 0, shapes around the kernels' tiles: within 1e-5 of an f64 sum.
    #[test]
    fn every_layout_matches_a_direct_sum() {
        for (m, k, n) in [
            (1, 1, 1),
            (5, 3, 4),
            (17, 70, 33),
            (64, 288, 130),
            (3, 513, 1),
        ] {
            let (a, b) = (values(m, k, 1), values(k, n, 2));
            let at = values(k, m, 1).reversed_axes();
            let bt = values(n, k, 2).reversed_axes();
            let c0 = values(m, n, 3);
            for (a, b) in [(a.view(), b.view()), (at.view(), bt.view())] {
                for (column_major, beta) in [(false, 0.0), (true, 0.0), (false, 0.5), (true, 0.5)] {
                    let mut c = match column_major {
                        true => c0.t().to_owned().reversed_axes(),
                        false => c0.clone(),
                    };
                    if beta == 0.0 {
                        c.fill(f32::NAN);
                    }
                    gemm(1.5, a, b, beta, c.view_mut());
                    for ((i, j), &got) in c.indexed_iter() {
                        let sum: f64 = (0..k)
                            .map(|l| f64::from(a[[i, l]]) * f64::from(b[[l, j]]))
                            .sum();
                        let want = 1.5 * sum + f64::from(beta) * f64::from(c0[[i, j]]);
                        assert!(
                            (f64::from(got) - want).abs() <= 1e-5 * (1.0 + want.abs()),
                            "{m}x{k}x{n} column-major c {column_major} beta {beta} at ({i}, {j}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// Blocks of rows or columns of c that start on multiples of 64, each its own call (as the
    /// trainer's threads cut them), give the bits of one call over the whole of c.
    #[test]
    fn blocks_of_c_get_the_bits_of_one_call() {
        let (m, k, n) = (150, 300, 200);
        let (a, b) = (values(m, k, 4), values(k, n, 5));
        for column_major in [false, true] {
            let fresh = || match column_major {
                true => Array2::<f32>::zeros((n, m)).reversed_axes(),
                false => Array2::<f32>::zeros((m, n)),
            };
            let mut whole = fresh();
            gemm(1.0, a.view(), b.view(), 0.0, whole.view_mut());
            let mut by_rows = fresh();
            for r in (0..m).step_by(64) {
                let rows = r..(r + 64).min(m);
                let c = by_rows.slice_mut(ndarray::s![rows.clone(), ..]);
                gemm(1.0, a.slice(ndarray::s![rows, ..]), b.view(), 0.0, c);
            }
            let mut by_columns = fresh();
            for j in (0..n).step_by(64) {
                let cols = j..(j + 64).min(n);
                let c = by_columns.slice_mut(ndarray::s![.., cols.clone()]);
                gemm(1.0, a.view(), b.slice(ndarray::s![.., cols]), 0.0, c);
            }
            assert_eq!(whole, by_rows, "column-major c {column_major}");
            assert_eq!(whole, by_columns, "column-major c {column_major}");
        }
    }
}
