//! The JSON bodies of `RecordDict`, `ArrayRecord` and `Array`, written byte for byte as
//! Python's `json.dumps` writes them (`", "` and `": "` separators, `ensure_ascii`).
//!
//! The bytes matter: an object's id is the hash of its content, so an `Array` we build for
//! the same tensor has the same id Flower's Python would give it. Reading uses serde_json.

/// A JSON value as Flower's object bodies use them: strings, integers, lists, objects.
pub enum Json<'a> {
    Str(&'a str),
    Int(i64),
    List(Vec<Json<'a>>),
    Object(Vec<(&'a str, Json<'a>)>),
}

impl Json<'_> {
    /// Serializes like `json.dumps(value)`.
    #[must_use]
    pub fn dumps(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Str(s) => write_str(s, out),
            Json::Int(i) => out.push_str(&i.to_string()),
            Json::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(pairs) => {
                out.push('{');
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_str(key, out);
                    out.push_str(": ");
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_json_dumps() {
        // json.dumps({"dtype": "float32", "shape": [4, 3], "k\u00e9\n": [], "x": {}})
        let value = Json::Object(vec![
            ("dtype", Json::Str("float32")),
            ("shape", Json::List(vec![Json::Int(4), Json::Int(3)])),
            ("k\u{e9}\n", Json::List(vec![])),
            ("x", Json::Object(vec![])),
            ("\u{1f600}", Json::Str("\u{7f}")),
        ]);
        assert_eq!(
            value.dumps(),
            r#"{"dtype": "float32", "shape": [4, 3], "k\u00e9\n": [], "x": {}, "\ud83d\ude00": "\u007f"}"#
        );
    }
}
