//! What edge-ssl prints to a terminal comes partly from outside: ONNX Runtime's error messages
//! (several lines, ending in a fragment such as " Please fix…"), file names, metadata. An error
//! is one line a user reads, and nothing from outside may reach the terminal as an escape
//! sequence. [`one_line`] makes any text so: every run of whitespace that holds a line break
//! becomes one space, and every other control character is written escaped (`\u{1b}`).
//! [`escape_row`] is the reversible form for files with one name per line (`embed`'s
//! `paths.txt`): a newline in a file name must not make two rows.

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
pub fn escape_row(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{escape_row, one_line};

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
