//! The BN-patched encoder `adapt` writes is checked from outside Rust: `onnx.checker`, only BN
//! statistics changed, and ONNX Runtime's Python package gives the same embeddings as
//! `edge-ssl embed` on it (tests/verify_bn_onnx.py). A model whose weights are `Constant` nodes
//! (as PaddlePaddle exports them, made here with the onnx package) adapts, BN and encoder
//! training included, exactly as the same model with initializers. Skipped when the project's
//! .venv lacks onnxruntime.

mod common;

use std::path::{Path, PathBuf};

use common::{edge_ssl, root};

/// The project's Python when it has onnx, onnxruntime and numpy, else `None` (printed).
fn python_with_onnx() -> Option<PathBuf> {
    let python = root().join(".venv/bin/python");
    let has_ort = std::process::Command::new(&python)
        .args(["-c", "import onnx, onnxruntime, numpy"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_ort {
        eprintln!("no .venv with onnx + onnxruntime; skipping");
        return None;
    }
    Some(python)
}

/// `n` 28×28 frames in `dir/frames`, light background and a dark blob: far from
/// Fashion-MNIST's statistics, so BN moves. Returns the folder and the raw pixels.
fn blob_frames(dir: &Path, n: usize) -> (PathBuf, Vec<u8>) {
    let frames = dir.join("frames");
    std::fs::create_dir(&frames).unwrap();
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
    (frames, raw)
}

#[test]
fn bn_patched_onnx_passes_the_checker_and_matches_onnx_runtime() {
    let Some(python) = python_with_onnx() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let n = 24usize;
    let (frames, raw) = blob_frames(tmp.path(), n);
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

/// The bundled encoder rewritten by the Python `script` (`argv[1]` the bundled ONNX, `argv[2]`
/// the file to write) into `dir/NAME.onnx`, with the bundled card beside it.
fn bundled_variant(python: &Path, dir: &Path, name: &str, script: &str) -> PathBuf {
    let out = dir.join(format!("{name}.onnx"));
    let made = std::process::Command::new(python)
        .args(["-c", script])
        .arg(common::default_onnx())
        .arg(&out)
        .output()
        .unwrap();
    common::assert_success(&made);
    let card = std::fs::read_to_string(common::default_onnx().with_extension("toml")).unwrap();
    let card: String = card
        .lines()
        .filter(|l| !l.starts_with("sha256"))
        .map(|l| match l.starts_with("onnx =") {
            true => format!("onnx = \"{name}.onnx\"\n"),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(out.with_extension("toml"), card).unwrap();
    out
}

/// `adapt` of `frames` with tract on one thread (2 views, 1 epoch, no novelty model) into
/// `site`, with `args` added; its stderr.
fn adapt_tract(model: &Path, frames: &Path, site: &Path, args: &[&str]) -> String {
    let run = edge_ssl()
        .args(["adapt", "--model"])
        .arg(model)
        .arg("--data")
        .arg(frames)
        .args(["--no-novelty", "--epochs", "1", "--views", "2"])
        .args(["--backend", "tract", "--threads", "1", "--out"])
        .arg(site)
        .args(args)
        .output()
        .unwrap();
    common::assert_success(&run);
    String::from_utf8_lossy(&run.stderr).into_owned()
}

/// `embed` of `frames` through `model` with tract into `npy`: the file's bytes and stderr.
fn embed_tract(model: &Path, frames: &Path, npy: &Path) -> (Vec<u8>, String) {
    let run = edge_ssl()
        .args(["embed", "--backend", "tract", "--model"])
        .arg(model)
        .arg("--data")
        .arg(frames)
        .arg("--out")
        .arg(npy)
        .output()
        .unwrap();
    common::assert_success(&run);
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    (std::fs::read(npy).unwrap(), stderr)
}

/// Every weight of the bundled encoder moved into a `Constant` node (no initializer left), as
/// Paddle2ONNX writes models, or into an external data file beside it, as torch's exporter
/// does by default: `adapt` re-estimates its 7 BN layers and trains its last two blocks, and
/// the result embeds exactly as the same adaptation of the original.
#[test]
fn weights_in_constant_nodes_or_external_data_adapt_like_initializers() {
    let Some(python) = python_with_onnx() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (frames, _) = blob_frames(tmp.path(), 24);
    let consts = bundled_variant(
        &python,
        tmp.path(),
        "consts",
        r#"
import sys, onnx
from onnx import helper
m = onnx.load(sys.argv[1])
g = m.graph
nodes = [helper.make_node("Constant", [], [t.name], value=t) for t in g.initializer]
del g.initializer[:]
old = list(g.node)
del g.node[:]
g.node.extend(nodes + old)
onnx.checker.check_model(m)
onnx.save(m, sys.argv[2])
"#,
    );
    let external = bundled_variant(
        &python,
        tmp.path(),
        "external",
        r#"
import sys, onnx
m = onnx.load(sys.argv[1])
onnx.save_model(m, sys.argv[2], save_as_external_data=True, all_tensors_to_one_file=True,
                location="external.onnx.data", size_threshold=0)
"#,
    );
    assert!(tmp.path().join("external.onnx.data").is_file());
    // With BN re-estimation the statistics are written first; without it, training reads the
    // weights from the Constant nodes (or the data file) itself.
    for bn in [None, Some("--no-bn-adapt")] {
        let mut embeddings = Vec::new();
        for (name, model) in [
            ("original", common::default_onnx()),
            ("consts", consts.clone()),
            ("external", external.clone()),
        ] {
            let name = format!("{name}{}", bn.unwrap_or(""));
            let site = tmp.path().join(&name);
            let mut args = vec!["--train", "tail:2", "--no-adapter"];
            args.extend(bn);
            let stderr = adapt_tract(&model, &frames, &site, &args);
            assert!(
                bn.is_some() || stderr.contains("re-estimated 7 BatchNorm layer(s)"),
                "{name}: {stderr}"
            );
            assert!(
                stderr.contains("training 2 of 7 encoder blocks"),
                "{name}: {stderr}"
            );
            let npy = tmp.path().join(format!("{name}.npy"));
            embeddings.push(embed_tract(&site, &frames, &npy).0);
        }
        assert_eq!(
            embeddings[0], embeddings[1],
            "the Constant-node model adapted differently ({bn:?})"
        );
        assert_eq!(
            embeddings[0], embeddings[2],
            "the external-data model adapted differently ({bn:?})"
        );
    }
    // `head` on the external-data file writes a directory whose encoder holds its weights (it
    // copied the small .onnx alone, and nothing could load the directory), and `run` uses it
    // with the data file gone.
    let labeled = tmp.path().join("labeled");
    common::reference_labeled(&labeled);
    // The feature means find the convolutions of the Constant-node model (they found none, and
    // its novelty model scored embeddings).
    let run = edge_ssl()
        .args(["head", "--backend", "tract", "--model"])
        .arg(&consts)
        .arg("--labeled")
        .arg(&labeled)
        .arg("--unlabeled")
        .arg(&frames)
        .arg("--out")
        .arg(tmp.path().join("head-consts"))
        .output()
        .unwrap();
    common::assert_success(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("frames' feature means"), "{stderr}");
    let site = tmp.path().join("head-external");
    let run = edge_ssl()
        .args(["head", "--backend", "tract", "--model"])
        .arg(&external)
        .arg("--labeled")
        .arg(&labeled)
        .arg("--out")
        .arg(&site)
        .output()
        .unwrap();
    common::assert_success(&run);
    std::fs::remove_file(tmp.path().join("external.onnx.data")).unwrap();
    let run = edge_ssl()
        .args([
            "run",
            "--backend",
            "tract",
            "--json",
            "--max-frames",
            "2",
            "--model",
        ])
        .arg(&site)
        .arg("--data")
        .arg(&frames)
        .output()
        .unwrap();
    let predictions = common::assert_success(&run);
    assert_eq!(predictions.lines().count(), 3, "{predictions}");
}

/// A model with two outputs, a feature map first and the embedding second, with a card naming
/// the embedding: every command uses the card's output, not the graph's first (`embed` gave the
/// 4,096-wide map where the card said 256) — `embed` gives the original's rows; `adapt` with BN
/// re-estimation and `--train tail:1` (which refused a second output) adapts it exactly as the
/// original; `head` → `export` → `run` classify as the original's directory does.
#[test]
fn a_card_naming_the_second_output_is_what_every_command_uses() {
    let Some(python) = python_with_onnx() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (frames, _) = blob_frames(tmp.path(), 24);
    let two = bundled_variant(
        &python,
        tmp.path(),
        "two",
        r#"
import sys, onnx
from onnx import helper, TensorProto
m = onnx.load(sys.argv[1])
g = m.graph
pool = next(n for n in g.node if n.op_type == "GlobalAveragePool")
fmap = helper.make_tensor_value_info(pool.input[0], TensorProto.FLOAT, ["N", 256, 4, 4])
outs = list(g.output)
del g.output[:]
g.output.extend([fmap] + outs)
onnx.checker.check_model(m)
onnx.save(m, sys.argv[2])
"#,
    );
    let labeled = tmp.path().join("labeled");
    common::reference_labeled(&labeled);
    let embed = |model: &Path, name: &str| -> Vec<u8> {
        let (rows, stderr) = embed_tract(model, &frames, &tmp.path().join(format!("{name}.npy")));
        assert!(stderr.contains("→ 24x256"), "{name}: {stderr}");
        rows
    };
    assert_eq!(
        embed(&common::default_onnx(), "plain-original"),
        embed(&two, "plain-two"),
        "the two-output model embeds other than the original"
    );
    let mut adapted = Vec::new();
    let mut predictions = Vec::new();
    for (name, model) in [("original", common::default_onnx()), ("two", two.clone())] {
        let site = tmp.path().join(name);
        let stderr = adapt_tract(&model, &frames, &site, &["--train", "tail:1"]);
        assert!(
            stderr.contains("training 1 of 7 encoder blocks"),
            "{name}: {stderr}"
        );
        adapted.push(embed(&site, &format!("adapted-{name}")));
        let run = edge_ssl()
            .args(["head", "--backend", "tract", "--model"])
            .arg(&site)
            .arg("--labeled")
            .arg(&labeled)
            .arg("--out")
            .arg(&site)
            .output()
            .unwrap();
        common::assert_success(&run);
        let exported = tmp.path().join(format!("{name}-export.onnx"));
        let run = edge_ssl()
            .args(["export", "--model"])
            .arg(&site)
            .arg("--out")
            .arg(&exported)
            .output()
            .unwrap();
        common::assert_success(&run);
        for model in [&site, &exported] {
            let run = edge_ssl()
                .args(["run", "--backend", "tract", "--json", "--model"])
                .arg(model)
                .arg("--data")
                .arg(&frames)
                .output()
                .unwrap();
            let out = common::assert_success(&run);
            let last = out.lines().last().unwrap_or_default();
            let summary: serde_json::Value = serde_json::from_str(last).unwrap();
            predictions.push(summary["classes"].clone());
        }
    }
    assert_eq!(
        adapted[0], adapted[1],
        "the two-output model adapted differently"
    );
    assert_eq!(
        predictions[0], predictions[1],
        "the original's directory and its export disagree"
    );
    assert_eq!(
        predictions[0], predictions[2],
        "the two-output model's directory classifies otherwise"
    );
    assert_eq!(
        predictions[0], predictions[3],
        "the two-output model's export classifies otherwise"
    );
}

/// The bundled encoder converted to half precision as converters do it with float32 inputs and
/// outputs (weights float16, a Cast after the input and before the output): `head` fits its
/// novelty model on the feature means on both backends (ONNX Runtime refused the feature graph:
/// float16 means met a float32 floor), and `adapt` refuses BN re-estimation and encoder training
/// before writing anything, while the adapter alone trains.
#[test]
fn a_float16_encoder_gets_a_head_and_adapts_its_adapter_alone() {
    let Some(python) = python_with_onnx() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let half = bundled_variant(
        &python,
        tmp.path(),
        "half",
        r#"
import sys, onnx, numpy as np
from onnx import helper, numpy_helper, TensorProto
m = onnx.load(sys.argv[1])
g = m.graph
for i, t in enumerate(g.initializer):
    if t.data_type == TensorProto.FLOAT:
        g.initializer[i].CopyFrom(numpy_helper.from_array(
            numpy_helper.to_array(t).astype(np.float16), t.name))
x, y = g.input[0].name, g.output[0].name
for n in g.node:
    n.input[:] = [x + "_f16" if i == x else i for i in n.input]
    n.output[:] = [y + "_f16" if o == y else o for o in n.output]
g.node.insert(0, helper.make_node("Cast", [x], [x + "_f16"], to=TensorProto.FLOAT16))
g.node.append(helper.make_node("Cast", [y + "_f16"], [y], to=TensorProto.FLOAT))
onnx.checker.check_model(m)
onnx.save(m, sys.argv[2])
"#,
    );
    let labeled = tmp.path().join("labeled");
    common::reference_labeled(&labeled);
    let (frames, _) = blob_frames(tmp.path(), 24);
    for backend in ["ort", "tract"] {
        let out = tmp.path().join(format!("head-{backend}"));
        let run = edge_ssl()
            .args(["head", "--backend", backend, "--model"])
            .arg(&half)
            .arg("--labeled")
            .arg(&labeled)
            .arg("--unlabeled")
            .arg(&frames)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        common::assert_success(&run);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            stderr.contains("frames' feature means"),
            "{backend}: {stderr}"
        );
    }
    let adapt = |out: &Path, extra: &[&str]| {
        edge_ssl()
            .args(["adapt", "--backend", "ort", "--model"])
            .arg(&half)
            .arg("--data")
            .arg(&frames)
            .args(["--epochs", "1", "--views", "2", "--out"])
            .arg(out)
            .args(extra)
            .output()
            .unwrap()
    };
    for extra in [&[][..], &["--no-bn-adapt", "--train", "tail:1"]] {
        let out = tmp.path().join("refused");
        common::assert_clean_failure(&adapt(&out, extra), "its weights are float16");
        assert!(!out.exists(), "{extra:?}: wrote {}", out.display());
    }
    let out = tmp.path().join("adapter");
    common::assert_success(&adapt(&out, &["--no-bn-adapt"]));
    assert!(out.join("adapter.safetensors").is_file());
}
