//! Issue 15's classes, end to end on the real binary: outputs that are inputs, model
//! directories that point at special files, signals, runaway knobs, concurrent writers.

mod common;

use std::path::Path;

use common::{assert_clean_failure, edge_ssl};

/// A private copy of the shared model directory (encoder + softmax head), so a test that
/// tries to damage it cannot damage the others'.
fn model_copy(into: &Path) -> std::path::PathBuf {
    let model = into.join("model");
    common::copy_dir(common::model_dir(), &model);
    model
}

/// Asserts `path` still holds `bytes`.
fn unchanged(path: &Path, bytes: &[u8]) {
    assert!(
        std::fs::read(path).unwrap() == bytes,
        "{} was overwritten",
        path.display()
    );
}

#[test]
fn an_output_that_is_an_input_of_the_same_command_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_copy(tmp.path());
    let images = tmp.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let image = images.join("a.png");
    std::fs::copy(common::reference_dir().join("images/00-boot.png"), &image).unwrap();
    let image_bytes = std::fs::read(&image).unwrap();
    let head = model.join("head.safetensors");
    let head_bytes = std::fs::read(&head).unwrap();
    let encoder = model.join("encoder.onnx");
    let encoder_bytes = std::fs::read(&encoder).unwrap();

    // embed: over an input image, over the encoder in use, through a link to an image.
    std::os::unix::fs::symlink(&images, tmp.path().join("link")).unwrap();
    for out in [
        image.clone(),
        encoder.clone(),
        tmp.path().join("link/a.png"),
    ] {
        let run = edge_ssl()
            .args(["embed", "--model"])
            .arg(&model)
            .arg("--input")
            .arg(&images)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_clean_failure(&run, "is also an input");
    }
    // The rows file beside the output is an output too: `a.npy` writes `a.paths.txt`.
    let rows = images.join("b.paths.txt");
    std::fs::copy(&image, &rows).unwrap();
    let run = edge_ssl()
        .args(["embed", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&images)
        .arg("--out")
        .arg(images.join("b.npy"))
        .output()
        .unwrap();
    assert_clean_failure(&run, "is also an input");
    std::fs::remove_file(&rows).unwrap();

    // export: over the model's own head and card.
    for out in [head.clone(), model.join("edge-ssl.toml")] {
        let run = edge_ssl()
            .args(["export", "--model"])
            .arg(&model)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_clean_failure(&run, "is also an input");
    }

    // bundle: over the model's head, and over the binary it ships.
    let binary = tmp.path().join("edge-ssl-bin");
    std::fs::copy(env!("CARGO_BIN_EXE_edge-ssl"), &binary).unwrap();
    let binary_bytes = std::fs::read(&binary).unwrap();
    for out in [head.clone(), binary.clone()] {
        let run = edge_ssl()
            .args(["bundle", "--target", "x86_64", "--model"])
            .arg(&model)
            .arg("--binary")
            .arg(&binary)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_clean_failure(&run, "is also an input");
    }

    unchanged(&image, &image_bytes);
    unchanged(&head, &head_bytes);
    unchanged(&encoder, &encoder_bytes);
    unchanged(&binary, &binary_bytes);
    common::assert_model_loads(&model, "after the refused writes");
}

fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

/// The card of `model` with its `onnx = "…"` entry replaced.
fn point_card_at(model: &Path, onnx: &str) {
    let card_path = model.join("edge-ssl.toml");
    let mut card: toml::Table =
        toml::from_str(&std::fs::read_to_string(&card_path).unwrap()).unwrap();
    card.insert("onnx".into(), onnx.into());
    std::fs::write(&card_path, toml::to_string(&card).unwrap()).unwrap();
}

/// A command that must end on its own: a FIFO or `/dev/zero` read forever used to hang it.
fn bounded(mut cmd: assert_cmd::Command) -> std::process::Output {
    cmd.timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap()
}

