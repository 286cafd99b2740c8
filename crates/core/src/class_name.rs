//! Class names arrive from files edge-ssl does not trust — a head's metadata, an exported
//! ONNX's metadata, the folder names of a labeled image set — and end up printed on a terminal,
//! in JSON lines, on a small display and on the live page. A name carrying an ANSI escape
//! sequence could rewrite what an operator's terminal shows, and a bidirectional override could
//! make one class read as another. So a class name is checked once, where it enters: non-empty,
//! at most [`MAX_CLASS_NAME_BYTES`] bytes, no control characters (C0, DEL, C1: every escape
//! sequence starts with one) and no Unicode bidirectional controls.

/// Longest class name accepted, in bytes of UTF-8.
pub const MAX_CLASS_NAME_BYTES: usize = 256;

/// Why `name` cannot be a class name, or `None` when it can. The reason quotes the name with
/// its characters escaped (`{:?}`), so printing it is safe.
pub fn class_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a class name is empty".into());
    }
    if name.len() > MAX_CLASS_NAME_BYTES {
        return Some(format!(
            "a class name is {} bytes long (at most {MAX_CLASS_NAME_BYTES})",
            name.len()
        ));
    }
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}');
    if let Some(c) = name.chars().find(|&c| c.is_control() || bidi(c)) {
        return Some(format!(
            "class name {name:?} contains the control character {:?}",
            c
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass_and_escapes_do_not() {
        for ok in ["0-t-shirt", "ankle boot", "чайник", "猫", "a/b"] {
            assert_eq!(class_name_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "\u{1b}[2Jcat",
            "dog\n",
            "x\u{7f}",
            "\u{9b}31m",
            "cat\u{202E}god",
            "tab\t",
        ] {
            let why = class_name_problem(bad).unwrap_or_else(|| panic!("{bad:?} passed"));
            assert!(!why.chars().any(|c| c.is_control()), "{why:?}");
        }
        assert!(class_name_problem(&"x".repeat(MAX_CLASS_NAME_BYTES)).is_none());
        assert!(class_name_problem(&"x".repeat(MAX_CLASS_NAME_BYTES + 1)).is_some());
    }
}
