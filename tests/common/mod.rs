//! Shared helpers for the workspace tests: where the bundled model and its ONNX Runtime
//! reference outputs live, and how to run the CLI.
#![allow(dead_code)]

pub mod corpus;

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
    assert_no_panic(output);
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "want one error line, got: {stderr}");
    // The error is the last thing printed (no fragment of a multi-line message after it) and
    // carries no terminal control character.
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    assert_eq!(
        last,
        Some(error_lines[0]),
        "stderr continues after the error line: {stderr}"
    );
    assert!(
        !error_lines[0].chars().any(|c| c.is_control()),
        "control character in the error line: {:?}",
        error_lines[0]
    );
    let parts: Vec<&str> = error_lines[0].split(": ").collect();
    assert!(
        parts.windows(2).all(|w| w[0] != w[1]),
        "the error line repeats a cause: {}",
        error_lines[0]
    );
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

/// Asserts a run neither panicked nor was killed by a signal (a crash or a test timeout).
pub fn assert_no_panic(output: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "panic: {stderr}"
    );
    assert!(
        output.status.code().is_some(),
        "killed by a signal (crash or timeout): {:?}, stderr: {stderr}",
        output.status
    );
}

/// The reference images as an ImageFolder tree `root/<class>/*.png`, the class taken from
/// each file's name (`03-trouser.png` → `trouser`).
pub fn reference_labeled(root: &Path) {
    for entry in std::fs::read_dir(reference_dir().join("images")).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let class = stem.split_once('-').map_or(stem.as_str(), |(_, c)| c);
        std::fs::create_dir_all(root.join(class)).unwrap();
        std::fs::copy(&path, root.join(class).join(path.file_name().unwrap())).unwrap();
    }
}

/// Flags for an `adapt` that takes well under a second on the 16 reference images.
pub const QUICK_ADAPT: [&str; 6] = ["--epochs", "1", "--views", "2", "--batch", "8"];

/// A small but real model directory at `out`: `adapt` on the reference images, then a `head`
/// on `labeled` (from [`reference_labeled`]).
pub fn small_model_dir(out: &Path, labeled: &Path) {
    edge_ssl()
        .arg("adapt")
        .args(QUICK_ADAPT)
        .arg("--data")
        .arg(reference_dir().join("images"))
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    edge_ssl()
        .args(["head", "--model"])
        .arg(out)
        .arg("--labeled")
        .arg(labeled)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
}

/// Asserts `dir` holds no temporary file of an atomic write (`.NAME.tmp-PID-N`).
pub fn assert_no_temporaries(dir: &Path) {
    let tmp: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(tmp.is_empty(), "temporary files left in {dir:?}: {tmp:?}");
}

/// Asserts the model directory `dir` loads whole (card, encoder and adapter hashes, adapter
/// weights) by embedding one image with it; `why` says which moment of a test this is.
pub fn assert_model_loads(dir: &Path, why: &str) {
    let probe = tempfile::tempdir().unwrap();
    let embed = edge_ssl()
        .args(["embed", "--model"])
        .arg(dir)
        .arg("--input")
        .arg(reference_dir().join("images/00-boot.png"))
        .arg("--out")
        .arg(probe.path().join("probe.npy"))
        .output()
        .unwrap();
    assert!(
        embed.status.success(),
        "{why}: {} does not load: {}",
        dir.display(),
        String::from_utf8_lossy(&embed.stderr)
    );
}

/// A model directory: the bundled encoder plus a softmax head on the 16 reference images,
/// one class folder per garment name (8 classes). Built once per test binary;
/// the labeled folders sit beside it in `../labeled`.
pub fn model_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Kept for the whole test binary (a static is never dropped), under cargo's
        // per-target temporary directory rather than /tmp, so `cargo clean` removes it.
        let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        let labeled = tmp.join("labeled");
        reference_labeled(&labeled);
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
