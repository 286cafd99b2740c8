//! Central finite differences for every hand-written backward (test-only).
//!
//! Objectives are `Σ y ⊙ R` for a fixed random `R` so every output element matters, summed in
//! f64. Step `1e-3` keeps f32 rounding (~1e-4 relative) far under the tolerance while the chance
//! of stepping across a ReLU kink stays negligible. The assertion is on the relative error of
//! the whole gradient, `‖g_analytic − g_numeric‖ / max(‖g_analytic‖, ‖g_numeric‖, 0.1)`: a wrong
//! sign, a missing term or a wrong factor in any backward fails it.

use ndarray::{Array2, ArrayView2};

use crate::Rng;
use crate::loss::Loss;
use crate::nn::Module;

const STEP: f32 = 1e-3;
const TOLERANCE: f64 = 1e-2;
/// Gradients that are zero in exact arithmetic (a bias in front of BatchNorm) are compared in
/// absolute terms: the check then demands ‖error‖ < 1e-3 instead of a meaningless ratio of noise.
const ABSOLUTE_FLOOR: f64 = 0.1;

pub fn random_matrix(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut rng = Rng::new(seed);
    Array2::from_shape_simple_fn((rows, cols), || rng.normal())
}

pub fn relative_error(analytic: &Array2<f32>, numeric: &Array2<f64>) -> f64 {
    let (mut diff, mut na, mut nn) = (0.0f64, 0.0f64, 0.0f64);
    for (&a, &n) in analytic.iter().zip(numeric).filter(|(_, n)| !n.is_nan()) {
        diff += (a as f64 - n).powi(2);
        na += (a as f64).powi(2);
        nn += n * n;
    }
    diff.sqrt() / na.sqrt().max(nn.sqrt()).max(ABSOLUTE_FLOOR)
}

/// Central differences; an element where the two one-sided slopes disagree sits on a kink
/// (ReLU, hinge, margin) where no derivative exists, and is marked NaN and skipped.
fn numeric_grad(x: &mut Array2<f32>, mut f: impl FnMut(&Array2<f32>) -> f64) -> Array2<f64> {
    let mut g = Array2::zeros(x.raw_dim());
    let center = f(x);
    let h = STEP as f64;
    for idx in 0..x.len() {
        let (r, c) = (idx / x.ncols(), idx % x.ncols());
        let orig = x[[r, c]];
        x[[r, c]] = orig + STEP;
        let plus = f(x);
        x[[r, c]] = orig - STEP;
        let minus = f(x);
        x[[r, c]] = orig;
        let (right, left) = ((plus - center) / h, (center - minus) / h);
        let kink = (right - left).abs() > 0.01 + 0.01 * right.abs().max(left.abs());
        g[[r, c]] = if kink {
            f64::NAN
        } else {
            (plus - minus) / (2.0 * h)
        };
    }
    g
}

fn weighted_sum(y: ArrayView2<f32>, r: &Array2<f32>) -> f64 {
    y.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
}

fn assert_close(what: &str, analytic: &Array2<f32>, numeric: &Array2<f64>) {
    let skipped = numeric.iter().filter(|v| v.is_nan()).count();
    assert!(
        skipped <= 1 || skipped * 10 <= numeric.len(),
        "{what}: {skipped} of {} elements on kinks",
        numeric.len()
    );
    let err = relative_error(analytic, numeric);
    assert!(
        err < TOLERANCE,
        "{what}: relative error {err:.2e}\nanalytic {analytic:?}\nnumeric {numeric:?}"
    );
}

/// Checks dL/dx and every dL/dparam of `m` at `x`.
pub fn check_module(m: &mut dyn Module, x: &Array2<f32>) {
    let y = m.forward(x.view());
    let r = random_matrix(y.nrows(), y.ncols(), 99);
    m.zero_grad();
    let gx = m.backward(r.view());
    let analytic: Vec<Array2<f32>> = m.params().iter().map(|p| p.grad.clone()).collect();

    let mut xv = x.clone();
    let num = numeric_grad(&mut xv, |x| weighted_sum(m.forward(x.view()).view(), &r));
    assert_close("input gradient", &gx, &num);

    for (i, want) in analytic.iter().enumerate() {
        let mut value = m.params()[i].value.clone();
        let name = m.params()[i].name.clone();
        let num = numeric_grad(&mut value, |v| {
            m.params_mut()[i].value.assign(v);
            weighted_sum(m.forward(x.view()).view(), &r)
        });
        m.params_mut()[i].value.assign(&value);
        assert_close(&name, want, &num);
    }
}

/// Checks the gradient a loss returns for each of its inputs.
pub fn check_loss(loss: &dyn Loss, inputs: &[Array2<f32>]) {
    let views: Vec<_> = inputs.iter().map(|a| a.view()).collect();
    let out = loss.loss(&views).expect("loss on valid inputs");
    assert!(out.value.is_finite());
    for (i, want) in out.grads.iter().enumerate() {
        let mut xs = inputs.to_vec();
        let mut xi = xs[i].clone();
        let num = numeric_grad(&mut xi, |x| {
            xs[i].assign(x);
            let v: Vec<_> = xs.iter().map(|a| a.view()).collect();
            loss.loss(&v).unwrap().value as f64
        });
        assert_close(&format!("gradient of input {i}"), want, &num);
    }
}
