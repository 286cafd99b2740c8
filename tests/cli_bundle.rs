//! `edge-ssl bundle` end to end: a real model directory (the bundled encoder with a head fitted
//! on the reference images) packed for x86_64 with this build's own binary, unpacked with the
//! system `tar`, checked with `sha256sum -c`, run from the unpacked folder, then tampered with;
//! `--verify` on good, tampered and hand-crafted malicious tarballs; the errors for a missing
//! or wrong-architecture binary and an unwritable `--out`; byte-identical output.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command as Sys;
use std::sync::OnceLock;

use common::{assert_clean_failure, assert_success, edge_ssl, model_dir, reference_dir};

const TOP: &str = "edge-ssl-x86_64";
const BIN: &str = env!("CARGO_BIN_EXE_edge-ssl");

/// One bundle per test binary: `model_dir()` for x86_64 with this build's binary and a serial
/// port in the unit. It is ~30 MB, so it lives at one place under cargo's per-target temp dir
/// and each run overwrites it instead of leaving another copy in /tmp.
fn good_bundle() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_bundle");
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("device.tar.gz");
        let run = bundle_cmd("x86_64", model_dir(), &out)
            .args(["--binary", BIN, "--serial", "/dev/ttyACM0"])
            .output()
            .unwrap();
        assert_success(&run);
        out
    })
}

struct Listed {
    path: String,
    kind: tar::EntryType,
    mode: u32,
    mtime: u64,
    uid: u64,
    bytes: Vec<u8>,
}

fn list(tarball: &Path) -> Vec<Listed> {
    let file = std::fs::File::open(tarball).unwrap();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            Listed {
                path: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                kind: h.entry_type(),
                mode: h.mode().unwrap(),
                mtime: h.mtime().unwrap(),
                uid: h.uid().unwrap(),
                bytes,
            }
        })
        .collect()
}

/// `tarball` unpacked by the system `tar` into a fresh folder (removed when the guard drops);
/// returns the guard and the top folder.
fn unpack(tarball: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let st = Sys::new("tar")
        .arg("-xzf")
        .arg(tarball)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    let top = dir.path().join(TOP);
    (dir, top)
}

fn flip_a_byte(path: &Path) -> Vec<u8> {
    let original = std::fs::read(path).unwrap();
    let mut bytes = original.clone();
    let i = bytes.len() / 2;
    bytes[i] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
    original
}

/// `edge-ssl bundle --target TARGET --model MODEL --out OUT`, to add flags to and run.
fn bundle_cmd(target: &str, model: &Path, out: &Path) -> assert_cmd::Command {
    let mut cmd = edge_ssl();
    cmd.args(["bundle", "--target", target, "--model"])
        .arg(model)
        .arg("--out")
        .arg(out);
    cmd
}

fn verify(tarball: &Path) -> std::process::Output {
    edge_ssl()
        .args(["bundle", "--verify"])
        .arg(tarball)
        .output()
        .unwrap()
}

#[test]
fn entries_sit_under_one_folder_with_sane_modes_and_no_links() {
    let entries = list(good_bundle());
    assert_eq!(entries[0].path.trim_end_matches('/'), TOP);
    let mut files = Vec::new();
    for e in &entries {
        let under_top =
            e.path.trim_end_matches('/') == TOP || e.path.starts_with(&format!("{TOP}/"));
        assert!(under_top, "{}", e.path);
        assert!(!e.path.split('/').any(|c| c == ".."), "{}", e.path);
        assert_eq!(e.mtime, entries[0].mtime, "{}: one fixed mtime", e.path);
        assert_eq!(e.uid, 0, "{}", e.path);
        let rel = e
            .path
            .trim_end_matches('/')
            .strip_prefix(TOP)
            .unwrap()
            .trim_start_matches('/');
        match e.kind {
            tar::EntryType::Directory => assert_eq!(e.mode, 0o755, "{}", e.path),
            tar::EntryType::Regular if rel == "edge-ssl" => assert_eq!(e.mode, 0o755),
            tar::EntryType::Regular => assert_eq!(e.mode, 0o644, "{}", e.path),
            other => panic!("{}: {other:?}", e.path),
        }
        if e.kind.is_file() {
            files.push(rel.to_string());
        }
    }
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted, "files in path order");
    for want in [
        "MANIFEST.sha256",
        "README.md",
        "edge-ssl",
        "edge-ssl.service",
        "model/edge-ssl.toml",
        "model/encoder.onnx",
        "model/head.safetensors",
    ] {
        assert!(
            files.contains(&want.to_string()),
            "{want} missing from {files:?}"
        );
    }
    assert!(!files.contains(&"model/loss.png".to_string()));
    let binary = entries
        .iter()
        .find(|e| e.path == format!("{TOP}/edge-ssl"))
        .unwrap();
    assert_eq!(binary.bytes, std::fs::read(BIN).unwrap());
    let unit = entries
        .iter()
        .find(|e| e.path.ends_with("edge-ssl.service"))
        .unwrap();
    let unit = String::from_utf8_lossy(&unit.bytes);
    assert!(unit.contains("Restart=on-failure"), "{unit}");
    assert!(unit.contains("ExecStart=/opt/edge-ssl/edge-ssl run --model /opt/edge-ssl/model"));
    assert!(unit.contains("--serial /dev/ttyACM0"), "{unit}");
    let manifest = entries
        .iter()
        .find(|e| e.path.ends_with("MANIFEST.sha256"))
        .unwrap();
    let manifest = String::from_utf8_lossy(&manifest.bytes);
    assert_eq!(manifest.lines().count(), files.len() - 1, "{manifest}");
}

