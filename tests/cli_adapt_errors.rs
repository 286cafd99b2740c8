//! Bad input to `adapt`, `head`, `cluster` and `eval`: each is exit status 1, one `error:`
//! line that names the problem, and nothing half-written (no model directory appears).

mod common;

use std::path::Path;

use common::{assert_clean_failure, edge_ssl};

/// `n` small gray PNGs with different content.
fn images(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let img = image::GrayImage::from_fn(28, 28, |x, y| {
            image::Luma([((x * (i as u32 + 3) + y * 7 + i as u32 * 31) % 256) as u8])
        });
        img.save(dir.join(format!("{i:03}.png"))).unwrap();
    }
}

/// `edge-ssl ARGS --data DATA --out OUT`, its output captured.
fn run_on(args: &[&str], data: &Path, out: &Path) -> std::process::Output {
    edge_ssl()
        .args(args)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn adapt_small(data: &Path, out: &Path, extra: &[&str]) {
    let quick = ["adapt", "--epochs", "1", "--views", "2", "--batch", "4"];
    let run = run_on(&[&quick[..], extra].concat(), data, out);
    common::assert_success(&run);
}

#[test]
fn adapt_on_an_empty_folder_fails_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let out = tmp.path().join("site");
    let run = run_on(&["adapt"], &tmp.path().join("empty"), &out);
    assert_clean_failure(&run, "empty folder");
    assert!(!out.exists());
}

/// A view count whose cache could not fit in memory is refused before any work, not by the
/// allocator hours later.
#[test]
fn an_absurd_view_count_is_refused_up_front() {
    let tmp = tempfile::tempdir().unwrap();
    images(&tmp.path().join("frames"), 4);
    let out = tmp.path().join("site");
    let run = run_on(
        &["adapt", "--views", "1000000000"],
        &tmp.path().join("frames"),
        &out,
    );
    assert_clean_failure(&run, "lower --views");
    assert!(!out.join("edge-ssl.toml").exists());
}

#[test]
fn adapt_on_undecodable_images_fails_and_skips_count_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("frames");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("broken.png"), b"not a png at all").unwrap();
    let out = tmp.path().join("site");
    let run = run_on(&["adapt"], &data, &out);
    assert_clean_failure(&run, "broken.png");
    assert!(!out.exists());
    // With good frames beside it, the broken one is skipped and counted.
    images(&data, 8);
    let run = edge_ssl()
        .args([
            "adapt", "--epochs", "1", "--views", "2", "--batch", "4", "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("skipped 1 file"), "{stderr}");
}

#[test]
fn head_needs_two_classes_each_with_images() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("labeled");
    images(&root.join("only"), 3);
    let out = tmp.path().join("site");
    let head = |root: &Path| {
        edge_ssl()
            .args(["head", "--labeled"])
            .arg(root)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    assert_clean_failure(&head(&root), "at least two");
    std::fs::create_dir(root.join("empty-class")).unwrap();
    assert_clean_failure(&head(&root), "`empty-class` has no images");
    images(&root.join("empty-class"), 2);
    std::fs::write(root.join("only/zz-bad.png"), b"garbage").unwrap();
    assert_clean_failure(&head(&root), "zz-bad.png");
    assert!(
        !out.exists(),
        "a failed head must not create the model directory"
    );
}

#[test]
fn cluster_k_larger_than_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    images(&tmp.path().join("frames"), 5);
    let out = tmp.path().join("clusters");
    let run = run_on(&["cluster", "--k", "6"], &tmp.path().join("frames"), &out);
    assert_clean_failure(&run, "larger than the 5");
    assert!(!out.exists());
}

