use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use edge_ssl_core::{sha256_reader, write_atomic};

use crate::bundle::device_files::{self, DeviceSetup, MODEL_DIR, README, UNIT};
use crate::bundle::elf;
use edge_ssl::bundle::entry_path;
use edge_ssl::bundle::manifest::{MANIFEST, Manifest};
use crate::bundle::tarball::{BundleFile, write_tar_gz};
use crate::bundle::target::Target;
use crate::bundle::verify::{BINARY, verify_tarball};
use edge_ssl::model::directory as model_dir;
use edge_ssl::model::reference as model_ref;

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
    /// Device: aarch64 (Raspberry Pi OS 64-bit, Jetson), armv7 (Raspberry Pi OS 32-bit),
    /// x86_64.
    #[arg(long, value_enum, required_unless_present = "verify")]
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
}

pub fn run(args: BundleArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.verify {
        let v = verify_tarball(path)?;
        println!(
            "{}: ok ({}/: {} files match {MANIFEST}, {} binary)",
            path.display(),
            v.top,
            v.files,
            v.binary
        );
        return Ok(());
    }
    let (Some(spec), Some(target), Some(out)) = (&args.model, args.target, &args.out) else {
        bail!("--model, --target and --out are required");
    };
    let setup = DeviceSetup::new(&args.source, args.serial.as_deref())?;
    let binary = pick_binary(target, args.binary.as_deref())?;
    let model = model_ref::resolve(spec)?;
    let top = format!("edge-ssl-{target}");
    // The bundle must not replace what goes into it: the binary or a file of the model.
    let mut inputs = super::model_arg::model_files(&model);
    inputs.push(binary.clone());
    edge_ssl_core::ensure_not_input(out, &inputs)?;

    let mut files = vec![BundleFile {
        path: BINARY.into(),
        bytes: read(&binary)?,
        executable: true,
    }];
    for (name, path) in model_dir::deploy_files(&model)? {
        if let Some(why) = entry_path::problem(&name) {
            bail!("{}: cannot be bundled ({why})", path.display());
        }
        files.push(BundleFile {
            path: format!("{MODEL_DIR}/{name}"),
            bytes: read(&path)?,
            executable: false,
        });
    }
    for (path, text) in [
        (UNIT, device_files::systemd_unit(&setup)),
        (README, device_files::readme(target, &top, &setup)),
    ] {
        files.push(BundleFile {
            path: path.into(),
            bytes: text.into_bytes(),
            executable: false,
        });
    }
    let mut manifest = Manifest::default();
    for f in &files {
        manifest.insert(&f.path, &sha256_reader(f.bytes.as_slice())?);
    }
    files.push(BundleFile {
        path: MANIFEST.into(),
        bytes: manifest.render().into_bytes(),
        executable: false,
    });
    write_atomic(out, |w| write_tar_gz(w, &top, &files))
        .with_context(|| format!("writing the bundle {}", out.display()))?;
    println!(
        "wrote {}: {top}/ with edge-ssl ({target}, from {}), {MODEL_DIR}/ ({} files), {UNIT}, {README}, {MANIFEST}",
        out.display(),
        binary.display(),
        files.len() - 4
    );
    Ok(())
}

/// The binary to ship: the one asked for, the dist build for `target`, its release build, or this
/// very executable when it runs on `target`'s architecture; checked to be an ELF for `target`.
fn pick_binary(target: Target, asked: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match asked {
        Some(p) if !p.is_file() => bail!("--binary {}: no such file", p.display()),
        Some(p) => p.to_owned(),
        None => {
            let dist = target.dist_binary();
            let release = target.release_binary();
            let running = std::env::current_exe()
                .ok()
                .filter(|exe| elf::file_arch(exe).ok().flatten() == Some(target.arch()));
            let not_dist = |path: PathBuf| {
                let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                eprintln!(
                    "note: shipping {} ({:.1} MB), not a dist build; `{}` makes the stripped, size-optimized binary bundles are meant to carry",
                    path.display(),
                    size as f64 / 1e6,
                    target.build_command()
                );
                path
            };
            match running {
                _ if dist.is_file() => dist,
                _ if release.is_file() => not_dist(release),
                Some(exe) => not_dist(exe),
                None => {
                    let linker = target
                        .linker_packages()
                        .map(|p| format!(" (linker: apt-get install {p}, or run .ci/cross.sh)"))
                        .unwrap_or_default();
                    bail!(
                        "no {target} build of edge-ssl at {}: build it with `{}`{linker}, or pass --binary PATH",
                        dist.display(),
                        target.build_command()
                    );
                }
            }
        }
    };
    match elf::file_arch(&path)? {
        Some(arch) if arch == target.arch() => Ok(path),
        Some(arch) => bail!(
            "{} is built for {arch}, not {} (--target {target})",
            path.display(),
            target.arch()
        ),
        None => bail!("{} is not an ELF executable", path.display()),
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    // Only regular files go into a bundle: a FIFO or `/dev/zero` would never end.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut edge_ssl_core::open_regular(path)?, &mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes)
}
