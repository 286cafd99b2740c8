//! Device bundles: one `.tar.gz` with the `edge-ssl` binary for a device, a model directory, a
//! systemd unit, a README and a `MANIFEST.sha256` of all of it. `edge-ssl bundle` writes them;
//! loading a model directory checks it against a manifest beside it; `bundle --verify` checks a
//! tarball without unpacking it.

pub mod device_files;
pub mod elf;
pub mod tarball;
pub mod target;
pub mod verify;
