//! `edge-ssl bundle --verify`: checks a bundle tarball as it streams by, without writing
//! anything to disk. It refuses what would be unsafe to unpack — absolute paths, `..`, entries
//! outside the one top folder, links, device files, setuid or group/world-writable modes,
//! duplicate paths (the later one would silently win) — and then checks the manifest both ways:
//! every listed file is present with that sha256, and every file is listed. Last, the
//! `edge-ssl` binary must be there, an ELF for the target the top folder names
//! (`edge-ssl-aarch64/` holds an aarch64 binary).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use edge_ssl_core::sha256_reader;

use super::elf::{self, ElfArch};
use super::entry_path;
use super::manifest::{MANIFEST, Manifest};
use super::target::Target;
use crate::error::Context;

/// Returns early with an [`Error::Bundle`](crate::Error::Bundle).
macro_rules! bail {
    ($($fmt:tt)+) => {
        return Err(crate::Error::Bundle(format!($($fmt)+)))
    };
}

/// Name of the `edge-ssl` binary at the top of a bundle.
pub const BINARY: &str = "edge-ssl";
/// Largest manifest read into memory; a real one is a few hundred bytes.
const MAX_MANIFEST: u64 = 1 << 20;

/// What a verified bundle holds.
#[derive(Debug)]
pub struct Verified {
    /// The top folder, `edge-ssl-<target>`.
    pub top: String,
    /// Files the manifest lists (all files but the manifest itself).
    pub files: usize,
    /// Architecture of the `edge-ssl` binary.
    pub binary: ElfArch,
}

pub fn verify_tarball(path: &Path) -> crate::Result<Verified> {
    // A FIFO or a device named as the bundle is an error, not a read that never ends.
    let file = edge_ssl_core::open_regular(path)?;
    verify_stream(file).with_context(|| format!("{} is not a sound bundle", path.display()))
}

fn verify_stream(reader: impl Read) -> crate::Result<Verified> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let mut top: Option<String> = None;
    let mut hashes: BTreeMap<String, String> = BTreeMap::new();
    // Sets, not lists: a bundle of 300,000 entries took 89 s when each was looked up in a list.
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    let mut manifest_text: Option<String> = None;
    let mut binary = None;
    for entry in archive.entries().context("reading the tarball")? {
        let mut entry = entry.context("reading the tarball")?;
        let Ok(raw) = String::from_utf8(entry.path_bytes().into_owned()) else {
            bail!("an entry's path is not UTF-8");
        };
        let kind = entry.header().entry_type();
        let is_dir = kind.is_dir();
        let path = if is_dir {
            raw.strip_suffix('/').unwrap_or(&raw)
        } else {
            &raw
        };
        let parts = match entry_path::components(path) {
            Ok(parts) => parts,
            Err(why) => bail!("entry `{raw}`: {why}"),
        };
        if !(is_dir || kind.is_file()) {
            bail!(
                "entry `{raw}` is a {}; a bundle holds only files and folders",
                kind_name(kind)
            );
        }
        let mode = entry
            .header()
            .mode()
            .with_context(|| format!("entry `{raw}`: mode"))?;
        if mode & 0o7022 != 0 {
            bail!("entry `{raw}` has mode {mode:o} (setuid/setgid/sticky or writable by others)");
        }
        match &top {
            None => top = Some(parts[0].to_owned()),
            Some(t) if t != parts[0] => {
                bail!("entry `{raw}` is outside the top folder `{t}/`")
            }
            Some(_) => {}
        }
        let rel = parts[1..].join("/");
        if is_dir {
            if dirs.contains(&rel) || hashes.contains_key(&rel) {
                bail!("entry `{raw}` appears twice");
            }
            dirs.insert(rel);
            continue;
        }
        if rel.is_empty() {
            bail!("entry `{raw}` is a file where the top folder should be");
        }
        if hashes.contains_key(&rel) || dirs.contains(&rel) {
            bail!("entry `{raw}` appears twice");
        }
        let hash = if rel == MANIFEST {
            let mut text = String::new();
            (&mut entry)
                .take(MAX_MANIFEST)
                .read_to_string(&mut text)
                .with_context(|| format!("reading `{raw}`"))?;
            let hash = sha256_reader(text.as_bytes())?;
            manifest_text = Some(text);
            hash
        } else if rel == BINARY {
            let mut head = Vec::new();
            (&mut entry)
                .take(64)
                .read_to_end(&mut head)
                .with_context(|| format!("reading `{raw}`"))?;
            binary = elf::arch_of(&head);
            sha256_reader(head.as_slice().chain(&mut entry))
                .with_context(|| format!("reading `{raw}`"))?
        } else {
            sha256_reader(&mut entry).with_context(|| format!("reading `{raw}`"))?
        };
        hashes.insert(rel, hash);
    }
    let Some(top) = top else {
        bail!("the tarball is empty");
    };
    let Some(text) = manifest_text else {
        bail!("no {top}/{MANIFEST}");
    };
    let manifest = Manifest::parse(&text, &format!("{top}/{MANIFEST}"))?;
    for (rel, want) in manifest.iter() {
        match hashes.get(rel) {
            None => bail!("{top}/{rel} is listed in {MANIFEST} but not in the tarball"),
            Some(got) if got != want => {
                bail!("{top}/{rel} does not match {MANIFEST} (sha256 {got}, listed {want})")
            }
            Some(_) => {}
        }
    }
    if let Some(rel) = hashes
        .keys()
        .find(|rel| *rel != MANIFEST && manifest.get(rel).is_none())
    {
        bail!("{top}/{rel} is not listed in {MANIFEST}");
    }
    let Some(arch) = hashes.contains_key(BINARY).then_some(binary) else {
        bail!("no {top}/{BINARY}");
    };
    let Some(arch) = arch else {
        bail!("{top}/{BINARY} is not an ELF executable");
    };
    let named = top.strip_prefix("edge-ssl-").and_then(Target::from_name);
    if let Some(target) = named
        && arch != target.arch()
    {
        bail!(
            "{top}/{BINARY} is built for {arch}, not {} as the folder's name says",
            target.arch()
        );
    }
    Ok(Verified {
        top,
        files: manifest.len(),
        binary: arch,
    })
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char | tar::EntryType::Block => "device file",
        tar::EntryType::Fifo => "fifo",
        _ => "special entry",
    }
}

