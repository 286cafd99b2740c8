//! `edge-ssl export` on a model directory adapted on real shifted Fashion-MNIST frames: the
//! one-file ONNX must pass `onnx.checker` and, run by ONNX Runtime's Python package
//! (tests/verify_export_onnx.py) and by tract, give for every image the class `edge-ssl run`
//! gives on the directory and the head's probabilities within 1e-4. Bad inputs fail with one
//! line and leave no file. Needs the Debian `dataset-fashion-mnist` files (skipped with a note
//! when absent); the ONNX Runtime half is skipped when the project's .venv lacks it.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{assert_clean_failure, copy_dir, edge_ssl, max_abs_diff, root};
use edge_ssl_core::{ModelCard, Preprocessor, Tensor, decode_image, npy};
use edge_ssl_runtime::{Backend, BackendOptions, TractBackend};
use edge_ssl_train::head::Head;
use edge_ssl_train::novelty::NoveltyModel;
use ndarray::{Array2, Axis};

/// Shifted demo data and an adapted model directory, made once for the whole file.
struct Fixture {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    /// Adapted (BN + VICReg adapter), with a 10-class softmax head.
    site: PathBuf,
    /// The same directory before `head` ran.
    headless: PathBuf,
}

fn ok(out: std::process::Output) -> std::process::Output {
    common::assert_success(&out);
    out
}

fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        if !Path::new("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").is_file()
            && std::env::var_os("EDGE_SSL_FMNIST").is_none()
        {
            eprintln!("Fashion-MNIST not installed; skipping");
            return None;
        }
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        edge_ssl()
            .args(["demo", "--data-only", "--unlabeled", "160", "--eval", "100"])
            .arg("--out")
            .arg(&data)
            .assert()
            .success();
        let site = tmp.path().join("site");
        ok(edge_ssl()
            .args(["adapt", "--model", "default", "--data"])
            .arg(data.join("shifted/unlabeled"))
            .arg("--out")
            .arg(&site)
            .args(["--epochs", "2", "--views", "2", "--batch", "64"])
            .output()
            .unwrap());
        let headless = tmp.path().join("headless");
        copy_dir(&site, &headless);
        // `--novelty-input embedding` refits the novelty model on the head's 100 labeled
        // embeddings (what the reference below scores) instead of keeping adapt's on feature
        // means, whose export `cli_novelty.rs` checks.
        ok(edge_ssl()
            .args(["head", "--novelty-input", "embedding", "--model"])
            .arg(&site)
            .arg("--labeled")
            .arg(data.join("shifted/labeled"))
            .arg("--out")
            .arg(&site)
            .output()
            .unwrap());
        Some(Fixture {
            _tmp: tmp,
            data,
            site,
            headless,
        })
    })
    .as_ref()
}

/// What edge-ssl itself says about the eval images on a model directory.
struct Reference {
    dir: tempfile::TempDir,
    /// The preprocessed batch, `N × C × H × W`.
    input: Tensor,
    embedding: Array2<f32>,
    probabilities: Array2<f32>,
    /// Class per image from `edge-ssl run --json`.
    classes: Vec<usize>,
    /// The directory's novelty scores (`N × 1`), when it has a novelty model.
    novelty: Option<Array2<f32>>,
}

