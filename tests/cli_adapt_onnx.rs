//! The BN-patched encoder `adapt` writes is checked from outside Rust: `onnx.checker`, only BN
//! statistics changed, and ONNX Runtime's Python package gives the same embeddings as
//! `edge-ssl embed` on it (tests/verify_bn_onnx.py). Skipped when the project's .venv lacks
//! onnxruntime.

mod common;

use common::{edge_ssl, root};

#[test]
fn bn_patched_onnx_passes_the_checker_and_matches_onnx_runtime() {
    let python = root().join(".venv/bin/python");
    let has_ort = std::process::Command::new(&python)
        .args(["-c", "import onnx, onnxruntime, numpy"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_ort {
        eprintln!("no .venv with onnx + onnxruntime; skipping");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let frames = tmp.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    // Light background, dark blob: far from Fashion-MNIST's statistics, so BN moves.
    let n = 24usize;
    let mut raw = Vec::new();
    for i in 0..n {
        let img = image::GrayImage::from_fn(28, 28, |x, y| {
            let d = (x as i32 - 14 - (i % 5) as i32).pow(2) + (y as i32 - 14).pow(2);
            image::Luma([if d < 40 + i as i32 * 3 {
                40
            } else {
                200 + ((x * y + i as u32) % 40) as u8
            }])
        });
        raw.extend_from_slice(img.as_raw());
        img.save(frames.join(format!("{i:02}.png"))).unwrap();
    }
    let pixels = tmp.path().join("pixels.bin");
    std::fs::write(&pixels, &raw).unwrap();
    let site = tmp.path().join("site");
    let run = edge_ssl()
        .args(["adapt", "--no-adapter", "--data"])
        .arg(&frames)
        .arg("--out")
        .arg(&site)
        .output()
        .unwrap();
    common::assert_success(&run);
    let npy = tmp.path().join("emb.npy");
    let run = edge_ssl()
        .args(["embed", "--model"])
        .arg(&site)
        .arg("--input")
        .arg(&frames)
        .arg("--out")
        .arg(&npy)
        .output()
        .unwrap();
    common::assert_success(&run);
    let check = std::process::Command::new(&python)
        .arg(root().join("tests/verify_bn_onnx.py"))
        .arg(common::default_onnx())
        .arg(&site)
        .arg(&pixels)
        .arg(n.to_string())
        .arg(&npy)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