#[cfg(test)]
mod tests {
    use super::super::tarball::{BundleFile, write_tar_gz};
    use super::*;

    /// The first bytes of a 64-bit little-endian ELF for `machine`.
    fn elf64(machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h
    }

    fn file(path: &str, bytes: &[u8]) -> BundleFile {
        BundleFile {
            path: path.into(),
            bytes: bytes.to_vec(),
            executable: path == BINARY,
        }
    }

    /// A tarball of `files` under `top` whose manifest lists `listed` (all files when `None`).
    fn tarball(top: &str, files: &[BundleFile], listed: Option<&[BundleFile]>) -> Vec<u8> {
        let mut manifest = Manifest::default();
        for f in listed.unwrap_or(files) {
            manifest.insert(&f.path, &sha256_reader(f.bytes.as_slice()).unwrap());
        }
        let mut all = files.to_vec();
        all.push(file(MANIFEST, manifest.render().as_bytes()));
        let mut out = Vec::new();
        write_tar_gz(&mut out, top, &all).unwrap();
        out
    }

    fn err(bytes: &[u8]) -> String {
        format!("{:#}", verify_stream(bytes).unwrap_err())
    }

    #[test]
    fn a_sound_bundle_reports_its_folder_files_and_binary() {
        let files = [
            file(BINARY, &elf64(183)),
            file("model/head.safetensors", b"h"),
        ];
        let v = verify_stream(tarball("edge-ssl-aarch64", &files, None).as_slice()).unwrap();
        assert_eq!(v.top, "edge-ssl-aarch64");
        assert_eq!(v.files, 2);
        assert_eq!(v.binary, ElfArch::Aarch64);
    }

    #[test]
    fn a_binary_for_another_target_than_the_folder_names_is_refused() {
        let files = [file(BINARY, &elf64(183))];
        let e = err(&tarball("edge-ssl-x86_64", &files, None));
        assert!(e.contains("is built for aarch64, not x86_64"), "{e}");
    }

    /// The per-entry checks are set lookups, not list scans (a 300,000-entry bundle took 89 s
    /// with lists): ten times the entries take about ten times as long, not a hundred (with a
    /// list scan put back, 0.08 s → 3.2 s here). A complexity guard with a wide margin, not a
    /// speed figure.
    #[test]
    fn verifying_grows_linearly_with_the_entries() {
        let seconds = |n: usize| {
            let mut files = vec![file(BINARY, &elf64(62))];
            files.extend((0..n).map(|i| file(&format!("model/f{i}"), b"")));
            // Only the binary is listed: every entry is read and checked, then the first
            // unlisted file is named.
            let bytes = tarball("edge-ssl-x86_64", &files, Some(&files[..1]));
            let start = std::time::Instant::now();
            let e = err(&bytes);
            assert!(e.contains("is not listed"), "{e}");
            start.elapsed().as_secs_f64()
        };
        let small = seconds(4_000);
        let large = seconds(40_000);
        assert!(
            large < 20.0 * small + 0.25,
            "4,000 entries {small:.3} s, 40,000 {large:.3} s"
        );
    }

    #[test]
    fn manifest_and_contents_must_agree_both_ways() {
        let files = [file(BINARY, &elf64(62)), file("model/a", b"a")];
        let e = err(&tarball("edge-ssl-x86_64", &files, Some(&files[..1])));
        assert!(e.contains("edge-ssl-x86_64/model/a is not listed"), "{e}");
        let changed = [file(BINARY, &elf64(62)), file("model/a", b"b")];
        let e = err(&tarball("edge-ssl-x86_64", &changed[..1], Some(&changed)));
        assert!(
            e.contains("model/a is listed in MANIFEST.sha256 but not in the tarball"),
            "{e}"
        );
        let no_binary = [file("model/a", b"a")];
        let e = err(&tarball("edge-ssl-x86_64", &no_binary, None));
        assert!(e.contains("no edge-ssl-x86_64/edge-ssl"), "{e}");
    }
}