impl Reference {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn reference(model: &Path, images: &Path) -> Reference {
    let dir = tempfile::tempdir().unwrap();
    let emb_path = dir.path().join("embedding.npy");
    ok(edge_ssl()
        .args(["embed", "--model"])
        .arg(model)
        .arg("--input")
        .arg(images)
        .arg("--out")
        .arg(&emb_path)
        .output()
        .unwrap());
    let embedding = npy::read_f32(&emb_path).unwrap();
    let paths: Vec<String> = std::fs::read_to_string(dir.path().join("embedding.paths.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(paths.len(), embedding.nrows());

    let card = ModelCard::load(&model.join("edge-ssl.toml")).unwrap();
    let pre = Preprocessor::new(card.input.clone());
    let units: Vec<_> = paths
        .iter()
        .map(|p| pre.unit_image(&decode_image(Path::new(p)).unwrap()))
        .collect();
    let input = pre.batch(&units).unwrap();
    let n = paths.len();
    let flat = Array2::from_shape_vec((n, input.len() / n), input.iter().copied().collect());
    npy::write_f32(&dir.path().join("input.npy"), flat.unwrap().view()).unwrap();

    let head = Head::load(&model.join("head.safetensors")).unwrap();
    let probabilities = head.probabilities(embedding.view()).unwrap();
    npy::write_f32(&dir.path().join("probabilities.npy"), probabilities.view()).unwrap();
    let novelty = model.join("novelty.safetensors").is_file().then(|| {
        let n = NoveltyModel::load(&model.join("novelty.safetensors")).unwrap();
        let scores = n.score(embedding.view()).unwrap().insert_axis(Axis(1));
        npy::write_f32(&dir.path().join("novelty.npy"), scores.view()).unwrap();
        scores
    });

    let run = ok(edge_ssl()
        .args(["run", "--json", "--model"])
        .arg(model)
        .arg("--source")
        .arg(images)
        .output()
        .unwrap());
    let by_origin: HashMap<String, usize> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "frame")
        .map(|v| {
            let origin = v["origin"].as_str().unwrap().to_owned();
            (origin, v["class_id"].as_u64().unwrap() as usize)
        })
        .collect();
    let classes: Vec<usize> = paths.iter().map(|p| by_origin[p]).collect();
    std::fs::write(
        dir.path().join("classes.json"),
        serde_json::to_string(&classes).unwrap(),
    )
    .unwrap();
    Reference {
        dir,
        input,
        embedding,
        probabilities,
        classes,
        novelty,
    }
}

fn export(model: &Path, out: &Path, softmax: bool) {
    let mut cmd = edge_ssl();
    cmd.args(["export", "--model"])
        .arg(model)
        .arg("--out")
        .arg(out);
    if softmax {
        cmd.arg("--with-softmax");
    }
    ok(cmd.output().unwrap());
}

fn have_onnxruntime() -> bool {
    let has = std::process::Command::new(root().join(".venv/bin/python"))
        .args(["-c", "import onnx, onnxruntime, numpy"])
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        eprintln!("no .venv with onnx + onnxruntime; skipping the ONNX Runtime check");
    }
    has
}

/// onnx.checker + ONNX Runtime (Python) against `r`; returns the script's JSON report.
fn check_with_onnxruntime(onnx: &Path, softmax: bool, r: &Reference) -> serde_json::Value {
    let out = std::process::Command::new(root().join(".venv/bin/python"))
        .arg(root().join("tests/verify_export_onnx.py"))
        .arg(onnx)
        .arg(if softmax { "probabilities" } else { "logits" })
        .arg(r.path("input.npy"))
        .arg(r.path("embedding.npy"))
        .arg(r.path("probabilities.npy"))
        .arg(r.path("classes.json"))
        .args(r.novelty.as_ref().map(|_| r.path("novelty.npy")))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("onnxruntime {}: {stdout}", onnx.display());
    serde_json::from_str(stdout.trim()).unwrap()
}

fn softmax_rows(mut x: Array2<f32>) -> Array2<f32> {
    for mut row in x.axis_iter_mut(Axis(0)) {
        let max = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row /= sum;
    }
    x
}

fn argmax(row: ndarray::ArrayView1<f32>) -> usize {
    (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best })
}

