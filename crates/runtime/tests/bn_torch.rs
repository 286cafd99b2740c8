//! One-pass BN re-estimation against PyTorch's own train-mode statistics on the encoders users
//! bring: ResNet-18 and MobileNetV3-Small, random init, exported the way `models/export.py
//! --random-init` exports them, at 224×224. `tests/bn_torch_reference.py` writes the ONNX, the
//! preprocessed frames and what PyTorch stores in `running_mean`/`running_var` after
//! `model.train()` with `momentum=None` over the same batches; every channel of every BN layer
//! must agree within 1e-4 standard deviations (mean) and 1e-3 relative (variance), on tract and
//! on ONNX Runtime. A second set of batches ends with a short one, for which the reference is the
//! frame-weighted average of PyTorch's per-batch statistics (the rule documented in the runtime).
//!
//! Runs when the project's `.venv` can import torch and torchvision, or whenever
//! `EDGE_SSL_TORCH=1` (then a missing torch fails the test instead of skipping it).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;

use edge_ssl_core::{Tensor, npy};
use edge_ssl_runtime::{
    Backend, BackendOptions, OrtBackend, TractBackend, card_for, onnx::edit, onnx::inspect,
    reestimate_batch_norm_stream,
};

const BATCH: usize = 8;
const BATCHES: usize = 3;
const SHORT: usize = 4;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The .venv's python when torch is importable; `None` (with the reason printed) otherwise.
fn torch_python() -> Option<PathBuf> {
    let python = root().join(".venv/bin/python");
    let importable = Command::new(&python)
        .args(["-c", "import torch, torchvision, onnx"])
        .status()
        .is_ok_and(|s| s.success());
    let required = std::env::var("EDGE_SSL_TORCH").is_ok_and(|v| v == "1");
    match (importable, required) {
        (true, _) => Some(python),
        (false, true) => panic!(
            "EDGE_SSL_TORCH=1 but {} cannot import torch and torchvision",
            python.display()
        ),
        (false, false) => {
            eprintln!(
                "skipping: {} cannot import torch and torchvision (set EDGE_SSL_TORCH=1 to require it)",
                python.display()
            );
            None
        }
    }
}

fn read_stats(path: &Path) -> (Vec<f64>, Vec<f64>) {
    let a = npy::read_f32(path).unwrap();
    assert_eq!(a.nrows(), 2, "{}", path.display());
    let row = |r: usize| a.row(r).iter().map(|&v| f64::from(v)).collect();
    (row(0), row(1))
}

/// Largest (mean difference / reference sd, relative variance difference) over every channel.
fn compare(patched: &Path, dir: &Path, prefix: &str) -> (f64, f64) {
    let proto = inspect::read_proto(patched).unwrap();
    let bns = edit::batch_norms(&proto);
    let (mut dm, mut dv) = (0.0f64, 0.0f64);
    for (k, bn) in bns.iter().enumerate() {
        let (ref_mean, ref_var) = read_stats(&dir.join(format!("{prefix}_{k:03}.npy")));
        let mean = edit::initializer_f32(&proto, &bn.mean).unwrap();
        let var = edit::initializer_f32(&proto, &bn.var).unwrap();
        assert_eq!(mean.len(), ref_mean.len(), "layer {k} ({})", bn.node);
        for c in 0..mean.len() {
            let v = ref_var[c].max(1e-12);
            dm = dm.max((f64::from(mean[c]) - ref_mean[c]).abs() / v.sqrt());
            dv = dv.max((f64::from(var[c]) - v).abs() / v);
        }
    }
    assert!(
        !dir.join(format!("{prefix}_{:03}.npy", bns.len())).exists(),
        "PyTorch has more BN layers than the ONNX"
    );
    (dm, dv)
}

fn check_arch(python: &Path, arch: &str) {
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new(python)
        .arg(root().join("tests/bn_torch_reference.py"))
        .arg(arch)
        .arg(dir.path())
        .args([
            "--batch",
            &BATCH.to_string(),
            "--batches",
            &BATCHES.to_string(),
        ])
        .args(["--short", &SHORT.to_string()])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let onnx = dir.path().join(format!("{arch}.onnx"));
    let card = card_for(&onnx, None).unwrap();
    let shape = card.input.batch_shape(1);
    let batches: Vec<Tensor> = (0..=BATCHES)
        .map(|i| {
            let flat = npy::read_f32(&dir.path().join(format!("batch_{i}.npy"))).unwrap();
            let mut dims = shape.to_vec();
            dims[0] = flat.nrows();
            flat.into_shape_with_order(dims)
                .unwrap()
                .into_dyn()
                .to_owned()
        })
        .collect();
    let equal: Vec<Tensor> = batches[..BATCHES].to_vec();
    let short: Vec<Tensor> = batches[..BATCHES - 1]
        .iter()
        .chain(&batches[BATCHES..])
        .cloned()
        .collect();

    let options = BackendOptions::default().with_threads(Some(2));
    let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(TractBackend::new(options.clone()))];
    let ort = OrtBackend::new(options);
    match ort.check() {
        Ok(()) => backends.push(Box::new(ort)),
        Err(e) => eprintln!("ONNX Runtime unavailable, only tract is checked: {e}"),
    }
    for backend in &backends {
        for (name, set, frames) in [
            ("equal", &equal, BATCH * BATCHES),
            ("short", &short, BATCH * (BATCHES - 1) + SHORT),
        ] {
            let out = dir
                .path()
                .join(format!("patched_{}_{name}.onnx", backend.name()));
            let t0 = std::time::Instant::now();
            let report = reestimate_batch_norm_stream(
                backend.as_ref(),
                &onnx,
                &card,
                &mut set.iter().map(|b| Ok(b.clone())),
                Some(frames),
                &out,
                &mut |_| ControlFlow::Continue(()),
            )
            .unwrap();
            assert_eq!((report.passes, report.frames), (1, frames));
            let (dm, dv) = compare(&out, dir.path(), name);
            eprintln!(
                "{arch} {} {name} batches: {} BN layers in {:.1} s; max |mean - torch| = {dm:.2e} sd, \
                 max |var - torch| / var = {dv:.2e}",
                backend.name(),
                report.layers.len(),
                t0.elapsed().as_secs_f64()
            );
            assert!(
                dm < 1e-4 && dv < 1e-3,
                "{arch} on {} ({name} batches) differs from PyTorch: mean {dm:.2e} sd, var {dv:.2e}",
                backend.name()
            );
        }
    }
}

#[test]
fn resnet18_matches_pytorch_train_mode_statistics() {
    if let Some(python) = torch_python() {
        check_arch(&python, "resnet18");
    }
}

#[test]
fn mobilenet_v3_small_matches_pytorch_train_mode_statistics() {
    if let Some(python) = torch_python() {
        check_arch(&python, "mobilenet_v3_small");
    }
}