#[test]
fn unpacked_bundle_passes_sha256sum_and_runs() {
    let (_unpacked, top) = unpack(good_bundle());
    let check = Sys::new("sha256sum")
        .args(["-c", "MANIFEST.sha256"])
        .current_dir(&top)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let run = Sys::new(top.join("edge-ssl"))
        .args([
            "run",
            "--model",
            "model",
            "--max-frames",
            "3",
            "--json",
            "--source",
        ])
        .arg(reference_dir().join("images"))
        .current_dir(&top)
        .output()
        .unwrap();
    let stdout = assert_success(&run);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[3]["type"], "summary");
    assert_eq!(lines[3]["frames"], 3);
}

#[test]
fn run_refuses_a_tampered_or_added_model_file_naming_it() {
    let (_unpacked, top) = unpack(good_bundle());
    let model = top.join("model");
    let run = || {
        edge_ssl()
            .args(["run", "--max-frames", "1", "--model"])
            .arg(&model)
            .arg("--source")
            .arg(reference_dir().join("images"))
            .output()
            .unwrap()
    };
    assert_success(&run());
    for name in ["head.safetensors", "encoder.onnx", "edge-ssl.toml"] {
        let original = flip_a_byte(&model.join(name));
        let out = run();
        assert_clean_failure(&out, &format!("model/{name}: does not match"));
        assert!(String::from_utf8_lossy(&out.stderr).contains("MANIFEST.sha256"));
        std::fs::write(model.join(name), original).unwrap();
    }
    std::fs::write(model.join("adapter.safetensors"), b"not from the bundle").unwrap();
    assert_clean_failure(&run(), "adapter.safetensors: not listed");
    std::fs::remove_file(model.join("adapter.safetensors")).unwrap();
    std::fs::remove_file(model.join("head.safetensors")).unwrap();
    assert_clean_failure(&run(), "head.safetensors: listed in");
}

#[test]
fn verify_passes_the_good_bundle_and_fails_a_repacked_tampered_one() {
    let good = assert_success(&verify(good_bundle()));
    assert!(good.contains(": ok (edge-ssl-x86_64/"), "{good}");

    let (_unpacked, top) = unpack(good_bundle());
    let repack = |name: &str| {
        let out = top.parent().unwrap().join(name);
        let st = Sys::new("tar")
            .arg("-czf")
            .arg(&out)
            .arg("-C")
            .arg(top.parent().unwrap())
            .arg(TOP)
            .status()
            .unwrap();
        assert!(st.success());
        out
    };
    // The system tar's own packing of the intact folder is accepted too.
    assert_success(&verify(&repack("same.tar.gz")));
    let original = flip_a_byte(&top.join("model/head.safetensors"));
    assert_clean_failure(
        &verify(&repack("tampered.tar.gz")),
        "edge-ssl-x86_64/model/head.safetensors does not match MANIFEST.sha256",
    );
    std::fs::write(top.join("model/head.safetensors"), original).unwrap();
    std::fs::write(top.join("model/extra.bin"), b"x").unwrap();
    assert_clean_failure(
        &verify(&repack("extra.tar.gz")),
        "model/extra.bin is not listed",
    );
}

/// A tarball with a proper top folder and manifest, then one `bad` entry written raw (the tar
/// crate itself refuses to write such paths).
fn malicious(dir: &Path, name: &str, bad: impl FnOnce(&mut tar::Header)) -> PathBuf {
    let path = dir.join(name);
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    let mut b = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h, TOP, std::io::empty()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(0);
    b.append_data(&mut h, format!("{TOP}/MANIFEST.sha256"), std::io::empty())
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(4);
    bad(&mut h);
    h.set_cksum();
    b.append(&h, &b"evil"[..]).unwrap();
    b.into_inner().unwrap().finish().unwrap();
    path
}

fn raw_name(h: &mut tar::Header, name: &str) {
    let slot = &mut h.as_old_mut().name;
    slot.fill(0);
    slot[..name.len()].copy_from_slice(name.as_bytes());
}

