//! Shared by the runtime crate's backend suites: where the bundled encoder and its ONNX Runtime
//! reference outputs live, and how outputs are compared.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use edge_ssl_core::Tensor;
use ndarray::Array2;

/// The workspace root (models, Python scripts and the `.venv` live there).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The encoder committed with the repository.
pub fn bundled() -> PathBuf {
    repo().join("models/fmnist-ssl/encoder.onnx")
}

/// Real Fashion-MNIST images with the bundled encoder's outputs under ONNX Runtime's Python
/// package (`models/reference_outputs.py`).
pub fn reference_dir() -> PathBuf {
    repo().join("models/fmnist-ssl/reference")
}

/// Tolerance the reference script recorded (ONNX Runtime Python vs a correct backend).
pub fn reference_atol() -> f32 {
    let text = std::fs::read_to_string(reference_dir().join("reference.toml")).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    table["atol"].as_float().unwrap() as f32
}

/// A batch of outputs as rows.
pub fn to_2d(t: Tensor) -> Array2<f32> {
    let n = t.shape()[0];
    let d = t.len() / n.max(1);
    t.into_shape_with_order((n, d)).unwrap()
}

pub fn max_abs_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim(), "shapes differ");
    (a - b).iter().fold(0.0f32, |m, d| m.max(d.abs()))
}
