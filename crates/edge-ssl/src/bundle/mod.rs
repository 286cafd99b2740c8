//! The parts of device bundles that loading a model needs: entry paths, the `MANIFEST.sha256`
//! format and the check of a model directory against the manifest beside it. Packing bundles
//! is the command-line tool's job.

pub mod entry_path;
pub mod manifest;
pub mod manifest_check;
