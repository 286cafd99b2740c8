//! The one place that calls `matrixmultiply::sgemm`, on ndarray views of any strides: the trainer's
//! layers (`edge-ssl-train`) and the runtime's batched 1×1 convolutions for tract's BN probe
//! (`edge-ssl-runtime`) both multiply through it.
//!
//! Strides instead of copies: the transposes of backward (`Wᵀ·dY`, `dY·Xᵀ`) are just views
//! with swapped strides, and the packing matrixmultiply does anyway absorbs them.

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
    let (sa, sb, sc) = (a.strides(), b.strides(), c.strides());
    let (rsc, csc) = (sc[0], sc[1]);
    // SAFETY: the views guarantee every (i, j) inside their dims is in bounds at
    // ptr + i·rs + j·cs, which is all sgemm reads and writes; `c` is a unique borrow.
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
            c.as_mut_ptr(),
            rsc,
            csc,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

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
