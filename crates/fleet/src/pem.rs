//! PEM (RFC 7468) for the node's two key formats, in a few lines instead of a PEM crate.
//!
//! The key file is `-----BEGIN PRIVATE KEY-----`, the PKCS#8 DER in base64 lines of 64
//! characters, `-----END PRIVATE KEY-----` — what flwr's `private_key_to_bytes` and OpenSSL
//! write; the public key Flower identifies a node by is the same shape around a
//! SubjectPublicKeyInfo. Encoding is byte-exact with those writers (LF line ends, a final
//! newline), because the SuperLink compares the public PEM bytes. Decoding accepts what a
//! person may have edited: CRLF line ends, surrounding whitespace, and text around the block.

use base64ct::{Base64, Encoding as _};

/// Bounds a key file's base64 body (a P-384 PKCS#8 key is 185 bytes of DER).
const MAX_BODY: usize = 64 * 1024;

/// `der` as a PEM block labeled `label` (for example `PRIVATE KEY`).
#[must_use]
pub fn encode(label: &str, der: &[u8]) -> String {
    let body = Base64::encode_string(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    let mut rest = body.as_str();
    while !rest.is_empty() {
        // Base64 is ASCII, so any byte index is a character boundary.
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The DER inside the first `label` block of `text`, or why there is none.
pub fn decode(label: &str, text: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text
        .find(&begin)
        .ok_or_else(|| format!("no `{begin}` line"))?
        + begin.len();
    let len = text[start..]
        .find(&end)
        .ok_or_else(|| format!("no `{end}` line"))?;
    let body: String = text[start..start + len]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if body.len() > MAX_BODY {
        return Err(format!("the PEM body is over {MAX_BODY} characters"));
    }
    Base64::decode_vec(&body).map_err(|e| format!("bad base64 in the PEM body: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_64_and_a_round_trip() {
        let der: Vec<u8> = (0..=255u8).cycle().take(185).collect();
        let pem = encode("PRIVATE KEY", &der);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PRIVATE KEY-----");
        assert_eq!(*lines.last().unwrap(), "-----END PRIVATE KEY-----");
        // 185 bytes are 248 base64 characters: 64 + 64 + 64 + 56.
        let widths: Vec<usize> = lines[1..lines.len() - 1].iter().map(|l| l.len()).collect();
        assert_eq!(widths, [64, 64, 64, 56]);
        assert!(pem.ends_with("-----\n"));
        assert_eq!(decode("PRIVATE KEY", &pem).unwrap(), der);
        let crlf = format!("  junk\r\n{}\r\n", pem.replace('\n', "\r\n"));
        assert_eq!(decode("PRIVATE KEY", &crlf).unwrap(), der);
    }

    #[test]
    fn wrong_label_missing_end_and_bad_base64_are_errors() {
        let pem = encode("PUBLIC KEY", b"abc");
        assert!(
            decode("PRIVATE KEY", &pem)
                .unwrap_err()
                .contains("BEGIN PRIVATE KEY")
        );
        let cut = pem.replace("-----END PUBLIC KEY-----", "");
        assert!(
            decode("PUBLIC KEY", &cut)
                .unwrap_err()
                .contains("END PUBLIC KEY")
        );
        let bad = pem.replace("YWJj", "Y!Jj");
        assert!(decode("PUBLIC KEY", &bad).unwrap_err().contains("base64"));
    }
}
