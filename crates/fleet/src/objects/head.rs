//! The framing of one object: `b"<Type> <child ids, comma-separated> <body length>\0" + body`,
//! whose id is the lowercase hex SHA-256 of all of it (flwr `supercore/inflatable`).
//!
//! Parsing verifies the hash first, so nothing after it ever looks at bytes that are not
//! the ones the SuperLink named; then the head, whose body length must be exact.

use sha2::{Digest, Sha256};

use crate::error::{FleetError, Result};

/// The parsed head of a verified object, and where its body starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The Python class name: `Message`, `RecordDict`, `ArrayRecord`, `Array`, ...
    pub kind: String,
    /// Child object ids, in the order the head lists them.
    pub children: Vec<String>,
    /// Offset of the body in the object content.
    pub body_start: usize,
}

/// Lowercase hex SHA-256 of `content`: an object's id.
#[must_use]
pub fn object_id(content: &[u8]) -> String {
    hex(&Sha256::digest(content))
}

/// Lowercase hex of `bytes`.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// True for a 64-character lowercase hex string (Flower's `is_valid_sha256_hash` accepts
/// either case; ids we compute are lowercase, and we compare ids as strings).
#[must_use]
pub fn is_object_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Frames `body` as an object of `kind` with `children`; returns `(id, content)`.
#[must_use]
pub fn build(kind: &str, children: &[String], body: &[u8]) -> (String, Vec<u8>) {
    let head = format!("{kind} {} {}", children.join(","), body.len());
    let mut content = Vec::with_capacity(head.len() + 1 + body.len());
    content.extend_from_slice(head.as_bytes());
    content.push(0);
    content.extend_from_slice(body);
    (object_id(&content), content)
}

/// Verifies that `content` hashes to `id` and parses its head.
pub fn parse(id: &str, content: &[u8]) -> Result<Head> {
    let actual = object_id(content);
    if !actual.eq_ignore_ascii_case(id) {
        return Err(FleetError::HashMismatch {
            expected: id.to_owned(),
            actual,
        });
    }
    let malformed = |reason: &str| FleetError::MalformedObject {
        id: id.to_owned(),
        reason: reason.to_owned(),
    };
    let split = content
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| malformed("no head/body divider"))?;
    let head =
        std::str::from_utf8(&content[..split]).map_err(|_| malformed("head is not UTF-8"))?;
    let mut parts = head.split(' ');
    let (Some(kind), Some(children), Some(len), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("head does not have three fields"));
    };
    let body_len: usize = len
        .parse()
        .map_err(|_| malformed("body length is not a number"))?;
    if body_len != content.len() - split - 1 {
        return Err(malformed("body length does not match the head"));
    }
    let children: Vec<String> = if children.is_empty() {
        Vec::new()
    } else {
        children.split(',').map(str::to_owned).collect()
    };
    if let Some(bad) = children.iter().find(|c| !is_object_id(c)) {
        return Err(malformed(&format!(
            "child id {bad:?} is not a SHA-256 hex digest"
        )));
    }
    Ok(Head {
        kind: kind.to_owned(),
        children,
        body_start: split + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_then_parse_round_trips() {
        let child = "a".repeat(64);
        let (id, content) = build("RecordDict", std::slice::from_ref(&child), b"{}");
        assert!(content.starts_with(format!("RecordDict {child} 2\0").as_bytes()));
        let head = parse(&id, &content).unwrap();
        assert_eq!(head.kind, "RecordDict");
        assert_eq!(head.children, vec![child]);
        assert_eq!(&content[head.body_start..], b"{}");
    }

    #[test]
    fn a_flipped_byte_is_a_hash_mismatch() {
        let (id, mut content) = build("ArrayChunk", &[], b"data");
        *content.last_mut().unwrap() ^= 1;
        assert!(matches!(
            parse(&id, &content),
            Err(FleetError::HashMismatch { .. })
        ));
    }

    #[test]
    fn a_wrong_length_is_malformed() {
        let content = b"ArrayChunk  5\0data".to_vec();
        let id = object_id(&content);
        assert!(matches!(
            parse(&id, &content),
            Err(FleetError::MalformedObject { .. })
        ));
    }
}