/// tract (through the runtime's backend) against `r`, at batch N and batch 1; returns the
/// largest probability difference.
fn check_with_tract(onnx: &Path, model: &Path, softmax: bool, r: &Reference) -> f32 {
    let card = ModelCard::load(&model.join("edge-ssl.toml")).unwrap();
    let mut session = TractBackend::new(BackendOptions::default())
        .load(onnx, &card)
        .unwrap();
    assert_eq!(
        session.outputs().len(),
        2 + usize::from(r.novelty.is_some())
    );
    let to2 = |t: &Tensor| {
        let n = t.shape()[0];
        Array2::from_shape_vec((n, t.len() / n), t.iter().copied().collect()).unwrap()
    };
    let out = session.run(&[r.input.view()]).unwrap();
    let (embedding, scores) = (to2(&out[0]), to2(&out[1]));
    let probabilities = if softmax {
        for row in scores.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-5, "row sums to {}", row.sum());
        }
        scores
    } else {
        softmax_rows(scores)
    };
    if let Some(want) = &r.novelty {
        let got = to2(&out[2]);
        let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let d = max_abs_diff(&got, want);
        assert!(
            d < 1e-4 * scale,
            "tract novelty differs by {d} (scores up to {scale})"
        );
    }
    let emb_diff = max_abs_diff(&embedding, &r.embedding);
    let diff = max_abs_diff(&probabilities, &r.probabilities);
    assert!(emb_diff < 1e-4, "tract embedding differs by {emb_diff}");
    assert!(diff < 1e-4, "tract probabilities differ by {diff}");
    for (i, row) in probabilities.rows().into_iter().enumerate() {
        assert_eq!(
            argmax(row),
            r.classes[i],
            "image {i}: tract vs edge-ssl run"
        );
    }
    let first = r.input.slice_axis(Axis(0), ndarray::Slice::from(0..1));
    let one = to2(&session.run(&[first]).unwrap()[1]);
    let scores_n = to2(&session.run(&[r.input.view()]).unwrap()[1]);
    let batch_diff = max_abs_diff(&one, &scores_n.slice(ndarray::s![0..1, ..]).to_owned());
    // Relative: k-means logits are distances divided by a small temperature, and tract picks
    // other kernels for other batch sizes.
    let magnitude = scores_n.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    assert!(
        batch_diff < 1e-4 * magnitude,
        "batch 1 differs from batch N by {batch_diff} (scores up to {magnitude})"
    );
    eprintln!(
        "tract {}: max |embedding| diff {emb_diff:.2e}, max |probability| diff {diff:.2e}",
        onnx.display()
    );
    diff
}

fn check_both(model: &Path, onnx: &Path, softmax: bool, r: &Reference, ort: bool) {
    check_with_tract(onnx, model, softmax, r);
    if ort {
        let report = check_with_onnxruntime(onnx, softmax, r);
        assert_eq!(report["classes_agree"], report["images"]);
    }
}

#[test]
fn softmax_head_export_matches_edge_ssl_under_onnxruntime_and_tract() {
    let Some(f) = fixture() else { return };
    let eval = f.data.join("shifted/eval");
    let r = reference(&f.site, &eval);
    assert_eq!(r.classes.len(), 100);
    // `head` fitted a novelty model on its 100 labeled images: the export's `novelty` output
    // is checked against it below.
    assert!(r.novelty.is_some(), "the site has no novelty.safetensors");
    // edge-ssl's own two paths agree before anything is compared with them.
    for (i, row) in r.probabilities.rows().into_iter().enumerate() {
        assert_eq!(argmax(row), r.classes[i], "image {i}: head vs run");
    }
    let out = tempfile::tempdir().unwrap();
    let ort = have_onnxruntime();
    for softmax in [false, true] {
        let onnx = out.path().join(format!("site-{softmax}.onnx"));
        export(&f.site, &onnx, softmax);
        check_both(&f.site, &onnx, softmax, &r, ort);
    }
    // The file alone is enough for edge-ssl: its embedded card gives the preprocessing.
    let npy_path = out.path().join("from-export.npy");
    let embed = ok(edge_ssl()
        .args(["embed", "--backend", "tract", "--model"])
        .arg(out.path().join("site-true.onnx"))
        .arg("--input")
        .arg(&eval)
        .arg("--out")
        .arg(&npy_path)
        .output()
        .unwrap());
    let stderr = String::from_utf8_lossy(&embed.stderr);
    assert!(!stderr.contains("assumed"), "{stderr}");
    let diff = max_abs_diff(&npy::read_f32(&npy_path).unwrap(), &r.embedding);
    assert!(diff < 1e-4, "embed --model FILE.onnx differs by {diff}");
}

