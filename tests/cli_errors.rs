//! Every bad input gets one clear `error:` line, exit code 1, no panic, and no file left
//! half-written.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_clean_failure, edge_ssl};

fn embed(input: &Path, out: &Path) -> assert_cmd::Command {
    let mut cmd = edge_ssl();
    cmd.arg("embed")
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out);
    cmd
}

fn images() -> std::path::PathBuf {
    common::reference_dir().join("images")
}

#[test]
fn missing_onnx() {
    let out = edge_ssl()
        .args(["info", "/no/such/model.onnx"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "no such model file");
}

#[test]
fn corrupt_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("garbage.onnx");
    std::fs::write(&bad, b"\x08\x07this is not protobuf at all \xff\xfe").unwrap();
    let out = edge_ssl().arg("info").arg(&bad).output().unwrap();
    assert_clean_failure(&out, "garbage.onnx");
    let dir2 = tempfile::tempdir().unwrap();
    let out = embed(&images(), &dir2.path().join("e.npy"))
        .arg("--model")
        .arg(&bad)
        .output()
        .unwrap();
    assert_clean_failure(&out, "garbage.onnx");
}

/// A copy of the bundled encoder in a temp dir with its card rewritten line by line
/// (`None` drops the line); returns the dir (kept alive by the caller) and the ONNX path.
fn encoder_with_card(edit: impl Fn(&str) -> Option<String>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("enc.onnx");
    std::fs::copy(common::default_onnx(), &onnx).unwrap();
    let card = std::fs::read_to_string(common::default_onnx().with_extension("toml")).unwrap();
    let card: Vec<String> = card.lines().filter_map(&edit).collect();
    std::fs::write(dir.path().join("enc.toml"), card.join("\n")).unwrap();
    (dir, onnx)
}

#[test]
fn onnx_that_does_not_match_its_card() {
    let (dir, onnx) = encoder_with_card(|l| match l {
        l if l.starts_with("sha256") => None,
        l if l.starts_with("height") => Some("height = 64".into()),
        l => Some(l.into()),
    });
    for backend in ["tract", "ort"] {
        let out = embed(&images(), &dir.path().join("e.npy"))
            .arg("--model")
            .arg(&onnx)
            .args(["--backend", backend])
            .output()
            .unwrap();
        assert_clean_failure(&out, "card says");
    }
}

#[test]
fn card_whose_sha256_does_not_match() {
    let (_dir, onnx) = encoder_with_card(|l| {
        Some(if l.starts_with("sha256") {
            "sha256 = \"00ff\"".into()
        } else {
            l.into()
        })
    });
    let out = edge_ssl().arg("info").arg(&onnx).output().unwrap();
    assert_clean_failure(&out, "sha256");
}

#[test]
fn empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = embed(&empty, &dir.path().join("e.npy")).output().unwrap();
    assert_clean_failure(&out, "empty folder");
    assert!(!dir.path().join("e.npy").exists());
}

#[test]
fn non_image_is_skipped_with_a_count_or_fails_with_strict() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::copy_dir(&images(), &data);
    std::fs::write(data.join("notes.txt"), "not an image").unwrap();
    std::fs::write(data.join("broken.png"), b"\x89PNG\r\n\x1a\n truncated").unwrap();
    let out_path = dir.path().join("e.npy");
    let out = embed(&data, &out_path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("skipped 2 file(s)"), "{stderr}");
    assert_eq!(edge_ssl_core::npy::read_f32(&out_path).unwrap().nrows(), 16);

    let strict_out = dir.path().join("strict.npy");
    let out = embed(&data, &strict_out).arg("--strict").output().unwrap();
    assert_clean_failure(&out, "broken.png");
    assert!(!strict_out.exists());
}

#[test]
fn folder_of_only_non_images() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("a.txt"), "x").unwrap();
    let out = embed(&data, &dir.path().join("e.npy")).output().unwrap();
    assert_clean_failure(&out, "none of the 1 file(s) is a decodable image");
}

#[test]
fn unwritable_output_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = embed(&images(), &dir.path().join("missing/e.npy"))
        .output()
        .unwrap();
    assert_clean_failure(&out, "output directory does not exist");

    // An output path that is a directory cannot be replaced: the error names it and the
    // directory is untouched, with no temporary file left beside it.
    let target = dir.path().join("taken.npy");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), "x").unwrap();
    let out = embed(&images(), &target).output().unwrap();
    assert_clean_failure(&out, "taken.npy");
    assert!(target.join("keep").exists());
    common::assert_no_temporaries(dir.path());
}

#[test]
fn explicit_ort_library_that_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let out = embed(&images(), &dir.path().join("e.npy"))
        .args([
            "--backend",
            "ort",
            "--ort-lib",
            "/no/such/libonnxruntime.so",
        ])
        .output()
        .unwrap();
    assert_clean_failure(
        &out,
        "cannot load ONNX Runtime from /no/such/libonnxruntime.so",
    );
}

#[test]
fn no_ort_library_anywhere_names_the_fix() {
    // A copy of the binary outside the project, run from an empty directory, finds no .venv.
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("edge-ssl");
    std::fs::copy(assert_cmd::cargo::cargo_bin("edge-ssl"), &exe).unwrap();
    let run = || {
        std::process::Command::new(&exe)
            .current_dir(dir.path())
            .env_remove("ORT_DYLIB_PATH")
            .env("LD_LIBRARY_PATH", dir.path())
            .args(["embed", "--backend", "ort", "--input"])
            .arg(images())
            .arg("--out")
            .arg(dir.path().join("e.npy"))
            .output()
    };
    // Another test thread forking while the copy's write descriptor was open leaves a child
    // holding it for a moment: exec then fails with ETXTBSY until that child execs or exits.
    let mut out = run();
    for _ in 0..50 {
        match &out {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(100));
                out = run();
            }
            _ => break,
        }
    }
    let out = out.unwrap();
    if Path::new("/usr/lib/libonnxruntime.so").exists()
        || Path::new("/usr/lib/x86_64-linux-gnu/libonnxruntime.so").exists()
    {
        return; // a system copy exists, so this machine cannot show the message
    }
    assert_clean_failure(&out, "pip install onnxruntime==1.31.1");
}

#[test]
fn unavailable_execution_provider_is_an_error_unless_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let out = embed(&images(), &dir.path().join("e.npy"))
        .args(["--backend", "ort", "--provider", "cuda"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "CUDAExecutionProvider is unavailable");

    let out = embed(&images(), &dir.path().join("e.npy"))
        .args([
            "--backend",
            "ort",
            "--provider",
            "tensorrt",
            "--fallback",
            "cpu",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("TensorrtExecutionProvider unavailable"),
        "{stderr}"
    );
    assert!(
        stderr.contains("running on CPUExecutionProvider"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = embed(&images(), &dir.path().join("e.npy"))
        .args(["--backend", "tensorflow"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "unknown backend `tensorflow`");
    let out = embed(&images(), &dir.path().join("e.npy"))
        .args(["--batch", "0"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "--batch must be at least 1");
}
