//! Device bundles: one `.tar.gz` with the `edge-ssl` binary for a device, a model directory, a
//! systemd unit, a README and a `MANIFEST.sha256` of all of it ([`pack`]). Loading a model
//! directory checks it against a manifest beside it ([`manifest_check`]); [`verify`] checks a
//! tarball without unpacking it.

pub mod binary;
pub mod device_files;
pub mod elf;
pub mod entry_path;
pub mod manifest;
pub mod manifest_check;
pub mod pack;
pub mod tarball;
pub mod target;
pub mod verify;
