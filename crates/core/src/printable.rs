//! What edge-ssl prints to a terminal comes partly from outside: ONNX Runtime's error messages
//! (several lines, ending in a fragment such as " Please fix…"), file names, metadata. An error
//! is one line a user reads, and nothing from outside may reach the terminal as an escape
//! sequence. [`one_line`] makes any text so: every run of whitespace that holds a line break
//! becomes one space, and every other control character is written escaped (`\u{1b}`).
//! [`escape_row`] is the reversible form for files with one name per line (`embed`'s
//! `paths.txt`): a newline in a file name must not make two rows.
//!
//! A file name on Unix is bytes, not text, and need not be UTF-8; a lossy conversion would turn
//! `caf\xe9.png` into `caf\u{fffd}.png` and give two files one name. [`escape_path`] writes such
//! a name in the same reversible form, each byte that is not part of valid UTF-8 as `\xHH`. That
//! form is what a frame's origin is (`edge_ssl_source::Frame::origin`), so an origin is already
//! one printable line, escaped exactly once, valid UTF-8 (it can go in JSON as it is), and
//! [`unescape_row`] gives back the exact bytes of the name.

use std::fmt::Write;
use std::path::Path;

/// `text` as one printable line: line breaks (with the whitespace around them) folded into a
/// single space, other control characters escaped, surrounding whitespace trimmed.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' || c == '\r' {
            while out.ends_with([' ', '\t']) {
                out.pop();
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            out.push(' ');
        } else if c == '\t' {
            out.push(' ');
        } else if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` as one line that can be read back: `\` becomes `\\`, line feed `\n`, carriage
/// return `\r`, tab `\t`, any other control character `\u{XX}`; everything else as it is.
/// [`unescape_row`] reverses it.
pub fn escape_row(text: &str) -> String {
    escape_bytes(text.as_bytes())
}

/// A path in the form of [`escape_row`], its bytes that are not valid UTF-8 written as `\xHH`
/// (two lowercase hex digits): distinct names stay distinct, and [`unescape_row`] gives back
/// the bytes exactly (on Windows, the path's WTF-8 bytes).
pub fn escape_path(path: &Path) -> String {
    escape_bytes(path.as_os_str().as_encoded_bytes())
}

fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.extend(c.escape_unicode()),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// The bytes a row of [`escape_row`] or [`escape_path`] stands for. A backslash that starts no
/// escape of that form is an error naming it, not guessed at.
pub fn unescape_row(row: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(row.len());
    let mut rest = row;
    while let Some(at) = rest.find('\\') {
        out.extend_from_slice(&rest.as_bytes()[..at]);
        let escape = &rest[at + 1..];
        let bad = || {
            format!(
                "a `\\` at byte {} of {row:?} starts no escape",
                row.len() - escape.len() - 1
            )
        };
        let (bytes, len): (Vec<u8>, usize) = match escape.as_bytes().first() {
            Some(b'\\') => (vec![b'\\'], 1),
            Some(b'n') => (vec![b'\n'], 1),
            Some(b'r') => (vec![b'\r'], 1),
            Some(b't') => (vec![b'\t'], 1),
            Some(b'x') => {
                let hex = escape
                    .get(1..3)
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
                (
                    vec![u8::from_str_radix(hex.ok_or_else(bad)?, 16).map_err(|_| bad())?],
                    3,
                )
            }
            Some(b'u') => {
                let end = escape.find('}').ok_or_else(bad)?;
                let hex = escape
                    .get(2..end)
                    .filter(|_| escape.starts_with("u{"))
                    .ok_or_else(bad)?;
                let c = u32::from_str_radix(hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(bad)?;
                (c.to_string().into_bytes(), end + 1)
            }
            _ => return Err(bad()),
        };
        out.extend_from_slice(&bytes);
        rest = &escape[len..];
    }
    out.extend_from_slice(rest.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{escape_path, escape_row, one_line, unescape_row};

    #[test]
    fn rows_stay_rows() {
        assert_eq!(escape_row("a/b c.png"), "a/b c.png");
        assert_eq!(escape_row("two\nlines.png"), "two\\nlines.png");
        assert_eq!(escape_row("back\\slash"), "back\\\\slash");
        assert_eq!(escape_row("esc\u{1b}"), "esc\\u{1b}");
        assert!(
            !escape_row("x\r\n\t\u{7}\u{9b}")
                .chars()
                .any(|c| c.is_control())
        );
    }

    #[test]
    fn rows_read_back_to_the_same_bytes() {
        for text in [
            "plain.png",
            "a\\b\\\\c",
            "two\nlines\r\t",
            "esc\u{1b}\u{9b}",
            "caf\u{e9}",
            "\\x41",
        ] {
            let row = escape_row(text);
            assert_eq!(unescape_row(&row).unwrap(), text.as_bytes(), "{row}");
        }
        // A literal `\x41` in a name stays distinct from the byte it spells.
        assert_eq!(escape_row("\\x41"), "\\\\x41");
        for bad in [
            "end\\",
            "\\q",
            "\\x4",
            "\\xg1",
            "\\x+f",
            "\\u{d800}",
            "\\u{41",
        ] {
            let err = unescape_row(bad).unwrap_err();
            assert!(err.contains("starts no escape"), "{bad}: {err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_non_utf8_name_keeps_its_bytes() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        use std::path::Path;
        let raw: &[u8] = b"dir/caf\xe9 \xff\xfe\\x.png";
        let row = escape_path(Path::new(OsStr::from_bytes(raw)));
        assert_eq!(row, "dir/caf\\xe9 \\xff\\xfe\\\\x.png");
        assert_eq!(unescape_row(&row).unwrap(), raw);
        // The lossy form of the same name is another name, and another row.
        let lossy = escape_path(Path::new("dir/caf\u{fffd} \u{fffd}\u{fffd}\\x.png"));
        assert_ne!(lossy, row);
        assert_eq!(escape_path(Path::new("a\nb")), escape_row("a\nb"));
    }

    #[test]
    fn folds_lines_and_escapes_controls() {
        assert_eq!(
            one_line("Load model failed:\n  bad node\r\n Please fix the model.\n"),
            "Load model failed: bad node Please fix the model."
        );
        assert_eq!(one_line("a\u{1b}[2Jb\tc"), "a\\u{1b}[2Jb c");
        assert_eq!(one_line("plain: text"), "plain: text");
        assert!(!one_line("x\u{9b}y\u{7}").chars().any(|c| c.is_control()));
    }
}
