//! A full disk, simulated by a file-size limit (RLIMIT_FSIZE, `ulimit -f`) on the child: the
//! write fails with EFBIG (the binary ignores SIGXFSZ), the command exits with one clear error,
//! and the files that were there before — an embedding, a whole model directory — are intact,
//! with no temporary file left beside them.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

use common::{
    QUICK_ADAPT, assert_clean_failure, assert_model_loads, assert_no_temporaries, edge_ssl,
    reference_dir,
};

/// `edge-ssl ARGS` with every file it writes limited to `bytes`.
fn with_file_size_limit(args: &[&std::ffi::OsStr], bytes: u64) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edge-ssl"));
    cmd.args(args).current_dir(common::root());
    // SAFETY: setrlimit is async-signal-safe and touches only the child about to exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// Every visible file of `dir` with its bytes (the work directory and temporaries excluded).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect()
}

#[test]
fn embed_past_the_limit_keeps_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.npy");
    let images = reference_dir().join("images");
    let args = [
        "embed".as_ref(),
        "--input".as_ref(),
        images.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    edge_ssl().args(args).assert().success();
    let before = snapshot(dir.path());
    assert_eq!(before.len(), 2, "the .npy and its .paths.txt: {before:?}");

    // 16 rows × 128 floats need 8 KiB; allow 1 KiB.
    let run = with_file_size_limit(&args, 1024);
    assert_clean_failure(&run, "e.npy");
    assert_clean_failure(&run, "File too large");
    assert_eq!(
        snapshot(dir.path()),
        before,
        "the previous embedding changed"
    );
    assert_no_temporaries(dir.path());
}

#[test]
fn adapt_past_the_limit_keeps_the_previous_model_directory() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let images = reference_dir().join("images");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "adapt".as_ref(),
        "--data".as_ref(),
        images.as_os_str(),
        "--out".as_ref(),
        site.as_os_str(),
    ];
    edge_ssl().args(&args).args(QUICK_ADAPT).assert().success();
    let before = snapshot(&site);

    // Another run over the same directory, with more views and a checkpoint every step.
    args.extend(
        [
            "--epochs",
            "2",
            "--views",
            "16",
            "--batch",
            "8",
            "--checkpoint-every",
            "1",
        ]
        .map(std::ffi::OsStr::new),
    );
    // 600 KB stops the BN-patched encoder (1.1 MB); 1.5 MB lets it through and stops the
    // first trainer checkpoint (2 MB).
    for (limit, failing) in [(600_000, "encoder"), (1_500_000, "checkpoint.safetensors")] {
        let run = with_file_size_limit(&args, limit);
        assert_clean_failure(&run, failing);
        assert_clean_failure(&run, "File too large");
        assert_eq!(
            snapshot(&site),
            before,
            "limit {limit}: the previous model changed"
        );
        assert_no_temporaries(&site);
        assert_no_temporaries(&site.join(".adapt-work"));
        assert_model_loads(&site, &format!("limit {limit}"));
    }

    // With room again, --resume finishes the interrupted run.
    args.push("--resume".as_ref());
    let run = edge_ssl().args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("resuming"), "{stderr}");
    assert_ne!(snapshot(&site), before, "the new model was not committed");
}