#[test]
fn imprint_and_kmeans_heads_export_faithfully() {
    let Some(f) = fixture() else { return };
    let work = tempfile::tempdir().unwrap();
    let imprint = work.path().join("imprint");
    ok(edge_ssl()
        .args(["head", "--kind", "imprint", "--model"])
        .arg(&f.site)
        .arg("--labeled")
        .arg(f.data.join("shifted/labeled"))
        .arg("--out")
        .arg(&imprint)
        .output()
        .unwrap());
    let kmeans = work.path().join("kmeans");
    ok(edge_ssl()
        .args(["cluster", "--k", "5", "--model"])
        .arg(&f.site)
        .arg("--data")
        .arg(f.data.join("shifted/unlabeled"))
        .arg("--out")
        .arg(&kmeans)
        .output()
        .unwrap());
    let ort = have_onnxruntime();
    let eval = f.data.join("shifted/eval");
    for (dir, softmax) in [(&imprint, false), (&kmeans, false), (&kmeans, true)] {
        let r = reference(dir, &eval);
        let onnx = work.path().join(format!(
            "{}-{softmax}.onnx",
            dir.file_name().unwrap().to_string_lossy()
        ));
        export(dir, &onnx, softmax);
        check_both(dir, &onnx, softmax, &r, ort);
    }
}

