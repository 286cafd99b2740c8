//! Consistent Overhead Byte Stuffing: removes every 0x00 from a frame so 0x00 can delimit frames.
//!
//! A receiver that joins mid-stream, or loses bytes, resynchronises at the next 0x00 — the reason
//! the link uses COBS instead of length prefixes, where one lost length byte misframes everything
//! after it. Overhead is one byte per 254 bytes of data, plus one.

/// The most bytes [`encode`] writes for `len` input bytes (the trailing 0x00 delimiter excluded).
pub const fn max_encoded_len(len: usize) -> usize {
    len + len / 254 + 1
}

/// COBS-encodes `src` into `dst` and returns how many bytes were written, or `None` when `dst` is
/// shorter than [`max_encoded_len`]`(src.len())`. The output contains no 0x00.
pub fn encode(src: &[u8], dst: &mut [u8]) -> Option<usize> {
    if dst.len() < max_encoded_len(src.len()) {
        return None;
    }
    let mut code_at = 0;
    let mut out = 1;
    let mut code: u8 = 1;
    for &byte in src {
        if byte == 0 {
            dst[code_at] = code;
            code_at = out;
            out += 1;
            code = 1;
        } else {
            dst[out] = byte;
            out += 1;
            code += 1;
            if code == 0xFF {
                dst[code_at] = code;
                code_at = out;
                out += 1;
                code = 1;
            }
        }
    }
    dst[code_at] = code;
    Some(out)
}

/// Decodes a COBS block (delimiter excluded) in place and returns the decoded length, or `None`
/// when the block is malformed: it contains 0x00, or a code byte points past its end.
///
/// In place is safe because decoding never writes ahead of where it reads.
pub fn decode_in_place(buf: &mut [u8]) -> Option<usize> {
    let mut read = 0;
    let mut write = 0;
    while read < buf.len() {
        let code = buf[read];
        if code == 0 {
            return None;
        }
        read += 1;
        let run = usize::from(code) - 1;
        let end = read.checked_add(run)?;
        if end > buf.len() || buf[read..end].contains(&0) {
            return None;
        }
        buf.copy_within(read..end, write);
        write += run;
        read = end;
        if code != 0xFF && read < buf.len() {
            buf[write] = 0;
            write += 1;
        }
    }
    Some(write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        let mut enc = [0u8; 1200];
        let n = encode(data, &mut enc).unwrap();
        assert!(n <= max_encoded_len(data.len()));
        assert!(!enc[..n].contains(&0), "encoded output must be zero-free");
        let n = decode_in_place(&mut enc[..n]).unwrap();
        assert_eq!(&enc[..n], data);
    }

    #[test]
    fn known_vectors() {
        // Examples from the COBS paper / Wikipedia.
        let cases: &[(&[u8], &[u8])] = &[
            (&[], &[0x01]),
            (&[0x00], &[0x01, 0x01]),
            (&[0x00, 0x00], &[0x01, 0x01, 0x01]),
            (&[0x11, 0x22, 0x00, 0x33], &[0x03, 0x11, 0x22, 0x02, 0x33]),
            (&[0x11, 0x00, 0x00, 0x00], &[0x02, 0x11, 0x01, 0x01, 0x01]),
        ];
        for (raw, encoded) in cases {
            let mut out = [0u8; 16];
            let n = encode(raw, &mut out).unwrap();
            assert_eq!(&out[..n], *encoded, "encoding {raw:02x?}");
            round_trip(raw);
        }
    }

    #[test]
    fn long_runs_cross_the_254_byte_block() {
        for len in [253, 254, 255, 508, 509, 1000] {
            let data: std::vec::Vec<u8> = (0..len).map(|i| (i % 255 + 1) as u8).collect();
            round_trip(&data);
        }
    }

    #[test]
    fn malformed_blocks_are_rejected() {
        assert_eq!(
            decode_in_place(&mut [0x05, 0x11]),
            None,
            "code points past the end"
        );
        assert_eq!(
            decode_in_place(&mut [0x03, 0x00, 0x11]),
            None,
            "embedded zero"
        );
        assert_eq!(decode_in_place(&mut [0x00]), None, "zero code");
    }

    #[test]
    fn short_destination_is_refused() {
        let mut out = [0u8; 3];
        assert_eq!(encode(&[1, 2, 3], &mut out), None);
    }
}
