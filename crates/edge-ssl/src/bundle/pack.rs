//! Packing a bundle: the binary, the model directory's deploy files, the systemd unit and
//! README for the device, and a `MANIFEST.sha256` of all of them, written atomically as one
//! deterministic `.tar.gz` under the folder `edge-ssl-<target>/`.

use std::path::Path;

use edge_ssl_core::{sha256_reader, write_atomic};

use super::device_files::{self, DeviceSetup, MODEL_DIR, README, UNIT};
use super::entry_path;
use super::manifest::{MANIFEST, Manifest};
use super::tarball::{BundleFile, write_tar_gz};
use super::target::Target;
use super::verify::BINARY;
use crate::error::{Context, bail};
use crate::model::directory as model_dir;
use crate::model::reference::ResolvedModel;

/// What a packed bundle holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// The one top folder, `edge-ssl-<target>`.
    pub top: String,
    /// Files of the model directory under `model/`.
    pub model_files: usize,
}

/// Writes the bundle of `model` (a directory with a head) for `target` to `out`, shipping
/// `binary` (checked by the caller, see [`super::binary::check`]). On any error nothing is
/// written.
pub fn pack(
    model: &ResolvedModel,
    target: Target,
    binary: &Path,
    setup: &DeviceSetup,
    out: &Path,
) -> crate::Result<Packed> {
    let top = format!("edge-ssl-{target}");
    let mut files = vec![BundleFile {
        path: BINARY.into(),
        bytes: read(binary)?,
        executable: true,
    }];
    let deploy = model_dir::deploy_files(model)?;
    for (name, path) in &deploy {
        if let Some(why) = entry_path::problem(name) {
            bail!(Bundle, "{}: cannot be bundled ({why})", path.display());
        }
        files.push(BundleFile {
            path: format!("{MODEL_DIR}/{name}"),
            bytes: read(path)?,
            executable: false,
        });
    }
    for (path, text) in [
        (UNIT, device_files::systemd_unit(setup)),
        (README, device_files::readme(target, &top, setup)),
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
    Ok(Packed {
        top,
        model_files: deploy.len(),
    })
}

fn read(path: &Path) -> crate::Result<Vec<u8>> {
    // Only regular files go into a bundle: a FIFO or `/dev/zero` would never end.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut edge_ssl_core::open_regular(path)?, &mut bytes)
        .map_err(|e| crate::Error::io(path, e))?;
    Ok(bytes)
}
