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
    let summary: serde_json::Value = serde_json::from_str(&common::assert_success(&head)).unwrap();
    let stderr = String::from_utf8_lossy(&head.stderr);
    assert!(
        stderr.contains("with labels only"),
        "no semi-supervised report: {stderr}"
    );
    assert!(site.join("head.safetensors").is_file());
    // The pseudo-labels are used only when cross-validation does not find them worse.
    let semi = &summary["semi_supervised"];
    let (alone, with) = (
        semi["cv_accuracy_labeled_only"].as_f64().unwrap(),
        semi["cv_accuracy_with_unlabeled"].as_f64().unwrap(),
    );
    assert_eq!(semi["used_unlabeled"], with >= alone, "{semi}");
    let kept = if with >= alone {
        "with them"
    } else {
        "fitted on the labels alone"
    };
    assert!(
        stderr.contains(&format!("kept the head {kept}")),
        "{stderr}"
    );

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

/// Runs tests/verify_trained_encoder.py (ONNX Runtime Python) on `trained` against the bundled
/// encoder; returns its JSON report and ONNX Runtime's embeddings of the reference images.
/// `None` (with a note) when the project's .venv lacks onnxruntime.
fn onnxruntime_python(trained: &Path) -> Option<(serde_json::Value, ndarray::Array2<f32>)> {
    let python = common::root().join(".venv/bin/python");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ort.npy");
    let run = std::process::Command::new(&python)
        .arg(common::root().join("tests/verify_trained_encoder.py"))
        .arg(common::default_onnx())
        .arg(trained)
        .arg(common::reference_dir().join("input.npy"))
        .arg(&out)
        .output();
    match run {
        Ok(r) if r.status.success() => Some((
            serde_json::from_slice(&r.stdout).unwrap(),
            edge_ssl_core::npy::read_f32(&out).unwrap(),
        )),
        Ok(r) if String::from_utf8_lossy(&r.stderr).contains("No module named") => {
            eprintln!("onnxruntime not in .venv; skipping the Python check");
            None
        }
        Ok(r) => panic!("{}", String::from_utf8_lossy(&r.stderr)),
        Err(e) => {
            eprintln!("{}: {e}; skipping the Python check", python.display());
            None
        }
    }
}