#[test]
fn model_directory_paths_stay_inside_and_name_regular_files() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model_copy(tmp.path());
    std::fs::write(tmp.path().join("secret.onnx"), b"outside").unwrap();
    let secret = tmp.path().join("secret.onnx");
    let cases: Vec<(String, &str)> = vec![
        ("/dev/zero".into(), "absolute"),
        ("../secret.onnx".into(), "`..`"),
        (secret.display().to_string(), "absolute"),
        ("fifo.onnx".into(), "FIFO"),
        ("escape.onnx".into(), "resolves to"),
    ];
    mkfifo(&model.join("fifo.onnx"));
    std::os::unix::fs::symlink(&secret, model.join("escape.onnx")).unwrap();
    for (onnx, want) in &cases {
        point_card_at(&model, onnx);
        for command in ["info", "embed", "bundle"] {
            let mut cmd = edge_ssl();
            match command {
                "info" => cmd.arg("info").arg(&model),
                "embed" => cmd
                    .args(["embed", "--model"])
                    .arg(&model)
                    .arg("--input")
                    .arg(common::reference_dir().join("images/00-boot.png"))
                    .arg("--out")
                    .arg(tmp.path().join("e.npy")),
                _ => cmd
                    .args(["bundle", "--target", "x86_64", "--model"])
                    .arg(&model)
                    .arg("--out")
                    .arg(tmp.path().join("b.tar.gz")),
            };
            let out = bounded(cmd);
            assert_clean_failure(&out, want);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("sha256"), "{command} {onnx}: {stderr}");
        }
    }
    // A bare ONNX path that is a FIFO or a device, and a FIFO given to `bundle --verify`.
    let fifo = tmp.path().join("model.onnx");
    mkfifo(&fifo);
    let out = bounded({
        let mut c = edge_ssl();
        c.arg("info").arg(&fifo);
        c
    });
    assert_clean_failure(&out, "FIFO");
    let out = bounded({
        let mut c = edge_ssl();
        c.args(["info", "/dev/zero"]);
        c
    });
    assert_clean_failure(&out, "character device");
    let out = bounded({
        let mut c = edge_ssl();
        c.args(["bundle", "--verify"]).arg(&fifo);
        c
    });
    assert_clean_failure(&out, "FIFO");
}

#[test]
fn a_bundled_model_behind_a_manifest_that_cannot_vouch_for_it_does_not_load() {
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().join("edge-ssl-x86_64");
    std::fs::create_dir(&top).unwrap();
    let model = top.join("model");
    common::copy_dir(common::model_dir(), &model);
    // Tampered card: another label order would load silently without the manifest check.
    let card = model.join("edge-ssl.toml");
    let mut text = std::fs::read_to_string(&card).unwrap();
    text.push_str("\n# tampered\n");
    std::fs::write(&card, text).unwrap();
    for kind in ["empty", "directory", "fifo", "no model files"] {
        let manifest = top.join("MANIFEST.sha256");
        let _ = std::fs::remove_file(&manifest);
        let _ = std::fs::remove_dir(&manifest);
        match kind {
            "empty" => std::fs::write(&manifest, b"").unwrap(),
            "directory" => std::fs::create_dir(&manifest).unwrap(),
            "fifo" => mkfifo(&manifest),
            _ => std::fs::write(&manifest, format!("{}  edge-ssl.service\n", "0".repeat(64)))
                .unwrap(),
        }
        let out = bounded({
            let mut c = edge_ssl();
            c.arg("info").arg(&model);
            c
        });
        assert_clean_failure(&out, "MANIFEST.sha256");
    }
}

/// Blocks until `pid` has a handler for `signal` (its `SigCgt` mask in /proc), so a test's
/// signal reaches the handler and not the default action; false if it exited first.
fn wait_for_handler(pid: u32, signal: i32) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return false;
        };
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .unwrap_or(0);
        if caught & (1 << (signal - 1)) != 0 {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// Sends `signal` to a running `edge-ssl` once it handles it, and waits (at most 60 s) for it
/// to end; returns its exit code and stderr.
fn interrupt(
    mut cmd: std::process::Command,
    signal: i32,
    after: std::time::Duration,
) -> (Option<i32>, String) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for_handler(child.id(), signal),
        "exited before handling signals"
    );
    std::thread::sleep(after);
    unsafe { libc::kill(child.id() as i32, signal) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running 60 s after the signal");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

/// `n` images (hard links to the reference images) in `dir`.
fn many_images(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let sources: Vec<_> = std::fs::read_dir(common::reference_dir().join("images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for i in 0..n {
        std::fs::hard_link(&sources[i % sources.len()], dir.join(format!("{i:06}.png"))).unwrap();
    }
}

fn assert_interrupted(code: Option<i32>, stderr: &str) {
    assert_eq!(code, Some(130), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("interrupted"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn ctrl_c_stops_embed_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    many_images(&images, 40_000);
    let out = tmp.path().join("e.npy");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_edge-ssl"));
    cmd.current_dir(common::root())
        .args(["embed", "--batch", "1", "--input"])
        .arg(&images)
        .arg("--out")
        .arg(&out);
    let (code, stderr) = interrupt(cmd, libc::SIGINT, std::time::Duration::from_millis(300));
    assert_interrupted(code, &stderr);
    assert!(!out.exists() && !tmp.path().join("e.paths.txt").exists());
    common::assert_no_temporaries(tmp.path());
}

#[test]
fn sigterm_stops_adapt_and_keeps_the_previous_model() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("frames");
    many_images(&images, 2_000);
    let model = model_copy(tmp.path());
    let before: Vec<(std::ffi::OsString, Vec<u8>)> = std::fs::read_dir(&model)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_file())
        .map(|e| (e.file_name(), std::fs::read(e.path()).unwrap()))
        .collect();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_edge-ssl"));
    cmd.current_dir(common::root())
        .args(["adapt", "--epochs", "50", "--data"])
        .arg(&images)
        .arg("--out")
        .arg(&model);
    let (code, stderr) = interrupt(cmd, libc::SIGTERM, std::time::Duration::from_millis(1500));
    assert_interrupted(code, &stderr);
    for (name, bytes) in &before {
        unchanged(&model.join(name), bytes);
    }
    common::assert_model_loads(&model, "after an interrupted adapt");
}

/// The pids whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces, so split after its `)`.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, r)| r)
            .split_whitespace()
            .collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            found.push(pid);
        }
    }
    found
}

