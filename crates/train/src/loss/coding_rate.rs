use ndarray::{Array2, ArrayView2, Axis, s};

/// The coding rate `R(Z) = ½·logdet(I + α·ZᵀZ)`, `α = d / (n·ε²)`, of `n` embeddings of width
/// `d`, and its gradient `α·Z·(I + αZᵀZ)⁻¹` (Ma et al., "Segmentation of multivariate mixed
/// data via lossy coding"). Large when the embeddings span many directions, so maximizing it
/// is EMP-SSL's anti-collapse term.
///
/// The determinant is taken on the smaller of the `d×d` and `n×n` Gram matrices (they share
/// their non-zero spectrum), in f64 via Cholesky — the matrix is the identity plus a PSD
/// matrix, so Cholesky cannot fail for finite input.
pub(crate) fn coding_rate(z: ArrayView2<f32>, eps2: f32) -> (f32, Array2<f32>) {
    let (n, d) = z.dim();
    let alpha = d as f64 / (n as f64 * eps2 as f64);
    let features_side = d <= n;
    let gram = if features_side {
        z.t().dot(&z)
    } else {
        z.dot(&z.t())
    };
    let mut m = gram.mapv(|v| alpha * v as f64);
    for i in 0..m.nrows() {
        m[[i, i]] += 1.0;
    }
    let (logdet, inv) = logdet_and_inverse(m);
    let inv = inv.mapv(|v| (alpha * v) as f32);
    let grad = if features_side {
        z.dot(&inv)
    } else {
        inv.dot(&z)
    };
    ((0.5 * logdet) as f32, grad)
}

/// Cholesky `M = LLᵀ`; `logdet = 2Σ log Lᵢᵢ`, `M⁻¹ = L⁻ᵀL⁻¹`. `m` must be symmetric positive
/// definite (guaranteed by the caller's `I + PSD`).
///
/// Both factorizations run on contiguous rows — Cholesky as row dot products, `L⁻¹` as row
/// axpys — so the inner loops are `ndarray`'s unrolled dot and vectorized `scaled_add`; with
/// strided indexing this was the slowest part of an EMP step.
fn logdet_and_inverse(m: Array2<f64>) -> (f64, Array2<f64>) {
    let k = m.nrows();
    let mut l = Array2::<f64>::zeros((k, k));
    for i in 0..k {
        for j in 0..=i {
            let (ri, rj) = (l.slice(s![i, ..j]), l.slice(s![j, ..j]));
            let v = m[[i, j]] - ri.dot(&rj);
            l[[i, j]] = if i == j {
                v.max(f64::MIN_POSITIVE).sqrt()
            } else {
                v / l[[j, j]]
            };
        }
    }
    let logdet = 2.0 * (0..k).map(|i| l[[i, i]].ln()).sum::<f64>();
    // Row i of L⁻¹ = (eᵢ − Σ_{p<i} L_ip · row p of L⁻¹) / L_ii; row p is zero beyond column p.
    let mut linv = Array2::<f64>::zeros((k, k));
    for i in 0..k {
        let (done, mut rest) = linv.view_mut().split_at(Axis(0), i);
        let mut row = rest.row_mut(0);
        row[i] = 1.0;
        for p in 0..i {
            let coef = -l[[i, p]];
            row.slice_mut(s![..=p])
                .scaled_add(coef, &done.slice(s![p, ..=p]));
        }
        row /= l[[i, i]];
    }
    let inv = linv.t().dot(&linv);
    (logdet, inv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{random_matrix, relative_error};

    #[test]
    fn gradient_matches_finite_differences_on_both_sides() {
        for (n, d) in [(6, 3), (3, 6)] {
            let z = random_matrix(n, d, 1);
            let (_, g) = coding_rate(z.view(), 0.5);
            let mut num = Array2::<f64>::zeros((n, d));
            for idx in 0..n * d {
                let (r, c) = (idx / d, idx % d);
                let mut zp = z.clone();
                zp[[r, c]] += 1e-3;
                let mut zm = z.clone();
                zm[[r, c]] -= 1e-3;
                num[[r, c]] =
                    (coding_rate(zp.view(), 0.5).0 - coding_rate(zm.view(), 0.5).0) as f64 / 2e-3;
            }
            assert!(relative_error(&g, &num) < 1e-2, "{n}×{d}");
        }
    }

    #[test]
    fn inverse_and_logdet_are_right() {
        let m = Array2::from_shape_vec((2, 2), vec![4.0, 2.0, 2.0, 3.0]).unwrap();
        let (logdet, inv) = logdet_and_inverse(m.clone());
        assert!((logdet - 8f64.ln()).abs() < 1e-12);
        let id = m.dot(&inv);
        assert!((id[[0, 0]] - 1.0).abs() < 1e-12 && id[[0, 1]].abs() < 1e-12);

        let z = random_matrix(30, 20, 4).mapv(f64::from);
        let m = z.t().dot(&z) + Array2::<f64>::eye(20);
        let (_, inv) = logdet_and_inverse(m.clone());
        let err = (m.dot(&inv) - Array2::<f64>::eye(20))
            .mapv(f64::abs)
            .fold(0.0, |a: f64, &b| a.max(b));
        assert!(err < 1e-9, "{err}");
    }
}
