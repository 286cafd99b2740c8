use ndarray::{Array2, ArrayView2};

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
fn logdet_and_inverse(mut m: Array2<f64>) -> (f64, Array2<f64>) {
    let k = m.nrows();
    for j in 0..k {
        let mut diag = m[[j, j]];
        for p in 0..j {
            diag -= m[[j, p]] * m[[j, p]];
        }
        let ljj = diag.max(f64::MIN_POSITIVE).sqrt();
        m[[j, j]] = ljj;
        for i in j + 1..k {
            let mut v = m[[i, j]];
            for p in 0..j {
                v -= m[[i, p]] * m[[j, p]];
            }
            m[[i, j]] = v / ljj;
        }
    }
    let logdet = 2.0 * (0..k).map(|i| m[[i, i]].ln()).sum::<f64>();
    // L⁻¹ by forward substitution, column by column of the identity.
    let mut linv = Array2::<f64>::zeros((k, k));
    for c in 0..k {
        linv[[c, c]] = 1.0 / m[[c, c]];
        for i in c + 1..k {
            let mut v = 0.0;
            for p in c..i {
                v -= m[[i, p]] * linv[[p, c]];
            }
            linv[[i, c]] = v / m[[i, i]];
        }
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
    }
}