fn link(h: &mut tar::Header, kind: tar::EntryType, name: &str, target: &str) {
    raw_name(h, &format!("{TOP}/{name}"));
    h.set_entry_type(kind);
    h.set_size(0);
    h.set_link_name(target).unwrap();
}

#[test]
fn verify_refuses_traversal_absolute_paths_links_and_strangers() {
    let dir = tempfile::tempdir().unwrap();
    type Craft = Box<dyn FnOnce(&mut tar::Header)>;
    let cases: Vec<(&str, Craft, &str)> = vec![
        (
            "dotdot",
            Box::new(|h| raw_name(h, "../evil")),
            "`..` component",
        ),
        (
            "nested",
            Box::new(|h| raw_name(h, &format!("{TOP}/../../evil"))),
            "`..` component",
        ),
        (
            "absolute",
            Box::new(|h| raw_name(h, "/etc/evil")),
            "absolute path",
        ),
        (
            "symlink",
            Box::new(|h| link(h, tar::EntryType::Symlink, "model", "/etc")),
            "is a symlink",
        ),
        (
            "hardlink",
            Box::new(|h| link(h, tar::EntryType::Link, "passwd", "/etc/passwd")),
            "is a hard link",
        ),
        (
            "stranger",
            Box::new(|h| raw_name(h, "other/evil")),
            "outside the top folder",
        ),
        (
            "setuid",
            Box::new(|h| {
                raw_name(h, &format!("{TOP}/evil"));
                h.set_mode(0o4755);
            }),
            "mode 4755",
        ),
    ];
    for (name, bad, want) in cases {
        let tarball = malicious(dir.path(), &format!("{name}.tar.gz"), bad);
        let out = edge_ssl()
            .current_dir(dir.path())
            .args(["bundle", "--verify"])
            .arg(&tarball)
            .output()
            .unwrap();
        assert_clean_failure(&out, want);
    }
    // Nothing was unpacked anywhere: the folder holds only the tarballs.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(name.to_string_lossy().ends_with(".tar.gz"), "{name:?}");
    }
    assert!(!dir.path().parent().unwrap().join("evil").exists());
}

#[test]
fn missing_cross_binary_names_the_cargo_command() {
    let dir = tempfile::tempdir().unwrap();
    for (target, triple) in [
        ("aarch64", "aarch64-unknown-linux-gnu"),
        ("armv7", "armv7-unknown-linux-gnueabihf"),
    ] {
        let out = bundle_cmd(target, model_dir(), Path::new("b.tar.gz"))
            .current_dir(dir.path())
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .unwrap();
        assert_clean_failure(
            &out,
            &format!(
                "build it with `cargo build --profile dist --target {triple} -p edge-ssl-cli --bin edge-ssl`"
            ),
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Without --binary, the dist build (stripped, LTO) is shipped before the release build; the
/// release build goes with a note naming the dist command.
#[test]
fn the_dist_build_is_preferred_and_the_release_build_gets_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let built = |profile: &str, flags: u32| {
        let path = dir.path().join(format!(
            "target/aarch64-unknown-linux-gnu/{profile}/edge-ssl"
        ));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Different bytes, so the bundle shows which one it took.
        let mut bytes = elf_header(64, 183, 0);
        bytes.extend_from_slice(&flags.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let shipped = |out: &str| {
        let run = bundle_cmd("aarch64", model_dir(), Path::new(out))
            .current_dir(dir.path())
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .unwrap();
        assert_success(&run);
        let binary = list(&dir.path().join(out))
            .into_iter()
            .find(|e| e.path == "edge-ssl-aarch64/edge-ssl")
            .unwrap();
        (
            binary.bytes,
            String::from_utf8_lossy(&run.stderr).into_owned(),
        )
    };
    let release = built("release", 1);
    let (bytes, stderr) = shipped("release.tar.gz");
    assert_eq!(bytes, std::fs::read(&release).unwrap());
    assert!(
        stderr.contains("not a dist build")
            && stderr.contains("cargo build --profile dist --target aarch64-unknown-linux-gnu"),
        "{stderr}"
    );
    let dist = built("dist", 2);
    let (bytes, stderr) = shipped("dist.tar.gz");
    assert_eq!(bytes, std::fs::read(&dist).unwrap());
    assert!(!stderr.contains("note:"), "{stderr}");
}

#[test]
fn binary_for_another_architecture_or_not_elf_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = |target: &str, binary: &Path| {
        bundle_cmd(target, model_dir(), &dir.path().join("b.tar.gz"))
            .arg("--binary")
            .arg(binary)
            .output()
            .unwrap()
    };
    assert_clean_failure(
        &bundle("aarch64", Path::new(BIN)),
        "is built for x86_64, not aarch64",
    );
    assert_clean_failure(&bundle("armv7", Path::new(BIN)), "not armv7");
    let script = dir.path().join("edge-ssl");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    assert_clean_failure(&bundle("x86_64", &script), "is not an ELF executable");
    assert!(!dir.path().join("b.tar.gz").exists());
}

#[test]
fn unwritable_out_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should go: the temp file is written, the rename fails.
    let taken = dir.path().join("taken.tar.gz");
    std::fs::create_dir(&taken).unwrap();
    for out in [taken.clone(), dir.path().join("no-such-dir/b.tar.gz")] {
        let run = bundle_cmd("x86_64", model_dir(), &out)
            .args(["--binary", BIN])
            .output()
            .unwrap();
        assert_clean_failure(&run, "writing the bundle");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["taken.tar.gz"], "temp files left behind");
    assert_eq!(std::fs::read_dir(&taken).unwrap().count(), 0);
}

#[test]
fn same_inputs_give_identical_bytes_from_a_copied_model_and_the_running_binary() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("model-copy");
    common::copy_dir(model_dir(), &copy);
    // No --binary and no target/x86_64-unknown-linux-gnu/release here: the running edge-ssl
    // (this build) is shipped, the same file as in the good bundle.
    let out = bundle_cmd("x86_64", &copy, Path::new("again.tar.gz"))
        .current_dir(dir.path())
        .env_remove("CARGO_TARGET_DIR")
        .args(["--serial", "/dev/ttyACM0"])
        .output()
        .unwrap();
    assert_success(&out);
    let again = std::fs::read(dir.path().join("again.tar.gz")).unwrap();
    assert!(
        again == std::fs::read(good_bundle()).unwrap(),
        "bundles differ"
    );
}

/// The first 64 bytes of an ELF file for `machine` (`bits` 32 or 64, little-endian) with `flags`:
/// all `bundle` reads of a binary, so it stands in for a cross-built edge-ssl here.
fn elf_header(bits: u8, machine: u16, flags: u32) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = if bits == 64 { 2 } else { 1 };
    h[5] = 1;
    h[6] = 1;
    h[18..20].copy_from_slice(&machine.to_le_bytes());
    if bits == 32 {
        h[36..40].copy_from_slice(&flags.to_le_bytes());
    }
    h
}

