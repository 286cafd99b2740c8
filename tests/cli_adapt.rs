//! `adapt` → `head` → `eval` (and `cluster`) end to end on real shifted Fashion-MNIST images
//! made by `edge-ssl demo --data-only`. The SIGKILL-then-`--resume` guarantee is in
//! cli_adapt_crash.rs.
//! Needs the Debian `dataset-fashion-mnist` files (skipped with a note when absent).

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::edge_ssl;

/// Shifted data shared by the tests of this file: 100 labeled, 240 unlabeled, 200 eval.
pub fn demo_data() -> Option<&'static Path> {
    static DATA: OnceLock<Option<tempfile::TempDir>> = OnceLock::new();
    DATA.get_or_init(|| {
        if !Path::new("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").is_file()
            && std::env::var_os("EDGE_SSL_FMNIST").is_none()
        {
            eprintln!("Fashion-MNIST not installed; skipping");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        edge_ssl()
            .args([
                "demo",
                "--data-only",
                "--unlabeled",
                "240",
                "--eval",
                "200",
                "--out",
            ])
            .arg(dir.path())
            .assert()
            .success();
        Some(dir)
    })
    .as_ref()
    .map(|d| d.path())
}

const QUICK: [&str; 6] = ["--epochs", "3", "--views", "4", "--batch", "64"];

fn adapt(data: &Path, out: &Path, args: &[&str]) -> std::process::Output {
    edge_ssl()
        .args(["adapt", "--model", "default", "--data"])
        .arg(data.join("shifted/unlabeled"))
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .unwrap()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn adapt_head_eval_end_to_end() {
    let Some(data) = demo_data() else { return };
    let work = tempfile::tempdir().unwrap();
    let site = work.path().join("site-a");
    let out = adapt(data, &site, &QUICK);
    common::assert_success(&out);
    for f in [
        "edge-ssl.toml",
        "encoder.onnx",
        "adapter.safetensors",
        "metrics.json",
        "loss.png",
    ] {
        assert!(site.join(f).is_file(), "missing {f}");
    }
    assert!(!site.join(".adapt-work").exists(), "work files left behind");
    let metrics = read_json(&site.join("metrics.json"));
    assert_eq!(metrics["frames"], 240);
    let curve = metrics["loss_curve"].as_array().unwrap();
    assert_eq!(curve.len() as u64, metrics["steps"].as_u64().unwrap());
    assert!(curve.len() >= 9, "3 epochs of 240/64 frames: {curve:?}");
    assert!(
        metrics["bn"]["layers"].as_array().unwrap().len() >= 6,
        "BN report: {}",
        metrics["bn"]
    );
    let png = image::open(site.join("loss.png")).unwrap();
    assert!(png.width() > 100);
    let card: toml::Table =
        toml::from_str(&std::fs::read_to_string(site.join("edge-ssl.toml")).unwrap()).unwrap();
    assert_eq!(card["provenance"]["method"].as_str(), Some("vicreg"));

    let head = edge_ssl()
        .args(["head", "--json", "--model"])
        .arg(&site)
        .arg("--labeled")
        .arg(data.join("shifted/labeled"))
        .arg("--out")
        .arg(&site)
        .arg("--unlabeled")
        .arg(data.join("shifted/unlabeled"))
        .output()
        .unwrap();
    common::assert_success(&head);
    let stderr = String::from_utf8_lossy(&head.stderr);
    assert!(
        stderr.contains("with labels only"),
        "no semi-supervised report: {stderr}"
    );
    assert!(site.join("head.safetensors").is_file());

    let plots = work.path().join("plots");
    let eval = edge_ssl()
        .args(["eval", "--json", "--model"])
        .arg(&site)
        .arg("--labeled")
        .arg(data.join("shifted/eval"))
        .arg("--plots")
        .arg(&plots)
        .output()
        .unwrap();
    common::assert_success(&eval);
    let result: serde_json::Value =
        serde_json::from_slice(&eval.stdout).expect("stdout is one JSON object");
    let acc = result["accuracy"].as_f64().unwrap();
    assert!(
        (0.25..=1.0).contains(&acc),
        "10 classes, 10-shot: accuracy {acc} should beat chance clearly"
    );
    assert_eq!(result["n"], 200);
    let per_class = result["per_class"].as_object().unwrap();
    assert_eq!(per_class.len(), 10);
    let n_sum: u64 = per_class.values().map(|c| c["n"].as_u64().unwrap()).sum();
    assert_eq!(n_sum, 200);
    let confusion: Vec<Vec<u64>> = serde_json::from_value(result["confusion"].clone()).unwrap();
    assert_eq!(confusion.len(), 10);
    let diag: u64 = (0..10).map(|i| confusion[i][i]).sum();
    assert_eq!(diag, result["correct"].as_u64().unwrap());
    for p in ["confusion.png", "pca.png"] {
        let img = image::open(plots.join(p)).unwrap();
        assert!(img.width() >= 300, "{p}");
    }
}

#[test]
fn cluster_writes_sizes_and_examples() {
    let Some(data) = demo_data() else { return };
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("clusters");
    let run = edge_ssl()
        .args(["cluster", "--json", "--k", "10", "--data"])
        .arg(data.join("shifted/unlabeled"))
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    common::assert_success(&run);
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let clusters = summary["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 10);
    let total: u64 = clusters.iter().map(|c| c["size"].as_u64().unwrap()).sum();
    assert_eq!(total, 240);
    assert!(
        clusters
            .iter()
            .all(|c| !c["examples"].as_array().unwrap().is_empty())
    );
    assert!(dir.join("head.safetensors").is_file() && dir.join("clusters.json").is_file());
}

/// Same seed → byte-identical adapter and encoder files, whether the encoder and the view
/// rendering run on one thread or two; another seed → another adapter (so the check can fail).
#[test]
fn a_seed_fixes_the_output_bytes_whatever_the_threads() {
    let Some(data) = demo_data() else { return };
    let work = tempfile::tempdir().unwrap();
    let run = |name: &str, extra: &[&str]| -> (Vec<u8>, Vec<u8>) {
        let dir = work.path().join(name);
        let out = adapt(data, &dir, &[&QUICK[..], extra].concat());
        common::assert_success(&out);
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        (read("adapter.safetensors"), read("encoder.onnx"))
    };
    let one = run("one", &["--threads", "1"]);
    let two = run("two", &["--threads", "2"]);
    assert!(
        one.1 == two.1,
        "the BN-patched encoder depends on --threads"
    );
    assert!(one.0 == two.0, "the adapter depends on --threads");
    let other = run("other", &["--threads", "2", "--seed", "1"]);
    assert!(other.0 != two.0, "--seed 1 gave the adapter of --seed 0");
}
