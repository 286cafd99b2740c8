//! The one place that calls `matrixmultiply::sgemm`, on ndarray views of any strides: the trainer's
//! layers (`edge-ssl-train`) and the runtime's batched 1×1 convolutions for tract's BN probe
//! (`edge-ssl-runtime`) both multiply through it.
//!
//! Strides instead of copies: the transposes of backward (`Wᵀ·dY`, `dY·Xᵀ`) are just views
//! with swapped strides, and the packing matrixmultiply does anyway absorbs them.

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

/// `matrixmultiply::sgemm` on `a` and `b` (any strides) into `c` with strides `(rsc, csc)`.
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
    // SAFETY: the views guarantee every (i, k) and (k, j) inside their dims is in bounds at
    // ptr + i·rs + j·cs; the caller vouches for `c`.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            sa[0],
            sa[1],
            b.as_ptr(),
            sb[0],
            sb[1],
            beta,
            c,
            rsc,
            csc,
        );
    }
}

/// `c = alpha·a·b` into `c`, `m × n` values row-major that need not be initialized: every
/// one is written (matrixmultiply does not read C when β = 0). For outputs allocated only to be
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
}
