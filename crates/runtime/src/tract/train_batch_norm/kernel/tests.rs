use super::{Activation, normalize};

/// Channels last (`N·H·W × C`) give what channels second gives on the same values.
#[test]
fn channels_last_equals_channels_second() {
    let (n, c, s) = (2, 5, 9);
    let x: Vec<f32> = (0..n * c * s)
        .map(|i| ((i * 29 % 53) as f32).cos() * 3.0)
        .collect();
    let last: Vec<f32> = (0..n * s * c)
        .map(|i| {
            let (b, p, ch) = (i / (s * c), (i / c) % s, i % c);
            x[(b * c + ch) * s + p]
        })
        .collect();
    let (scale, bias) = ([1.0, 2.0, 0.5, -1.0, 3.0], [0.0, 0.1, 0.2, 0.3, 0.4]);
    let run = |x: &[f32], shape| {
        let (mut y, mut m, mut v) = (x.to_vec(), vec![0.0; c], vec![0.0; c]);
        normalize(
            &mut y,
            shape,
            (&scale, &bias),
            1e-5,
            Activation::Identity,
            (&mut m, &mut v),
        );
        (y, m, v)
    };
    let (y2, m2, v2) = run(&x, (n, c, s));
    let (yl, ml, vl) = run(&last, (n * s, c, 1));
    for ch in 0..c {
        assert!(
            (m2[ch] - ml[ch]).abs() < 1e-6 && (v2[ch] - vl[ch]).abs() < 1e-5,
            "{ch}"
        );
    }
    assert_eq!(yl.len(), n * s * c);
    for (i, &v) in yl.iter().enumerate() {
        let (b, p, ch) = (i / (s * c), (i / c) % s, i % c);
        assert!((v - y2[(b * c + ch) * s + p]).abs() < 1e-5, "{i}");
    }
}

/// Against the definition in `f64`: a batch of 3, 4 channels of 5 × 7, values with a
/// per-channel offset (so a one-pass E[x²] − E[x]² would cancel).
#[test]
fn statistics_and_outputs_match_the_definition() {
    let (n, c, s) = (3, 4, 35);
    let x: Vec<f32> = (0..n * c * s)
        .map(|i| {
            let ch = (i / s) % c;
            100.0 * ch as f32 + ((i * 37 % 101) as f32 / 50.0).sin()
        })
        .collect();
    let (scale, bias) = ([1.0, 0.5, -2.0, 3.0], [0.1, -0.2, 0.3, 0.0]);
    let (mut y, mut means, mut vars) = (x.clone(), vec![0.0; c], vec![0.0; c]);
    normalize(
        &mut y,
        (n, c, s),
        (&scale, &bias),
        1e-5,
        Activation::Identity,
        (&mut means, &mut vars),
    );
    for ch in 0..c {
        let values: Vec<f64> = (0..n)
            .flat_map(|b| x[(b * c + ch) * s..(b * c + ch + 1) * s].iter())
            .map(|&v| f64::from(v))
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        assert!(
            (f64::from(means[ch]) - mean).abs() < 1e-4,
            "{ch}: {} vs {mean}",
            means[ch]
        );
        assert!(
            (f64::from(vars[ch]) - var).abs() < 1e-5 * var.max(1.0),
            "{ch}"
        );
        for b in 0..n {
            for i in 0..s {
                let at = (b * c + ch) * s + i;
                let want = (f64::from(x[at]) - mean) * f64::from(scale[ch]) / (var + 1e-5).sqrt()
                    + f64::from(bias[ch]);
                assert!((f64::from(y[at]) - want).abs() < 1e-3, "{ch} {b} {i}");
            }
        }
    }
}

/// Runs [`normalize`] on a copy of `x` and returns `(y, means, vars)`.
fn run(x: &[f32], shape: (usize, usize, usize), act: Activation) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let c = shape.1;
    let scale: Vec<f32> = (0..c).map(|i| 0.5 + i as f32 * 0.25).collect();
    let bias: Vec<f32> = (0..c).map(|i| i as f32 * 0.1 - 0.3).collect();
    let (mut y, mut m, mut v) = (x.to_vec(), vec![0.0; c], vec![0.0; c]);
    normalize(&mut y, shape, (&scale, &bias), 1e-5, act, (&mut m, &mut v));
    (y, m, v)
}