/// Gone, or a zombie nobody reaped yet: either way it no longer runs.
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z')),
    }
}

#[test]
fn bench_children_die_with_a_killed_parent() {
    let mut parent = std::process::Command::new(env!("CARGO_BIN_EXE_edge-ssl"))
        .current_dir(common::root())
        .args([
            "bench",
            "--backend",
            "tract",
            "--threads",
            "1",
            "--batch",
            "1",
            "--seconds",
            "120",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let child = loop {
        let measuring = children_of(parent.id()).into_iter().find(|c| {
            std::fs::read_to_string(format!("/proc/{c}/cmdline"))
                .is_ok_and(|line| line.contains("--measure-one"))
        });
        if let Some(c) = measuring {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bench started no child"
        );
        assert!(parent.try_wait().unwrap().is_none(), "bench ended early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    parent.kill().unwrap();
    parent.wait().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !ended(child) {
        if std::time::Instant::now() > deadline {
            unsafe { libc::kill(child as i32, libc::SIGKILL) };
            panic!("bench's child {child} outlived its parent by 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn thread_counts_are_capped_and_batches_that_cannot_fit_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = edge_ssl()
        .args(["embed", "--threads", "100000", "--input"])
        .arg(common::reference_dir().join("images/00-boot.png"))
        .arg("--out")
        .arg(tmp.path().join("e.npy"))
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    common::assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--threads 100000 is more than"), "{stderr}");

    let out = edge_ssl()
        .args([
            "bench",
            "--backend",
            "tract",
            "--threads",
            "1",
            "--iters",
            "1",
        ])
        .args(["--batch", "1,10000000"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert_clean_failure(&out, "--batch 10000000: its tensors take about");
}

#[test]
fn a_second_writer_of_the_same_directory_is_refused_naming_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("frames");
    many_images(&images, 2_000);
    let out = tmp.path().join("site");
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_edge-ssl"))
        .current_dir(common::root())
        .args(["adapt", "--epochs", "50", "--data"])
        .arg(&images)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The lock is taken before the progress (and its signal handler) exists.
    assert!(
        wait_for_handler(first.id(), libc::SIGINT),
        "the first adapt ended early"
    );
    for command in ["adapt", "head"] {
        let mut cmd = edge_ssl();
        match command {
            "adapt" => cmd
                .arg("adapt")
                .args(common::QUICK_ADAPT)
                .arg("--data")
                .arg(&images),
            _ => cmd
                .args(["head", "--model", "default", "--labeled"])
                .arg(common::model_dir().parent().unwrap().join("labeled")),
        };
        let second = cmd
            .arg("--out")
            .arg(&out)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap();
        assert_clean_failure(
            &second,
            &format!("edge-ssl process {} is writing this directory", first.id()),
        );
    }
    unsafe { libc::kill(first.id() as i32, libc::SIGINT) };
    first.wait().unwrap();
    // Released with its holder: the next writer gets the directory.
    edge_ssl()
        .arg("adapt")
        .args(common::QUICK_ADAPT)
        .arg("--data")
        .arg(common::reference_dir().join("images"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
}

/// Class names and card fields come from files; what reaches the terminal from them is checked
/// where it enters: a class name carrying a terminal escape or a bidirectional override is
/// refused (from a head file, from a labeled folder's names), and a card that names an output
/// or a width the graph does not have is refused before anything runs.
#[test]
fn names_and_cards_from_files_are_checked_where_they_enter() {
    use edge_ssl_train::head::{Head, HeadKind};
    let tmp = tempfile::tempdir().unwrap();
    let model = model_copy(tmp.path());
    let image = common::reference_dir().join("images/00-boot.png");

    // A head whose class names clear the screen, or read right to left.
    let head = Head::load(&model.join("head.safetensors")).unwrap();
    let dim = head.dim();
    let x = ndarray::Array2::<f32>::from_shape_fn((4, dim), |(i, j)| ((i * 7 + j) % 5) as f32);
    for evil in ["\u{1b}[2Jboot", "boot\u{202e}kcab"] {
        let names = vec![evil.to_owned(), "ok".to_owned()];
        let bad = Head::fit(HeadKind::Softmax, x.view(), &[0, 1, 0, 1], names).unwrap();
        bad.save(&model.join("head.safetensors")).unwrap();
        for cmd in ["run", "export"] {
            let mut c = edge_ssl();
            c.arg(cmd).arg("--model").arg(&model);
            if cmd == "run" {
                c.arg("--source").arg(&image).arg("--json");
            } else {
                c.arg("--out").arg(tmp.path().join("x.onnx"));
            }
            let out = c.output().unwrap();
            assert_clean_failure(&out, "control character");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                !stdout.contains('\u{1b}') && !stdout.contains('\u{202e}'),
                "{stdout:?}"
            );
        }
    }
    common::copy_dir(common::model_dir(), &model);

    // A labeled folder whose class folder names carry an escape.
    let labeled = tmp.path().join("labeled");
    for class in ["\u{1b}]0;owned\u{7}", "fine"] {
        std::fs::create_dir_all(labeled.join(class)).unwrap();
        std::fs::copy(&image, labeled.join(class).join("a.png")).unwrap();
    }
    let out = edge_ssl()
        .args(["head", "--model", "default", "--labeled"])
        .arg(&labeled)
        .arg("--out")
        .arg(tmp.path().join("new"))
        .output()
        .unwrap();
    assert_clean_failure(&out, "control character");

    // A card whose output width or name is not the graph's.
    let card = model.join("edge-ssl.toml");
    let text = std::fs::read_to_string(&card).unwrap();
    for (from, to) in [
        ("dim = 256", "dim = 255"),
        ("name = \"embedding\"", "name = \"logits\""),
    ] {
        assert!(text.contains(from), "{text}");
        std::fs::write(&card, text.replace(from, to)).unwrap();
        let out = edge_ssl().arg("info").arg(&model).output().unwrap();
        assert_clean_failure(&out, "its card does not describe it");
        let out = edge_ssl()
            .args(["run", "--model"])
            .arg(&model)
            .arg("--source")
            .arg(&image)
            .output()
            .unwrap();
        assert_clean_failure(&out, "its card does not describe it");
    }
}

/// A model whose output is NaN (here `x * NaN`, as a broken export or a diverged fine-tune
/// gives) is an error naming it, on both backends, instead of rows of NaN in `embed`'s file
/// and "class 0, confidence null" from `run`.
#[test]
fn a_model_that_outputs_nan_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let onnx = tmp.path().join("nan.onnx");
    let script = r#"
import sys, onnx
from onnx import helper, TensorProto
x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 1, 28, 28])
y = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 784])
nan = helper.make_tensor("nan", TensorProto.FLOAT, [1], [float("nan")])
nodes = [helper.make_node("Mul", ["input", "nan"], ["m"]), helper.make_node("Flatten", ["m"], ["embedding"])]
g = helper.make_graph(nodes, "nan", [x], [y], [nan])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.save(m, sys.argv[1])
"#;
    onnx_from_python(script, &onnx);
    let images = common::reference_dir().join("images");
    for backend in ["tract", "ort"] {
        let out_file = tmp.path().join(format!("{backend}.npy"));
        let out = edge_ssl()
            .args(["embed", "--model"])
            .arg(&onnx)
            .arg("--input")
            .arg(&images)
            .arg("--out")
            .arg(&out_file)
            .args(["--backend", backend])
            .output()
            .unwrap();
        assert_clean_failure(&out, "NaN");
        assert!(
            !out_file.exists(),
            "{backend}: wrote {}",
            out_file.display()
        );
    }
}

/// Copies a real image under each of `names` into a fresh folder, runs `embed` on it and
/// returns the folder (kept alive by the first value) and the rows of its `paths.txt`.
fn embed_rows(names: &[&std::ffi::OsStr]) -> (tempfile::TempDir, std::path::PathBuf, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let src = common::reference_dir().join("images/00-boot.png");
    for name in names {
        std::fs::copy(&src, images.join(name)).unwrap();
    }
    let out_file = tmp.path().join("e.npy");
    let out = edge_ssl()
        .args(["embed", "--model", "default", "--input"])
        .arg(&images)
        .arg("--out")
        .arg(&out_file)
        .output()
        .unwrap();
    common::assert_success(&out);
    let rows = std::fs::read_to_string(tmp.path().join("e.paths.txt")).unwrap();
    let rows = rows.lines().map(str::to_owned).collect();
    (tmp, images, rows)
}

/// `embed`'s `paths.txt` has one row per embedding row whatever the file names hold: a newline
/// or a backslash in a name is written escaped.
#[test]
fn paths_rows_survive_newlines_in_file_names() {
    let names = ["a.png", "two\nlines.png", "back\\slash.png"].map(std::ffi::OsStr::new);
    let (_tmp, _, rows) = embed_rows(&names);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows.iter().any(|r| r.ends_with("two\\nlines.png")),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|r| r.ends_with("back\\\\slash.png")),
        "{rows:?}"
    );
}

/// A file name that is not UTF-8 keeps its bytes: `paths.txt` writes each stray byte as `\xHH`,
/// so `caf\xe9.png` and `caf\u{fffd}.png` (what a lossy conversion made of it) are two distinct
/// rows, each reading back to its file's exact name; `run --json` names the frame the same way.
#[cfg(unix)]
#[test]
fn non_utf8_file_names_keep_their_bytes() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let latin1: &[u8] = b"caf\xe9.png";
    let lossy = "caf\u{fffd}.png";
    let (tmp, images, rows) = embed_rows(&[OsStr::from_bytes(latin1), OsStr::new(lossy)]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_ne!(rows[0], rows[1]);
    let dir = images.as_os_str().as_bytes();
    let names: Vec<Vec<u8>> = rows
        .iter()
        .map(|row| {
            let bytes = edge_ssl_core::unescape_row(row).unwrap();
            assert!(bytes.starts_with(dir), "{row}");
            bytes[dir.len() + 1..].to_vec()
        })
        .collect();
    assert!(
        rows.iter().any(|r| r.ends_with("/caf\\xe9.png")),
        "{rows:?}"
    );
    assert!(names.contains(&latin1.to_vec()), "{rows:?}");
    assert!(names.contains(&lossy.as_bytes().to_vec()), "{rows:?}");

    // The same names in `run --json`: valid JSON, in the same escaped form as the rows.
    let out = edge_ssl()
        .args(["run", "--model"])
        .arg(common::model_dir())
        .arg("--source")
        .arg(&images)
        .arg("--json")
        .output()
        .unwrap();
    common::assert_success(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let origins: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "frame")
        .map(|v| v["origin"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(origins, rows, "{stdout}");

    // `adapt` names its first and last frame in its plan: a name that is not UTF-8 panicked
    // there (a JSON string cannot hold it).
    let out = edge_ssl()
        .args(["adapt", "--model", "default", "--data"])
        .arg(&images)
        .arg("--out")
        .arg(tmp.path().join("model"))
        .args(common::QUICK_ADAPT)
        .output()
        .unwrap();
    common::assert_success(&out);
}

/// A model without a card is sized by what its graph declares; that is bounded like a card's
/// sizes. A graph declaring 1×3×8000×8000 (768 MB per image) ran `embed` out of memory (killed
/// at 23 GB on both backends); now it is refused before anything is allocated.
#[test]
fn a_declared_input_too_large_to_batch_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let onnx = tmp.path().join("big.onnx");
    let script = r#"
import sys, onnx
from onnx import helper, TensorProto
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8000, 8000])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Flatten", ["p"], ["y"])]
m = helper.make_model(helper.make_graph(nodes, "big", [x], [y]), opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.save(m, sys.argv[1])
"#;
    onnx_from_python(script, &onnx);
    for backend in ["tract", "ort"] {
        let out = edge_ssl()
            .args(["embed", "--model"])
            .arg(&onnx)
            .arg("--input")
            .arg(common::reference_dir().join("images"))
            .arg("--out")
            .arg(tmp.path().join("e.npy"))
            .args(["--backend", backend])
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        assert_clean_failure(&out, "too large");
    }
}

/// Runs `script` (Python with `onnx`, from the project's `.venv`) with `onnx` as its argument:
/// the script writes the model there.
fn onnx_from_python(script: &str, onnx: &Path) {
    let made = std::process::Command::new(common::root().join(".venv/bin/python"))
        .arg("-c")
        .arg(script)
        .arg(onnx)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
}
