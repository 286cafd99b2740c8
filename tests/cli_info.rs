//! `edge-ssl info` on models shaped like PaddlePaddle exports (tests/make_paddle_like.py): weights
//! in `Constant` nodes are counted (checked against a count done in Python), a graph that cannot be
//! analysed at the assumed 224×224 is still described with its FLOPs "unknown", `--input-shape`
//! gives the size, and `--model M` works like `M`; a model with an operator tract lacks is said to
//! be one tract cannot run, and gets the width ONNX Runtime measures. Skipped (saying so) without
//! the project's .venv.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_clean_failure, assert_success, edge_ssl, root};
use serde_json::Value;

fn python() -> PathBuf {
    root().join(".venv/bin/python")
}

/// Writes the Paddle-like models into `dir`; `None` (with a note) when the .venv lacks onnx.
fn paddle_like(dir: &Path) -> Option<Value> {
    let out = std::process::Command::new(python())
        .arg(root().join("tests/make_paddle_like.py"))
        .arg(dir)
        .output();
    match out {
        Ok(out) if out.status.success() => Some(serde_json::from_slice(&out.stdout).unwrap()),
        Ok(out) if out.status.code() == Some(3) => {
            eprintln!("skipping: {}", String::from_utf8_lossy(&out.stderr));
            None
        }
        Err(e) => {
            eprintln!("skipping: no .venv python ({e})");
            None
        }
        Ok(out) => panic!(
            "make_paddle_like.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn info_json(args: &[&str]) -> Value {
    let out = edge_ssl()
        .arg("info")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_str(&assert_success(&out)).unwrap()
}

fn python_count(model: &str) -> u64 {
    let out = std::process::Command::new(python())
        .arg(root().join("tests/make_paddle_like.py"))
        .args(["--count", model])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["parameters"].as_u64().unwrap()
}

#[test]
fn info_on_paddle_like_models() {
    let dir = tempfile::tempdir().unwrap();
    let Some(report) = paddle_like(dir.path()) else {
        return;
    };
    let rec = report["rec_like"]["path"].as_str().unwrap();
    let cls = report["cls_like"]["path"].as_str().unwrap();

    // Weights stored as Constant nodes are parameters; the count agrees with numpy's.
    for (name, path) in [("rec_like", rec), ("cls_like", cls)] {
        let v = info_json(&[path]);
        let expected = report[name]["parameters"].as_u64().unwrap();
        assert!(expected > 0);
        assert_eq!(v["parameters"].as_u64(), Some(expected), "{name}: {v}");
        assert_eq!(python_count(path), expected);
    }

    // The recognizer's Reshape was computed for a height of 48: at the assumed 224×224 its FLOPs
    // are unknown, with the reason, and info still succeeds.
    let v = info_json(&[rec]);
    assert!(v["flops_per_sample"].is_null(), "{v}");
    assert_eq!(v["flops_input_shape"], serde_json::json!([1, 3, 224, 224]));
    assert!(!v["flops_unknown"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(v["outputs"][0]["shape"][2], 10);
    let out = edge_ssl().args(["info", rec]).output().unwrap();
    let text = assert_success(&out);
    assert!(
        text.contains("FLOPs       unknown at the assumed size 1x3x224x224")
            && text.contains("--input-shape"),
        "{text}"
    );
    assert!(text.contains("parameters  5242 "), "{text}");

    // At the size it was built for, tract's count matches the one done by hand (Conv and MatMul
    // multiply-adds ×2), and `--model` is the same as the argument.
    let expected = report["rec_like"]["flops"].as_u64().unwrap();
    for shape in ["1,3,48,64", "3x48x64", "2,3,48,64"] {
        let v = info_json(&["--model", rec, "--input-shape", shape]);
        let flops = v["flops_per_sample"]
            .as_u64()
            .unwrap_or_else(|| panic!("{shape}: {v}"));
        assert!(
            flops.abs_diff(expected) * 100 <= expected,
            "{shape}: tract says {flops}, by hand {expected}"
        );
        assert!(v["flops_unknown"].is_null());
    }
    let out = edge_ssl()
        .args(["info", "--model", rec, "--input-shape", "3x48x64"])
        .output()
        .unwrap();
    assert!(assert_success(&out).contains(" M per sample at 1x3x48x64"));

    // The classifier's `-1` dimensions are free, not an error; it takes 224×224.
    let v = info_json(&["--model", cls]);
    assert_eq!(
        v["inputs"][0]["shape"],
        serde_json::json!([null, 3, null, null])
    );
    assert!(v["flops_per_sample"].as_u64().unwrap() > 0, "{v}");

    // A shape the model cannot take is the user's mistake, said clearly.
    for (shape, why) in [
        ("1,1,48,64", "fixed at 3"),
        ("3x48", "has 4 dimensions"),
        ("1,3,0,64", "not a positive whole number"),
    ] {
        let out = edge_ssl()
            .args(["info", rec, "--input-shape", shape])
            .output()
            .unwrap();
        assert_clean_failure(&out, why);
    }
    let out = edge_ssl()
        .args(["info", rec, "--model", cls])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// `info --model default` is `info default` is `info`.
#[test]
fn info_model_flag_is_the_argument() {
    let a = info_json(&["--model", "default"]);
    let b = info_json(&[]);
    assert_eq!(a["parameters"], b["parameters"]);
    assert_eq!(a["flops_per_sample"], b["flops_per_sample"]);
    assert!(a["flops_per_sample"].as_u64().unwrap() > 0);
}

/// A graph tract cannot run (CenterCropPad, an operator tract lacks, its output's width left
/// symbolic): `info` says tract cannot run it and why, the card gets the width one ONNX Runtime
/// run measures (2,048, not the placeholder 1), and a head fitted on it makes a directory that
/// `info` and `run` accept (before: "head.safetensors takes 2048-d embeddings, the model gives
/// 1-d").
#[test]
fn a_model_only_onnx_runtime_runs_gets_its_width_measured() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("crop.onnx");
    let script = r#"
import sys
import numpy as np
import onnx
from onnx import TensorProto as T, helper as h, numpy_helper as nh
w = nh.from_array(np.random.RandomState(0).randn(8, 1, 3, 3).astype(np.float32) * 0.3, "w")
crop = nh.from_array(np.array([16, 16], dtype=np.int64), "crop")
nodes = [h.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         h.make_node("Relu", ["c"], ["r"]),
         h.make_node("CenterCropPad", ["r", "crop"], ["cc"], axes=[2, 3]),
         h.make_node("Flatten", ["cc"], ["y"])]
g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, ["N", 1, 28, 28])],
                 [h.make_tensor_value_info("y", T.FLOAT, ["N", "width"])], [w, crop])
m = h.make_model(g, opset_imports=[h.make_opsetid("", 18)])
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script])
        .arg(&model)
        .output();
    match out {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "writing the model: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            eprintln!("skipping: no .venv python ({e})");
            return;
        }
    }
    let model = model.to_str().unwrap();
    let v = info_json(&[model]);
    assert_eq!(v["backends"]["tract"]["runs_this_model"], false, "{v}");
    let why = v["backends"]["tract"]["error"].as_str().unwrap();
    assert!(why.contains("CenterCropPad"), "{why}");
    assert_eq!(v["card"]["output"]["dim"], 2048, "{v}");
    let out = edge_ssl().args(["info", model]).output().unwrap();
    let text = assert_success(&out);
    assert!(
        text.contains(
            "tract: cannot run this model — it has no implementation of the operator CenterCropPad"
        ),
        "{text}"
    );
    let assumed = String::from_utf8_lossy(&out.stderr);
    assert!(
        assumed.contains("embedding width 2048: measured by one ONNX Runtime run"),
        "{assumed}"
    );

    let labeled = dir.path().join("labeled");
    common::reference_labeled(&labeled);
    let fitted = dir.path().join("fitted");
    assert_success(
        &edge_ssl()
            .args(["head", "--model", model, "--backend", "ort", "--labeled"])
            .arg(&labeled)
            .arg("--out")
            .arg(&fitted)
            .output()
            .unwrap(),
    );
    common::assert_model_loads(&fitted, "a head on a model only ONNX Runtime runs");
    let out = edge_ssl()
        .args(["run", "--backend", "ort", "--json", "--model"])
        .arg(&fitted)
        .arg("--data")
        .arg(&labeled)
        .output()
        .unwrap();
    let text = assert_success(&out);
    assert!(text.contains("\"type\":\"summary\""), "{text}");
}