/// Values with a large per-channel offset, so that a one-pass E[x²] − E[x]² would cancel.
fn offset_values(len: usize, c: usize, inner: usize) -> Vec<f32> {
    (0..len)
        .map(|i| 50.0 * ((i / inner) % c) as f32 + ((i * 37 % 101) as f32 / 13.0).sin() * 2.0)
        .collect()
}

/// Channel-last data over several blocks of rows and a partial last one, against the `f64`
/// definition: the blocks' moments merge to the whole batch's.
#[test]
fn block_moments_merge_to_the_batch_statistics() {
    for rows in [1, 255, 256, 257, 700, 1024] {
        let c = 3;
        let x = offset_values(rows * c, c, 1);
        let (_, means, vars) = run(&x, (rows, c, 1), Activation::Identity);
        for ch in 0..c {
            let col: Vec<f64> = x
                .iter()
                .skip(ch)
                .step_by(c)
                .map(|&v| f64::from(v))
                .collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
            assert!(
                (f64::from(means[ch]) - mean).abs() < 1e-4 * mean.abs().max(1.0),
                "{rows} {ch}"
            );
            assert!(
                (f64::from(vars[ch]) - var).abs() < 1e-4 * var.max(1e-3),
                "{rows} {ch}: {} vs {var}",
                vars[ch]
            );
        }
    }
}

/// The fused activations equal normalizing, then applying them.
#[test]
fn fused_activations_equal_normalizing_then_applying_them() {
    let (n, c, s) = (3, 4, 50);
    let x = offset_values(n * c * s, c, s);
    let (plain, m0, v0) = run(&x, (n, c, s), Activation::Identity);
    type Reference = fn(f32) -> f32;
    let cases: [(Activation, Reference); 4] = [
        (
            Activation::Clamp {
                low: Some(0.0),
                high: None,
            },
            |v| v.max(0.0),
        ),
        (
            Activation::Clamp {
                low: Some(0.0),
                high: Some(6.0),
            },
            |v| v.clamp(0.0, 6.0),
        ),
        (
            Activation::Clamp {
                low: None,
                high: Some(0.5),
            },
            |v| v.min(0.5),
        ),
        (Activation::HardSwish, |v| {
            v * (v / 6.0 + 0.5).clamp(0.0, 1.0)
        }),
    ];
    for (act, f) in cases {
        let (y, m, v) = run(&x, (n, c, s), act);
        assert_eq!(
            (&m, &v),
            (&m0, &v0),
            "{act:?}: statistics are taken before the activation"
        );
        for (a, b) in y.iter().zip(&plain) {
            assert!(
                (a - f(*b)).abs() <= 1e-6 * b.abs().max(1.0),
                "{act:?}: {a} vs {}",
                f(*b)
            );
        }
    }
}

/// The same bits on one thread and on several, for both layouts.
#[test]
fn the_result_does_not_depend_on_the_thread_count() {
    use tract_onnx::tract_core::tract_linalg::multithread::{Executor, multithread_tract_scope};
    for shape in [(32, 24, 196), (8 * 300, 40, 1)] {
        let x = offset_values(shape.0 * shape.1 * shape.2, shape.1, shape.2);
        let one = multithread_tract_scope(Executor::SingleThread, || {
            run(&x, shape, Activation::HardSwish)
        });
        let four = multithread_tract_scope(Executor::multithread(4), || {
            run(&x, shape, Activation::HardSwish)
        });
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one.0), bits(&four.0), "{shape:?}");
        assert_eq!(bits(&one.1), bits(&four.1), "{shape:?}");
        assert_eq!(bits(&one.2), bits(&four.2), "{shape:?}");
    }
}
