//! What a path inside a bundle may look like. The writer, the manifest parser and the tarball
//! verifier all ask this one question, so "safe to unpack" means the same thing everywhere:
//! relative, `/`-separated, every component a plain name (no empty, `.` or `..` components),
//! and no characters that `sha256sum` would have to escape or a shell would trip on.

/// Why `path` cannot be a path inside a bundle, or `None` when it can.
pub fn problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("empty path");
    }
    if path.starts_with('/') {
        return Some("absolute path");
    }
    if path
        .chars()
        .any(|c| c.is_control() || c == '\\' || c == '\0')
    {
        return Some("control character or backslash in the path");
    }
    for component in path.split('/') {
        match component {
            "" => return Some("empty path component (`//` or a trailing `/`)"),
            "." => return Some("`.` component"),
            ".." => return Some("`..` component (path traversal)"),
            _ => {}
        }
    }
    None
}

/// `path` split into its components when it is a safe bundle path.
pub fn components(path: &str) -> Result<Vec<&str>, &'static str> {
    match problem(path) {
        Some(p) => Err(p),
        None => Ok(path.split('/').collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_relative_paths_are_fine() {
        assert_eq!(problem("edge-ssl-x86_64/model/head.safetensors"), None);
        assert_eq!(components("a/b").unwrap(), ["a", "b"]);
    }

    #[test]
    fn traversal_absolute_and_odd_paths_are_refused() {
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "a/",
            "./a",
            "a\\b",
            "a\nb",
            "",
        ] {
            assert!(problem(bad).is_some(), "{bad:?} accepted");
        }
    }
}
