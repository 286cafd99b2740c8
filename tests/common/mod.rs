//! Shared helpers for the workspace tests: where the bundled model and its ONNX Runtime
//! reference outputs live, and how to run the CLI.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn default_onnx() -> PathBuf {
    root().join("models/fmnist-ssl/encoder.onnx")
}

pub fn reference_dir() -> PathBuf {
    root().join("models/fmnist-ssl/reference")
}

/// Tolerance the reference script recorded (ONNX Runtime Python vs a correct backend).
pub fn reference_atol() -> f32 {
    let text = std::fs::read_to_string(reference_dir().join("reference.toml")).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    table["atol"].as_float().unwrap() as f32
}

pub fn edge_ssl() -> Command {
    let mut cmd = Command::cargo_bin("edge-ssl").unwrap();
    cmd.current_dir(root());
    cmd
}

pub fn max_abs_diff(a: &ndarray::Array2<f32>, b: &ndarray::Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim(), "shapes differ");
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Asserts a run succeeded (showing its stderr when it did not) and returns its stdout.
pub fn assert_success(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts a failed run printed exactly one clear error line and did not panic.
pub fn assert_clean_failure(output: &std::process::Output, must_contain: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected failure, stderr: {stderr}"
    );
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "want one error line, got: {stderr}");
    assert!(
        error_lines[0].contains(must_contain),
        "error line `{}` lacks `{must_contain}`",
        error_lines[0]
    );
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A model directory: the bundled encoder plus a softmax head on the 16 reference images,
/// one class folder per garment name (8 classes). Built once per test binary;
/// the labeled folders sit beside it in `../labeled`.
pub fn model_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap().keep();
        let labeled = tmp.join("labeled");
        let images = reference_dir().join("images");
        for entry in std::fs::read_dir(&images).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_str().unwrap();
            let class = stem.split_once('-').unwrap().1;
            std::fs::create_dir_all(labeled.join(class)).unwrap();
            std::fs::copy(&path, labeled.join(class).join(path.file_name().unwrap())).unwrap();
        }
        let out = tmp.join("model");
        edge_ssl()
            .args(["head", "--model", "default", "--labeled"])
            .arg(&labeled)
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        out
    })
}
