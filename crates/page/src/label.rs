//! Labeling: a frame the page still holds, saved under a class name as `DIR/<class>/<run>-<frame>.jpg`,
//! an ImageFolder that `edge-ssl head --labeled DIR` (and the refit) reads as it is. The file
//! name carries the run (the server's start time) as well as the frame number, so a second run
//! does not overwrite the first run's labels; labeling the same frame again under another class
//! moves it.
//!
//! A class name becomes a directory name, so it is held to a small safe alphabet — letters,
//! digits, `-`, `_`, starting with a letter or digit, at most 64 bytes: no separators, no dots,
//! nothing a filesystem or a shell treats specially. A class directory that exists must be a
//! real directory (not a link to elsewhere), and the number of classes is capped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{PageError, Result};

/// Class directories the labels directory may hold.
pub const MAX_CLASSES: usize = 256;
const MAX_NAME: usize = 64;

/// A class name that is safe as a directory name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassName(String);

impl ClassName {
    pub fn parse(name: &str) -> Result<Self> {
        let ok = !name.is_empty()
            && name.len() <= MAX_NAME
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(ClassName(name.to_string()))
        } else {
            let shown: String = name.chars().take(MAX_NAME + 1).collect();
            Err(PageError::ClassName(shown))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a label went, and the class it was moved from, if any.
#[derive(Debug)]
pub struct Saved {
    pub path: PathBuf,
    pub moved_from: Option<String>,
}

/// Writes `jpeg` as `dir/<class>/<stem>.jpg` atomically, removing `<stem>.jpg` from the other
/// class directories. `stem` is made by the server from numbers only.
pub fn save_label(dir: &Path, class: &ClassName, stem: &str, jpeg: &[u8]) -> Result<Saved> {
    std::fs::create_dir_all(dir).map_err(|source| PageError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let class_dir = dir.join(class.as_str());
    match std::fs::symlink_metadata(&class_dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(PageError::NotADirectory(class_dir)),
        Err(_) => {
            if class_dirs(dir).len() >= MAX_CLASSES {
                return Err(PageError::TooManyClasses(dir.to_owned(), MAX_CLASSES));
            }
            std::fs::create_dir(&class_dir).map_err(|source| PageError::Write {
                path: class_dir.clone(),
                source,
            })?;
        }
    }
    let file = format!("{stem}.jpg");
    let path = class_dir.join(&file);
    edge_ssl_core::write_atomic(&path, |w| w.write_all(jpeg))?;
    let mut moved_from = None;
    for (name, other) in class_dirs(dir) {
        if name != class.as_str() {
            let stale = other.join(&file);
            if std::fs::symlink_metadata(&stale).is_ok_and(|m| m.is_file())
                && std::fs::remove_file(&stale).is_ok()
            {
                // A class left without images would make the ImageFolder unreadable; removing
                // the directory only succeeds when it is empty.
                let _ = std::fs::remove_dir(&other);
                moved_from = Some(name);
            }
        }
    }
    Ok(Saved { path, moved_from })
}

/// Images per class in `dir` (only directories whose names are valid class names).
pub fn count_labels(dir: &Path) -> BTreeMap<String, u64> {
    class_dirs(dir)
        .into_iter()
        .map(|(name, path)| {
            let n = std::fs::read_dir(&path)
                .map(|entries| {
                    entries
                        .flatten()
                        .filter(|e| {
                            let n = e.file_name();
                            let n = n.to_string_lossy().to_ascii_lowercase();
                            !n.starts_with('.')
                                && (n.ends_with(".jpg")
                                    || n.ends_with(".jpeg")
                                    || n.ends_with(".png"))
                        })
                        .count() as u64
                })
                .unwrap_or(0);
            (name, n)
        })
        .collect()
}

/// The class directories of `dir` (real directories with valid names), at most a few more
/// than [`MAX_CLASSES`] looked at.
fn class_dirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .take(4 * MAX_CLASSES)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            ClassName::parse(&name).ok()?;
            Some((name, e.path()))
        })
        .collect()
}

/// A label request body: JSON `{"frame": 12, "class": "person"}` or the form
/// `frame=12&class=person`.
pub(crate) fn parse_body(body: &[u8]) -> std::result::Result<(u64, String), &'static str> {
    let trimmed = body.trim_ascii_start();
    if trimmed.first() == Some(&b'{') {
        let v: serde_json::Value =
            serde_json::from_slice(trimmed).map_err(|_| "the body is not valid JSON")?;
        let frame = v
            .get("frame")
            .and_then(|f| f.as_u64())
            .ok_or("`frame` must be a frame number")?;
        let class = v
            .get("class")
            .and_then(|c| c.as_str())
            .ok_or("`class` must be a string")?;
        return Ok((frame, class.to_string()));
    }
    let frame = crate::http::request::form_value(body, "frame")
        .and_then(|f| parse_frame(&f))
        .ok_or("`frame` must be a frame number")?;
    let class = crate::http::request::form_value(body, "class").ok_or("`class` is missing")?;
    Ok((frame, class))
}

/// A frame number: 1 to 20 ASCII digits, nothing else.
pub(crate) fn parse_frame(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names() {
        for good in ["person", "9-ankle-boot", "A_b", "x"] {
            assert!(ClassName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "..",
            ".",
            "../x",
            "a/b",
            "a\\b",
            "-x",
            "_x",
            "a b",
            "é",
            "a.b",
            "a\0",
            &"a".repeat(65),
        ] {
            assert!(ClassName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(
            parse_body(br#"{"frame": 3, "class": "x"}"#),
            Ok((3, "x".into()))
        );
        assert_eq!(parse_body(b"frame=3&class=a%2Fb"), Ok((3, "a/b".into())));
        assert!(parse_body(b"frame=-1&class=x").is_err());
        assert!(parse_body(br#"{"frame": "3", "class": "x"}"#).is_err());
        assert!(parse_body(b"\xff\xfe").is_err());
        assert_eq!(parse_frame("00012"), Some(12));
        assert_eq!(parse_frame("99999999999999999999"), None, "overflow");
    }

    #[test]
    fn save_moves_between_classes() {
        let dir = tempfile::tempdir().unwrap();
        let a = ClassName::parse("a").unwrap();
        let b = ClassName::parse("b").unwrap();
        save_label(dir.path(), &a, "1-5", b"jpeg").unwrap();
        let s = save_label(dir.path(), &b, "1-5", b"jpeg2").unwrap();
        assert_eq!(s.moved_from.as_deref(), Some("a"));
        assert!(!dir.path().join("a/1-5.jpg").exists());
        assert_eq!(
            std::fs::read(dir.path().join("b/1-5.jpg")).unwrap(),
            b"jpeg2"
        );
        let counts = count_labels(dir.path());
        assert_eq!(counts.get("a"), None, "the emptied class folder is gone");
        assert_eq!(counts.get("b"), Some(&1));
    }
}