#[test]
fn mismatched_model_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, a, b) = (
        tmp.path().join("frames"),
        tmp.path().join("a"),
        tmp.path().join("b"),
    );
    images(&data, 8);
    let labeled = tmp.path().join("labeled");
    images(&labeled.join("x"), 2);
    images(&labeled.join("y"), 2);
    adapt_small(&data, &a, &[]);
    adapt_small(&data, &b, &["--no-bn-adapt"]);
    for dir in [&a, &b] {
        let run = edge_ssl()
            .args(["head", "--model"])
            .arg(dir)
            .arg("--labeled")
            .arg(&labeled)
            .arg("--out")
            .arg(dir)
            .output()
            .unwrap();
        common::assert_success(&run);
    }
    let eval = |dir: &Path| {
        edge_ssl()
            .args(["eval", "--json", "--model"])
            .arg(dir)
            .arg("--labeled")
            .arg(&labeled)
            .output()
            .unwrap()
    };
    assert!(eval(&b).status.success());
    // b's head on a's embeddings (a's adapter and encoder differ from b's).
    std::fs::copy(b.join("head.safetensors"), a.join("head.safetensors")).unwrap();
    assert_clean_failure(&eval(&a), "mismatched model directory");
    // a's adapter beside b's encoder (b was not BN-adapted, so its encoder differs).
    std::fs::copy(a.join("adapter.safetensors"), b.join("adapter.safetensors")).unwrap();
    assert_clean_failure(&eval(&b), "mismatched model directory");
    // An encoder that is not the one the card names.
    std::fs::copy(a.join("encoder.onnx"), b.join("encoder.onnx")).unwrap();
    assert_clean_failure(&eval(&b), "sha256");
    // A corrupt adapter file.
    std::fs::write(a.join("adapter.safetensors"), b"junk").unwrap();
    assert_clean_failure(&eval(&a), "adapter.safetensors");
}

/// Adapting again into a directory that has a head: the head no longer matches the new
/// adapter. `adapt` says so, `info` still describes the directory and names the stale head,
/// `run` refuses with the command that fits it again, and after `head` all is whole again.
#[test]
fn re_adapting_a_directory_with_a_head_marks_the_head_stale() {
    let tmp = tempfile::tempdir().unwrap();
    let (labeled, dir) = (tmp.path().join("labeled"), tmp.path().join("model"));
    common::reference_labeled(&labeled);
    common::small_model_dir(&dir, &labeled);
    let info = |dir: &Path| -> serde_json::Value {
        let out = edge_ssl()
            .args(["info", "--json", "--model"])
            .arg(dir)
            .output()
            .unwrap();
        serde_json::from_str(&common::assert_success(&out)).unwrap()
    };
    let before = info(&dir);
    assert!(before["head"]["classes"].is_array(), "{before}");
    assert!(before["stale_head"].is_null(), "{before}");

    // Another seed: another adapter, so the head's adapter tie breaks.
    let images = common::reference_dir().join("images");
    let again = run_on(
        &["adapt", "--model", dir.to_str().unwrap(), "--seed", "7"],
        &images,
        &dir,
    );
    common::assert_success(&again);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("head is now stale"), "{stderr}");
    let after = info(&dir);
    assert!(after["head"].is_null(), "{after}");
    let why = after["stale_head"].as_str().unwrap();
    assert!(
        why.contains("head.safetensors") && why.contains("adapter_sha256 differs"),
        "{why}"
    );
    assert!(
        after["adapter"]["dim"].is_number(),
        "the rest is still described: {after}"
    );
    let run = edge_ssl()
        .args(["run", "--max-frames", "2", "--model"])
        .arg(&dir)
        .arg("--source")
        .arg(&images)
        .output()
        .unwrap();
    assert_clean_failure(&run, "fit the head again with `edge-ssl head --model DIR");

    let refit = edge_ssl()
        .args(["head", "--model"])
        .arg(&dir)
        .arg("--labeled")
        .arg(&labeled)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    common::assert_success(&refit);
    let whole = info(&dir);
    assert_eq!(whole["head"]["classes"], before["head"]["classes"]);
    assert!(whole["stale_head"].is_null(), "{whole}");
}