/// Runs `export` expecting one clean error line naming `must_contain`, and `out` as it was
/// (no file when there was none) with no temporary file beside it.
fn refused(model: &Path, out: &Path, must_contain: &str) {
    let before = std::fs::read(out).ok();
    let run = edge_ssl()
        .args(["export", "--model"])
        .arg(model)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert_clean_failure(&run, must_contain);
    if !out.is_dir() {
        assert!(
            std::fs::read(out).ok() == before,
            "{} was written",
            out.display()
        );
    }
    if let Some(parent) = out.parent().filter(|p| p.is_dir()) {
        let leftovers: Vec<_> = std::fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

#[test]
fn bad_inputs_fail_with_one_line_and_write_nothing() {
    let Some(f) = fixture() else { return };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out.onnx");

    let plain = work.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    refused(&plain, &out, "not a model directory");
    refused(&work.path().join("missing"), &out, "no such model");
    refused(&f.headless, &out, "no head.safetensors");
    refused(&common::default_onnx(), &out, "no head");

    let corrupt = work.path().join("corrupt");
    copy_dir(&f.site, &corrupt);
    let adapter = corrupt.join("adapter.safetensors");
    let bytes = std::fs::read(&adapter).unwrap();
    std::fs::write(&adapter, &bytes[..bytes.len() / 2]).unwrap();
    refused(&corrupt, &out, "adapter.safetensors");

    let knn = work.path().join("knn");
    ok(edge_ssl()
        .args(["head", "--kind", "knn", "--model"])
        .arg(&f.site)
        .arg("--labeled")
        .arg(f.data.join("shifted/labeled"))
        .arg("--out")
        .arg(&knn)
        .output()
        .unwrap());
    refused(&knn, &out, "k-NN heads do not export");

    refused(
        &f.site,
        &work.path().join("no/such/dir/x.onnx"),
        "does not exist",
    );
    refused(&f.site, &plain, "is a directory");
    // Even root cannot create files in /proc: the write itself fails, after the graph is built.
    refused(
        &f.site,
        Path::new("/proc/edge-ssl-export-test.onnx"),
        "writing",
    );
    // An output that is a file of the model being exported (issue 15 item 1).
    refused(&f.site, &f.site.join("encoder.onnx"), "is also an input");
    refused(
        &f.site,
        &f.site.join("head.safetensors"),
        "is also an input",
    );
}

/// `adapt` and `fleet join` refuse a file from `export` (its `embedding` is encoder and
/// adapter, its head and novelty score more outputs of the graph: adapted as an encoder, a new
/// adapter would stack on the old one under a stale head) with one line, and write no model.
#[test]
fn adapt_and_fleet_join_refuse_an_exported_file() {
    let Some(f) = fixture() else { return };
    let work = tempfile::tempdir().unwrap();
    let onnx = work.path().join("site.onnx");
    export(&f.site, &onnx, false);
    let frames = f.data.join("shifted/unlabeled");
    // `COMMAND --backend tract --max-frames 40 --model MODEL --data FRAMES OUT_FLAG OUT ARGS`.
    let on_frames = |command: &[&str], model: &Path, out: (&str, &Path), args: &[&str]| {
        edge_ssl()
            .args(command)
            .args(["--backend", "tract", "--max-frames", "40", "--model"])
            .arg(model)
            .arg("--data")
            .arg(&frames)
            .arg(out.0)
            .arg(out.1)
            .args(args)
            .output()
            .unwrap()
    };
    let out = work.path().join("adapted");
    let adapt = on_frames(&["adapt"], &onnx, ("--out", &out), &[]);
    assert_clean_failure(&adapt, "cannot be adapted");
    assert!(!out.exists(), "adapt wrote {}", out.display());
    // The local task is prepared before the SuperLink is dialled: nothing listens on port 9.
    let fleet = work.path().join("fleet");
    let superlink = ["--superlink", "127.0.0.1:9"];
    let join = on_frames(&["fleet", "join"], &onnx, ("--work", &fleet), &superlink);
    assert_clean_failure(&join, "cannot be trained in a federation");
    assert!(!fleet.join("model").exists(), "fleet join wrote a model");
    // The directory it came from still adapts: the refusal is about the file, not the model.
    let quick = ["--epochs", "1", "--no-bn-adapt", "--no-novelty"];
    ok(on_frames(&["adapt"], &f.site, ("--out", &out), &quick));
    assert!(out.join("encoder.onnx").is_file());
}

/// Class per origin from `edge-ssl run --json --model MODEL --source IMAGES`.
/// Per origin: class, confidence and novelty score (NaN when `run` gives none).
fn run_classes(model: &Path, images: &Path) -> HashMap<String, (usize, f64, f64)> {
    let run = ok(edge_ssl()
        .args(["run", "--json", "--backend", "tract", "--model"])
        .arg(model)
        .arg("--source")
        .arg(images)
        .output()
        .unwrap());
    String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "frame")
        .map(|v| {
            let origin = v["origin"].as_str().unwrap().to_owned();
            let class = v["class_id"].as_u64().unwrap() as usize;
            let novelty = v["novelty"].as_f64().unwrap_or(f64::NAN);
            (origin, (class, v["confidence"].as_f64().unwrap(), novelty))
        })
        .collect()
}

#[test]
fn run_and_eval_take_the_exported_onnx_and_agree_with_the_directory() {
    let Some(f) = fixture() else { return };
    let eval = f.data.join("shifted/eval");
    let out = tempfile::tempdir().unwrap();
    for softmax in [false, true] {
        let onnx = out.path().join(format!("site-{softmax}.onnx"));
        export(&f.site, &onnx, softmax);
        let (from_dir, from_file) = (run_classes(&f.site, &eval), run_classes(&onnx, &eval));
        assert_eq!(from_dir.len(), 100);
        assert_eq!(from_dir.len(), from_file.len());
        for (origin, (class, confidence, novelty)) in &from_dir {
            let (c, p, n) = from_file[origin];
            assert_eq!(c, *class, "{origin}: exported ONNX vs directory");
            assert!(
                (p - confidence).abs() < 1e-4,
                "{origin}: confidence {p} vs {confidence}"
            );
            // The file's `novelty` output decides like the directory's novelty model.
            assert!(
                (n - novelty).abs() < 1e-4 * novelty.abs().max(1.0),
                "{origin}: novelty {n} vs {novelty}"
            );
        }
        let eval_json = |model: &Path| -> serde_json::Value {
            let out = ok(edge_ssl()
                .args(["eval", "--json", "--backend", "tract", "--model"])
                .arg(model)
                .arg("--labeled")
                .arg(f.data.join("shifted/labeled"))
                .output()
                .unwrap());
            serde_json::from_slice(&out.stdout).unwrap()
        };
        let (a, b) = (eval_json(&f.site), eval_json(&onnx));
        assert_eq!(
            a["confusion"], b["confusion"],
            "eval: exported ONNX vs directory"
        );
        assert_eq!(a["classes"], b["classes"]);
    }
}

/// `export --json` prints one object on stdout saying what the file holds.
#[test]
fn export_json_says_what_was_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m.onnx");
    let run = edge_ssl()
        .args(["export", "--json", "--model"])
        .arg(common::model_dir())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = common::assert_success(&run);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["out"], out.display().to_string());
    assert_eq!(v["head"], "softmax");
    assert_eq!(v["classes"].as_array().unwrap().len(), 8, "{v}");
    assert!(v["adapter"].is_null(), "{v}");
    assert_eq!(v["outputs"][1]["name"], "scores");
    assert_eq!(v["outputs"][1]["values"], "logits");
    assert!(out.is_file());
}