fn embed(model: &Path, backend: &str, out: &Path) -> ndarray::Array2<f32> {
    let run = edge_ssl()
        .args(["embed", "--backend", backend, "--model"])
        .arg(model)
        .arg("--input")
        .arg(common::reference_dir().join("images"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    common::assert_success(&run);
    edge_ssl_core::npy::read_f32(out).unwrap()
}

#[test]
fn train_tail_1_changes_only_the_last_block_and_every_reader_agrees() {
    let Some(data) = demo_data() else { return };
    let work = tempfile::tempdir().unwrap();
    let site = work.path().join("site");
    // Without BN re-estimation and adapter, only what --train touches differs from the source.
    let out = adapt(
        data,
        &site,
        &[
            "--train",
            "tail:1",
            "--train-epochs",
            "3",
            "--no-bn-adapt",
            "--no-adapter",
        ],
    );
    common::assert_success(&out);
    let metrics = read_json(&site.join("metrics.json"));
    assert_eq!(metrics["train"], "tail:1");
    let trained = &metrics["encoder"];
    assert_eq!(
        trained["epochs"], 3,
        "--train-epochs sets the encoder's epochs"
    );
    assert_eq!(trained["trained_blocks"], 1);
    assert_eq!(trained["blocks"], 7);
    // The f32 learning rate is written as written (0.001), not widened (0.0010000000474974513).
    let lr = trained["lr"].as_f64().unwrap();
    assert_eq!(lr, (lr as f32).to_string().parse::<f64>().unwrap(), "{lr}");
    // Without an adapter no views are rendered, and the summary does not claim any.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(" views in "), "{stderr}");
    let steps = trained["steps"].as_u64().unwrap();
    assert!(steps > 0);
    assert_eq!(
        trained["loss_curve"].as_array().unwrap().len() as u64,
        steps
    );
    let card: toml::Table =
        toml::from_str(&std::fs::read_to_string(site.join("edge-ssl.toml")).unwrap()).unwrap();
    assert_eq!(card["provenance"]["train"].as_str(), Some("tail:1"));
    // `info` says what was trained: the last block, a 1×1 conv 128 → 256 without bias and its
    // BN's scale and shift: 128·256 + 2·256 parameters.
    let info = info_json(&site);
    let adaptation = &info["adaptation"];
    assert_eq!(adaptation["train"], "tail:1", "{info}");
    assert_eq!(adaptation["method"], "none");
    assert_eq!(adaptation["bn_adapt"], false);
    assert_eq!(adaptation["frames"], metrics["frames"]);
    assert_eq!(adaptation["trained_blocks"], 1);
    assert_eq!(adaptation["encoder_blocks"], 7);
    assert_eq!(adaptation["trained_parameters"], 128 * 256 + 2 * 256);
    assert_eq!(adaptation["encoder_epochs"], 3);

    let tract = embed(&site, "tract", &work.path().join("tract.npy"));
    let ort = embed(&site, "ort", &work.path().join("ort.npy"));
    let atol = common::reference_atol();
    let diff = common::max_abs_diff(&tract, &ort);
    assert!(diff <= atol, "tract vs ort on the trained encoder: {diff}");
    let untrained =
        edge_ssl_core::npy::read_f32(&common::reference_dir().join("embedding.npy")).unwrap();
    let moved = common::max_abs_diff(&tract, &untrained);
    assert!(
        moved > 100.0 * atol,
        "training moved the embeddings by only {moved}"
    );

    if let Some((report, python)) = onnxruntime_python(&site.join("encoder.onnx")) {
        let last_block: Vec<String> = [
            "0.weight",
            "1.bias",
            "1.running_mean",
            "1.running_var",
            "1.weight",
        ]
        .iter()
        .map(|s| format!("features.6.{s}"))
        .collect();
        assert_eq!(report["changed"], serde_json::json!(last_block), "{report}");
        assert_eq!(
            report["unchanged"].as_array().unwrap().len(),
            30,
            "{report}"
        );
        assert_eq!(report["same_nodes"], true);
        assert_eq!(report["new_initializers"], serde_json::json!([]));
        let diff = common::max_abs_diff(&tract, &python);
        assert!(diff <= atol, "edge-ssl vs ONNX Runtime Python: {diff}");
    }

    // The directory is an ordinary model directory: head and eval take it.
    let head = edge_ssl()
        .args(["head", "--model"])
        .arg(&site)
        .arg("--labeled")
        .arg(data.join("shifted/labeled"))
        .arg("--out")
        .arg(&site)
        .output()
        .unwrap();
    common::assert_success(&head);
    let eval = edge_ssl()
        .args(["eval", "--json", "--model"])
        .arg(&site)
        .arg("--labeled")
        .arg(data.join("shifted/eval"))
        .output()
        .unwrap();
    common::assert_success(&eval);
}

#[test]
fn an_operator_the_trainer_lacks_is_one_line_naming_it() {
    let Some(data) = demo_data() else { return };
    let work = tempfile::tempdir().unwrap();
    // The bundled encoder with its block-5 activation turned into a Selu (same length, so
    // the protobuf stays valid), and its card without the sha256 that no longer holds.
    let name = b"/features/features.5/features.5.2/Relu\x22\x04Relu";
    let mut bytes = std::fs::read(common::default_onnx()).unwrap();
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap();
    bytes[at + name.len() - 4..at + name.len() - 2].copy_from_slice(b"Se");
    let model = work.path().join("encoder.onnx");
    std::fs::write(&model, bytes).unwrap();
    let card = std::fs::read_to_string(common::default_onnx().with_extension("toml")).unwrap();
    let card: String = card
        .lines()
        .filter(|l| !l.starts_with("sha256"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(model.with_extension("toml"), card).unwrap();
    let out = edge_ssl()
        .args(["adapt", "--train", "all", "--no-adapter", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(data.join("shifted/unlabeled"))
        .arg("--out")
        .arg(work.path().join("site"))
        .output()
        .unwrap();
    common::assert_clean_failure(&out, "operator Selu");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tail:1"), "{stderr}");
    assert!(!work.path().join("site/edge-ssl.toml").exists());
    // Refused up front: no BN pass ran and no work directory was made.
    assert!(!stderr.contains("re-estimated"), "{stderr}");
    assert!(!work.path().join("site/.adapt-work").exists());
}

#[test]
fn labeled_images_train_with_the_encoder_and_give_the_directory_a_head() {
    let Some(data) = demo_data() else { return };
    let work = tempfile::tempdir().unwrap();
    let site = work.path().join("site");
    let labeled = data.join("shifted/labeled");
    let joint = ["--train", "tail:1", "--train-epochs", "2", "--no-adapter"];
    let out = edge_ssl()
        .args(["adapt", "--model", "default", "--data"])
        .arg(data.join("shifted/unlabeled"))
        .arg("--out")
        .arg(&site)
        .args(joint)
        .arg("--labeled")
        .arg(&labeled)
        .output()
        .unwrap();
    common::assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("held-out labeled images (20 of 100)"),
        "{stderr}"
    );
    // Every fifth image of each of the 10 classes judges; the other 80 train.
    let labels = &read_json(&site.join("metrics.json"))["encoder"]["labels"];
    assert_eq!(
        (labels["trained_on"].as_u64(), labels["held_out"].as_u64()),
        (Some(80), Some(20))
    );
    let before = labels["accuracy_before"].as_f64().unwrap();
    let after = labels["accuracy_after"].as_f64().unwrap();
    let kept = if after >= before {
        "trained"
    } else {
        "original"
    };
    assert_eq!(labels["kept"], kept, "{labels}");
    // `info` tells which encoder the directory holds.
    let info = info_json(&site);
    assert_eq!(info["adaptation"]["labels_kept"], kept, "{info}");

    // The directory's head is `head`'s own softmax fit on all 100 labels: the same predictions.
    let refit = work.path().join("refit");
    let head = edge_ssl()
        .args(["head", "--model"])
        .arg(&site)
        .arg("--labeled")
        .arg(&labeled)
        .arg("--out")
        .arg(&refit)
        .output()
        .unwrap();
    common::assert_success(&head);
    let accuracy = |model: &Path| {
        let eval = edge_ssl()
            .args(["eval", "--json", "--model"])
            .arg(model)
            .arg("--labeled")
            .arg(data.join("shifted/eval"))
            .output()
            .unwrap();
        let result: serde_json::Value =
            serde_json::from_str(&common::assert_success(&eval)).unwrap();
        result["accuracy"].as_f64().unwrap()
    };
    assert_eq!(accuracy(&site), accuracy(&refit));

    // Labels train with the encoder: without --train they are refused before any work.
    let alone = edge_ssl()
        .args(["adapt", "--model", "default", "--data"])
        .arg(data.join("shifted/unlabeled"))
        .arg("--out")
        .arg(work.path().join("alone"))
        .arg("--labeled")
        .arg(&labeled)
        .output()
        .unwrap();
    // A usage error (clap's exit status 2) naming the missing flag.
    let stderr = String::from_utf8_lossy(&alone.stderr);
    assert_eq!(alone.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--train <WHICH>"), "{stderr}");
    assert!(!work.path().join("alone").exists());
}

/// `edge-ssl info --json --model DIR`, parsed (the command must succeed).
fn info_json(dir: &Path) -> serde_json::Value {
    let info = edge_ssl()
        .args(["info", "--json", "--model"])
        .arg(dir)
        .output()
        .unwrap();
    serde_json::from_str(&common::assert_success(&info)).unwrap()
}
