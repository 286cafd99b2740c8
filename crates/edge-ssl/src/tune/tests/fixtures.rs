//! What the tune tests share: the bundled encoder, seeded inputs, and ONNX Runtime (Python)
//! as the reference engine.

use std::path::{Path, PathBuf};
use std::process::Command;

use edge_ssl_train::Rng;
use ndarray::{ArrayD, IxDyn};

pub const TOLERANCE: f32 = 1e-4;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn bundled() -> PathBuf {
    repo().join("models/fmnist-ssl/encoder.onnx")
}

pub fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut rng = Rng::new(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || rng.normal())
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("EDGE_SSL_PYTHON") {
        return p.into();
    }
    let venv = repo().join(".venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        "python3".into()
    }
}

const RUN: &str = r#"
import sys, numpy as np, onnxruntime as ort
model, xin, shape, out = sys.argv[1:5]
x = np.fromfile(xin, dtype='<f4').reshape([int(s) for s in shape.split(',')])
s = ort.InferenceSession(model, providers=['CPUExecutionProvider'])
y = s.run(None, {s.get_inputs()[0].name: x})[0]
np.ascontiguousarray(y, dtype='<f4').tofile(out)
print(','.join(map(str, y.shape)))
"#;

/// `model`'s first output on `x`, run by ONNX Runtime in Python; `None` (after saying why)
/// where no Python with onnxruntime is installed, unless EDGE_SSL_CONFORMANCE_REQUIRED=1.
pub fn onnxruntime(model: &Path, x: &ArrayD<f32>) -> Option<ArrayD<f32>> {
    let dir = tempfile::tempdir().unwrap();
    let (xin, out) = (dir.path().join("x.f32"), dir.path().join("y.f32"));
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&xin, bytes).unwrap();
    let shape: Vec<String> = x.shape().iter().map(usize::to_string).collect();
    let run = Command::new(python())
        .args(["-c", RUN])
        .arg(model)
        .arg(&xin)
        .arg(shape.join(","))
        .arg(&out)
        .output();
    let run = match run {
        Ok(r) if r.status.success() => r,
        other => {
            let why = match other {
                Ok(r) => String::from_utf8_lossy(&r.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            let required =
                std::env::var_os("EDGE_SSL_CONFORMANCE_REQUIRED").is_some_and(|v| v == "1");
            assert!(!required, "ONNX Runtime (Python) failed: {why}");
            eprintln!("skipping the ONNX Runtime comparison: {why}");
            return None;
        }
    };
    let shape: Vec<usize> = String::from_utf8_lossy(&run.stdout)
        .trim()
        .split(',')
        .map(|d| d.parse().unwrap())
        .collect();
    let data: Vec<f32> = std::fs::read(&out)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some(ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap())
}

/// Within [`TOLERANCE`] of the reference's largest magnitude.
pub fn assert_close(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>) {
    assert_close_within(what, got, want, TOLERANCE);
}

/// Within `tolerance` of the reference's largest magnitude.
pub fn assert_close_within(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>, tolerance: f32) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = got
        .iter()
        .zip(want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        worst <= tolerance * scale,
        "{what}: max |diff| {worst:.3e} vs largest |value| {scale:.3e}"
    );
}
