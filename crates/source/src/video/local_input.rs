//! ffmpeg and ffprobe read only the local file they are given.
//!
//! Both take their input as a URL: `http://host/x.avi`, `concat:a|b`, `subfile:…`, `pipe:0`,
//! `tcp:…` and some fifty more protocols are chosen by the text before the first colon. A local
//! path that happens to begin `http:` (a directory of that name) would be fetched over the
//! network, with the device's address and ffmpeg's user agent. So the path is first checked to
//! be a regular file, made absolute, and given as `file:/absolute/path` — the file protocol
//! takes the rest verbatim — and `-protocol_whitelist file` stops every nested open (a
//! playlist, a `concat` list, a reference movie) from reaching any other protocol.

use std::ffi::OsString;
use std::path::Path;

use crate::{Result, SourceError};

/// Input options that go before `-i` (ffmpeg) or the input (ffprobe).
pub(crate) const LOCAL_ONLY: [&str; 2] = ["-protocol_whitelist", "file"];

/// `file:` and the absolute path of `path`, if it is a regular file (a FIFO or device is
/// refused here, before any child is spawned).
pub(crate) fn local_input(path: &Path) -> Result<OsString> {
    edge_ssl_core::open_regular(path)?;
    let absolute = path.canonicalize().map_err(|e| SourceError::io(path, e))?;
    let mut input = OsString::from("file:");
    input.push(absolute.as_os_str());
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_is_a_file_url_to_an_absolute_path() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "http:",
            "concat:a|b",
            "subfile,,start,0,end,0,,:x",
            "pipe:0",
            "data:",
        ] {
            let path = dir.path().join(name).join("x.avi");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"not a video").unwrap();
            let input = local_input(&path).unwrap();
            let text = input.to_str().unwrap();
            let expected = format!("file:{}", path.canonicalize().unwrap().display());
            assert_eq!(text, expected);
            assert!(text.starts_with("file:/"), "{text}");
        }
    }

    #[test]
    fn only_regular_files_reach_ffmpeg() {
        let dir = tempfile::tempdir().unwrap();
        let err = local_input(dir.path()).unwrap_err().to_string();
        assert!(err.contains("directory"), "{err}");
        assert!(local_input(&dir.path().join("missing.avi")).is_err());
        #[cfg(unix)]
        {
            let fifo = dir.path().join("video.fifo");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            assert!(made.unwrap().success());
            let err = local_input(&fifo).unwrap_err().to_string();
            assert!(err.contains("FIFO"), "{err}");
        }
    }
}