#[test]
fn arm_bundles_build_and_verify_and_a_soft_float_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (target, binary, arch) in [
        ("aarch64", elf_header(64, 183, 0), "aarch64 binary"),
        (
            "armv7",
            elf_header(32, 40, 0x0500_0400),
            "armv7 (hard-float) binary",
        ),
    ] {
        let bin = dir.path().join(format!("edge-ssl-{target}.bin"));
        std::fs::write(&bin, binary).unwrap();
        let out = dir.path().join(format!("{target}.tar.gz"));
        let made = bundle_cmd(target, model_dir(), &out)
            .arg("--binary")
            .arg(&bin)
            .output()
            .unwrap();
        assert_success(&made);
        let tops: Vec<String> = list(&out).into_iter().map(|e| e.path).collect();
        assert!(
            tops.iter()
                .all(|p| p.starts_with(&format!("edge-ssl-{target}"))),
            "{tops:?}"
        );
        let checked = assert_success(&verify(&out));
        assert!(
            checked.contains(&format!(
                "(edge-ssl-{target}/: 6 files match MANIFEST.sha256, {arch})"
            )),
            "{checked}"
        );
    }
    let armel = dir.path().join("armel.bin");
    std::fs::write(&armel, elf_header(32, 40, 0x0500_0200)).unwrap();
    let out = bundle_cmd("armv7", model_dir(), &dir.path().join("armel.tar.gz"))
        .arg("--binary")
        .arg(&armel)
        .output()
        .unwrap();
    assert_clean_failure(
        &out,
        "is built for 32-bit ARM soft-float (armel), not armv7 (hard-float)",
    );
}

/// `bundle --json` and `bundle --verify --json` print one JSON object instead of the line.
#[test]
fn json_output_of_packing_and_verifying() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b.tar.gz");
    let run = bundle_cmd("x86_64", model_dir(), &out)
        .args(["--binary", BIN, "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(assert_success(&run).trim()).unwrap();
    assert_eq!(v["top"], TOP);
    assert_eq!(v["triple"], "x86_64-unknown-linux-gnu");
    assert_eq!(v["binary"], BIN);
    // card, encoder and head of `model_dir()` (it has no adapter and no metrics).
    assert_eq!(v["model_files"], 3, "{v}");
    let check = edge_ssl()
        .args(["bundle", "--json", "--verify"])
        .arg(&out)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(assert_success(&check).trim()).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["top"].as_str()),
        (Some(true), Some(TOP))
    );
    assert_eq!(v["files"], 6, "{v}");
    assert_eq!(v["binary"], "x86_64");
}
