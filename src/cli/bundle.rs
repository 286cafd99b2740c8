use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;
use edge_ssl::bundle::binary::{self, Found};
use edge_ssl::bundle::device_files::{DeviceSetup, MODEL_DIR, README, UNIT};
use edge_ssl::bundle::manifest::MANIFEST;
use edge_ssl::bundle::pack::pack;
use edge_ssl::bundle::target::Target;
use edge_ssl::bundle::verify::verify_tarball;
use edge_ssl::model::reference as model_ref;
use serde_json::json;

/// Pack a model for a device (Raspberry Pi, Jetson, x86 box) into one .tar.gz, or check one.
///
/// The tarball holds one folder, edge-ssl-TARGET/, with: `edge-ssl` (the binary for TARGET),
/// `model/` (the model directory: card, encoder, adapter, head), `edge-ssl.service` (a systemd
/// unit running `edge-ssl run --model /opt/edge-ssl/model --source SRC --serial TTY` on boot, or
/// with `--json` instead when there is no serial port, so the journal gets one JSON line per
/// prediction; restarted on failure), `README.md` (how to install it on the device) and
/// `MANIFEST.sha256` (the sha256 of every other file; `sha256sum -c MANIFEST.sha256` checks it). The same inputs
/// give a byte-identical tarball. Every command that loads a model directory from an unpacked
/// bundle checks it against the manifest first and refuses a changed, missing or added file.
///
/// The binary: --binary PATH, else target/TRIPLE/dist/edge-ssl (the stripped, LTO device build:
/// `cargo build --profile dist --target TRIPLE -p edge-ssl-cli --bin edge-ssl`), else
/// target/TRIPLE/release/edge-ssl (both under $CARGO_TARGET_DIR if set), else this edge-ssl
/// itself when it is built for TARGET; anything but the dist build is shipped with a note. It
/// must be an ELF executable for TARGET.
///
/// `edge-ssl bundle --verify FILE.tar.gz` checks a bundle without unpacking it: no absolute
/// paths, `..`, links or odd modes, one top folder, every file matching the manifest, and an
/// `edge-ssl` binary for the target the folder names.
#[derive(Debug, Args)]
#[command(
    override_usage = "edge-ssl bundle --model DIR --target TARGET --out FILE.tar.gz [--binary PATH] [--source SRC] [--serial TTY]\n       edge-ssl bundle --verify FILE.tar.gz"
)]
pub struct BundleArgs {
    /// Model directory with a head (from `edge-ssl head` or `cluster`).
    #[arg(long, value_name = "DIR", required_unless_present = "verify")]
    model: Option<String>,
    /// Device: aarch64 (Raspberry Pi OS 64-bit, Jetson), armv7 (Pi OS 32-bit), x86_64.
    #[arg(long, value_parser = target_arg, value_name = "TARGET", required_unless_present = "verify")]
    target: Option<Target>,
    /// Where to write the bundle (written atomically).
    #[arg(long, value_name = "FILE.tar.gz", required_unless_present = "verify")]
    out: Option<PathBuf>,
    /// The edge-ssl binary to ship (default: see above).
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// Camera (or video, or folder) the device's unit reads.
    #[arg(long, default_value = "/dev/video0", value_name = "SRC")]
    source: String,
    /// Serial port the device's unit sends predictions to (without one, the unit logs them to
    /// the journal as JSON lines).
    #[arg(long, value_name = "TTY")]
    serial: Option<String>,
    /// Check a bundle instead of writing one; nothing is unpacked.
    #[arg(long, value_name = "FILE.tar.gz", conflicts_with_all = ["model", "target", "out", "binary", "serial"])]
    verify: Option<PathBuf>,
    /// Print one JSON object on stdout (what was written, or what was verified) instead of a line
    /// of text.
    #[arg(long)]
    json: bool,
}

/// `--target`: a [`Target`] by its name.
fn target_arg(name: &str) -> Result<Target, String> {
    let all = [Target::Aarch64, Target::Armv7, Target::X86_64];
    all.into_iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| "expected aarch64, armv7 or x86_64".into())
}

pub fn run(args: BundleArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.verify {
        let v = verify_tarball(path)?;
        if args.json {
            let out = json!({"bundle": path, "ok": true, "top": v.top, "files": v.files,
                             "binary": v.binary.to_string()});
            println!("{out}");
        } else {
            println!(
                "{}: ok ({}/: {} files match {MANIFEST}, {} binary)",
                path.display(),
                v.top,
                v.files,
                v.binary
            );
        }
        return Ok(());
    }
    let (Some(spec), Some(target), Some(out)) = (&args.model, args.target, &args.out) else {
        bail!("--model, --target and --out are required");
    };
    let setup = DeviceSetup::new(&args.source, args.serial.as_deref())?;
    let binary = pick_binary(target, args.binary.as_deref())?;
    let model = model_ref::resolve(spec)?;
    // The bundle must not replace what goes into it: the binary or a file of the model.
    let mut inputs = super::model_arg::model_files(&model);
    inputs.push(binary.clone());
    edge_ssl_core::ensure_not_input(out, &inputs)?;
    let packed = pack(&model, target, &binary, &setup, out)?;
    if args.json {
        let out = json!({"out": out, "top": packed.top, "target": target.name(),
                         "triple": target.triple(), "binary": binary,
                         "model_files": packed.model_files,
                         "files": [format!("{MODEL_DIR}/"), UNIT, README, MANIFEST]});
        println!("{out}");
        return Ok(());
    }
    println!(
        "wrote {}: {}/ with edge-ssl ({target}, from {}), {MODEL_DIR}/ ({} files), {UNIT}, {README}, {MANIFEST}",
        out.display(),
        packed.top,
        binary.display(),
        packed.model_files
    );
    Ok(())
}

/// The binary to ship: the one asked for, or what [`binary::find`] finds (noting one that is
/// not the dist build); checked to be an ELF for `target`.
fn pick_binary(target: Target, asked: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match (asked, binary::find(target)) {
        (Some(p), _) if !p.is_file() => bail!("--binary {}: no such file", p.display()),
        (Some(p), _) => p.to_owned(),
        (None, Some(Found::Dist(path))) => path,
        (None, Some(Found::NotDist(path))) => {
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            eprintln!(
                "note: shipping {} ({:.1} MB), not a dist build; `{}` makes the stripped, size-optimized binary bundles are meant to carry",
                path.display(),
                size as f64 / 1e6,
                target.build_command()
            );
            path
        }
        (None, None) => {
            let linker = target
                .linker_packages()
                .map(|p| format!(" (linker: apt-get install {p}, or run .ci/cross.sh)"))
                .unwrap_or_default();
            bail!(
                "no {target} build of edge-ssl at {}: build it with `{}`{linker}, or pass --binary PATH",
                target.dist_binary().display(),
                target.build_command()
            );
        }
    };
    binary::check(&path, target)?;
    Ok(path)
}
