//! `MANIFEST.sha256`: the list of every file in a bundle with its sha256, in the format
//! `sha256sum` writes and `sha256sum -c MANIFEST.sha256` checks (`<64 hex>  <path>` per line,
//! paths relative to the manifest's folder). Both the load-time check and `bundle --verify`
//! read it through [`Manifest::parse`], so a manifest one of them accepts the other accepts too.

use std::collections::BTreeMap;

use crate::error::bail;

use super::entry_path;

/// The manifest's file name, at the top of a bundle.
pub const MANIFEST: &str = "MANIFEST.sha256";

/// Paths (relative, `/`-separated) and their hex sha256, in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    entries: BTreeMap<String, String>,
}

impl Manifest {
    /// Adds `path` with `sha256` (lower-case hex). Panics on a path that is not a safe bundle
    /// path: callers build paths themselves, so that would be a bug, not bad input.
    pub fn insert(&mut self, path: &str, sha256: &str) {
        assert_eq!(
            entry_path::problem(path),
            None,
            "bad manifest path {path:?}"
        );
        self.entries.insert(path.to_owned(), sha256.to_owned());
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.entries.get(path).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(p, h)| (p.as_str(), h.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The manifest's text, one `<hash>  <path>` line per file.
    pub fn render(&self) -> String {
        self.iter().map(|(p, h)| format!("{h}  {p}\n")).collect()
    }

    /// Reads a manifest, refusing anything `sha256sum -c` would read differently or that names
    /// a path outside the manifest's folder. `name` is used in the errors.
    pub fn parse(text: &str, name: &str) -> crate::Result<Self> {
        let mut manifest = Manifest::default();
        for (i, line) in text.lines().enumerate() {
            let at = || format!("{name} line {}", i + 1);
            if line.trim().is_empty() {
                continue;
            }
            // `sha256sum` marks binary mode with `*` in place of the second space.
            let Some((hash, path)) = line.split_once("  ").or_else(|| line.split_once(" *")) else {
                bail!(
                    Bundle,
                    "{}: expected `<sha256>  <path>`, got `{line}`",
                    at()
                );
            };
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!(Bundle, "{}: `{hash}` is not a sha256", at());
            }
            if let Some(problem) = entry_path::problem(path) {
                bail!(Bundle, "{}: unsafe path `{path}` ({problem})", at());
            }
            if manifest.entries.contains_key(path) {
                bail!(Bundle, "{}: `{path}` is listed twice", at());
            }
            manifest
                .entries
                .insert(path.to_owned(), hash.to_ascii_lowercase());
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn render_and_parse_round_trip_in_path_order() {
        let mut m = Manifest::default();
        m.insert("model/head.safetensors", A);
        m.insert("edge-ssl", A);
        let text = m.render();
        assert_eq!(
            text,
            format!("{A}  edge-ssl\n{A}  model/head.safetensors\n")
        );
        assert_eq!(Manifest::parse(&text, "M").unwrap(), m);
    }

    #[test]
    fn binary_mode_lines_are_read() {
        let m = Manifest::parse(&format!("{A} *edge-ssl\n"), "M").unwrap();
        assert_eq!(m.get("edge-ssl"), Some(A));
    }

    #[test]
    fn bad_lines_are_refused_with_their_line_number() {
        for (text, want) in [
            (format!("{A}  ../etc/passwd\n"), "line 1: unsafe path"),
            (format!("{A}  a\n{A}  /etc/passwd\n"), "line 2: unsafe path"),
            (format!("{A}  a\n{A}  a\n"), "listed twice"),
            ("abc  a\n".to_string(), "not a sha256"),
            ("just-a-name\n".to_string(), "expected"),
        ] {
            let err = Manifest::parse(&text, "M").unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
