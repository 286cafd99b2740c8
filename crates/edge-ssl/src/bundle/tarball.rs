//! Writes a bundle as a deterministic `.tar.gz`: the same files give the same bytes, whatever
//! the files' mtimes, owners or umask on the machine that packs them. Every entry sits under one
//! top folder; directories come first in path order and are 0755, files are 0644 or 0755 when
//! executable, owned by root (uid/gid 0), with one fixed mtime; there are no links. The gzip
//! header carries no name and no time.

use std::collections::BTreeSet;
use std::io::{self, Write};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::entry_path;

/// The mtime of every entry: 2024-01-01T00:00:00Z. Not 0, which GNU tar calls implausibly old.
pub const MTIME: u64 = 1_704_067_200;

/// One file of a bundle: its path under the top folder, its bytes, whether it is a program.
#[derive(Debug, Clone)]
pub struct BundleFile {
    pub path: String,
    pub bytes: Vec<u8>,
    pub executable: bool,
}

/// Writes `files` as `top/<path>` into a gzip-compressed tarball on `out`.
pub fn write_tar_gz(out: &mut dyn Write, top: &str, files: &[BundleFile]) -> io::Result<()> {
    let invalid = |path: &str, why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bundle path `{path}`: {why}"),
        )
    };
    if let Some(why) = entry_path::problem(top).or((top.contains('/')).then_some("not one folder"))
    {
        return Err(invalid(top, why));
    }
    let mut dirs = BTreeSet::new();
    let mut names = BTreeSet::new();
    for f in files {
        let parts = entry_path::components(&f.path).map_err(|why| invalid(&f.path, why))?;
        if !names.insert(f.path.as_str()) {
            return Err(invalid(&f.path, "given twice"));
        }
        for i in 1..parts.len() {
            dirs.insert(parts[..i].join("/"));
        }
    }
    let mut sorted: Vec<&BundleFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));

    let gz = GzEncoder::new(out, Compression::default());
    let mut tar = tar::Builder::new(gz);
    append(&mut tar, top, tar::EntryType::Directory, 0o755, &[])?;
    for dir in &dirs {
        let path = format!("{top}/{dir}");
        append(&mut tar, &path, tar::EntryType::Directory, 0o755, &[])?;
    }
    for f in sorted {
        let mode = if f.executable { 0o755 } else { 0o644 };
        let path = format!("{top}/{}", f.path);
        append(&mut tar, &path, tar::EntryType::Regular, mode, &f.bytes)?;
    }
    tar.into_inner()?.finish()?.flush()
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    bytes: &[u8],
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_mtime(MTIME);
    header.set_uid(0);
    header.set_gid(0);
    header.set_username("root")?;
    header.set_groupname("root")?;
    tar.append_data(&mut header, path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<BundleFile> {
        vec![
            BundleFile {
                path: "model/b".into(),
                bytes: b"bb".to_vec(),
                executable: false,
            },
            BundleFile {
                path: "edge-ssl".into(),
                bytes: b"\x7fELF".to_vec(),
                executable: true,
            },
        ]
    }

    fn listing(bytes: &[u8]) -> Vec<(String, u32, u64)> {
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn entries_are_sorted_under_one_folder_with_fixed_modes_and_times() {
        let mut out = Vec::new();
        write_tar_gz(&mut out, "top", &files()).unwrap();
        let want = [
            ("top", 0o755),
            ("top/model", 0o755),
            ("top/edge-ssl", 0o755),
            ("top/model/b", 0o644),
        ];
        let got = listing(&out);
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((path, mode, mtime), (wp, wm)) in got.iter().zip(want) {
            assert_eq!((path.as_str(), *mode, *mtime), (wp, wm, MTIME));
        }
        let mut again = Vec::new();
        let mut reversed = files();
        reversed.reverse();
        write_tar_gz(&mut again, "top", &reversed).unwrap();
        assert_eq!(
            out, again,
            "same files in another order must give the same bytes"
        );
    }

    #[test]
    fn unsafe_or_duplicate_paths_are_refused() {
        for path in ["../x", "/etc/x", "a//b"] {
            let f = BundleFile {
                path: path.into(),
                bytes: vec![],
                executable: false,
            };
            assert!(
                write_tar_gz(&mut Vec::new(), "top", &[f]).is_err(),
                "{path}"
            );
        }
        let mut twice = files();
        twice.push(twice[0].clone());
        assert!(write_tar_gz(&mut Vec::new(), "top", &twice).is_err());
        assert!(write_tar_gz(&mut Vec::new(), "a/b", &files()).is_err());
    }
}
