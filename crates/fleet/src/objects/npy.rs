//! The `.npy` bytes Flower's `Array` carries (`stype = "numpy.ndarray"`), for `float32`.
//!
//! Writing copies `numpy.save` exactly (version 1.0 header, the 21-digit growth padding,
//! 64-byte alignment), so an array we send has the id Python would give the same values.
//! Reading accepts little-endian `float32` and `float64` (converted to `f32`, which is what
//! the device trains in) in C order, and checks that the data is exactly what the shape
//! says, with overflow-checked arithmetic, before allocating anything.

use std::fmt::Write as _;

/// Why an `.npy` buffer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NpyError(pub String);

const MAGIC: &[u8] = b"\x93NUMPY";
/// numpy's `ARRAY_ALIGN`.
const ALIGN: usize = 64;
/// numpy's `GROWTH_AXIS_MAX_DIGITS`: spare room so an appended-to file can grow in place.
const GROWTH_DIGITS: usize = 21;

/// Encodes a C-order `float32` array as `numpy.save(..., allow_pickle=False)` would.
#[must_use]
pub fn encode_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let shape_repr = match shape {
        [] => "()".to_owned(),
        [n] => format!("({n},)"),
        dims => {
            let parts: Vec<String> = dims.iter().map(ToString::to_string).collect();
            format!("({})", parts.join(", "))
        }
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_repr}, }}");
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        header.push_str(&" ".repeat(GROWTH_DIGITS.saturating_sub(digits)));
    }
    // numpy pads to a multiple of 64 counting the newline, and pads a full 64 when aligned.
    let pad = ALIGN - (MAGIC.len() + 2 + 2 + header.len() + 1) % ALIGN;
    header.push_str(&" ".repeat(pad));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // The header is a few hundred bytes at most: shapes are printed integers.
    out.extend_from_slice(
        &u16::try_from(header.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decodes a little-endian `float32`/`float64` C-order `.npy` buffer into `(shape, data)`.
pub fn decode_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), NpyError> {
    let err = |m: &str| NpyError(m.to_owned());
    if bytes.len() < 10 || !bytes.starts_with(MAGIC) {
        return Err(err("not an .npy buffer (bad magic)"));
    }
    let (header_len, header_start): (usize, usize) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => {
            let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (
                usize::try_from(len).map_err(|_| err("header length overflows"))?,
                12,
            )
        }
        v => return Err(NpyError(format!("unsupported .npy version {v}"))),
    };
    let data_start = header_start
        .checked_add(header_len)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| err("header runs past the end of the buffer"))?;
    let header = std::str::from_utf8(&bytes[header_start..data_start])
        .map_err(|_| err("header is not UTF-8"))?;
    let descr = field(header, "descr").ok_or_else(|| err("header has no 'descr'"))?;
    let fortran =
        field(header, "fortran_order").ok_or_else(|| err("header has no 'fortran_order'"))?;
    let shape_text = field(header, "shape").ok_or_else(|| err("header has no 'shape'"))?;
    let shape =
        parse_shape(shape_text).ok_or_else(|| err("header 'shape' is not a tuple of integers"))?;
    if fortran.starts_with("True") && shape.len() > 1 {
        return Err(err("Fortran-order arrays are not supported"));
    }
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| err("shape overflows"))?;
    let data = &bytes[data_start..];
    let item = match descr.trim_matches(['\'', '"']) {
        "<f4" => 4,
        "<f8" => 8,
        other => return Err(NpyError(format!("dtype {other} is not float32/float64"))),
    };
    if count.checked_mul(item) != Some(data.len()) {
        return Err(NpyError(format!(
            "shape {shape:?} needs {count} values but the buffer holds {} bytes",
            data.len()
        )));
    }
    let values = if item == 4 {
        data.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        data.chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect()
    };
    Ok((shape, values))
}

/// The text after `'key':` up to the next top-level comma (tuples kept whole).
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let mut pattern = String::new();
    let _ = write!(pattern, "'{key}':");
    let start = header.find(&pattern)? + pattern.len();
    let rest = header[start..].trim_start();
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
    }
    None
}

fn parse_shape(text: &str) -> Option<Vec<usize>> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.trim_end_matches('L').parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Headers as numpy 2.4 `np.save` writes them (lengths checked against numpy).
    #[test]
    fn header_bytes_match_numpy() {
        let m = encode_f32(&[4, 3], &[0.0; 12]);
        assert_eq!(m.len(), 176);
        assert!(m.starts_with(
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }  "
        ));
        assert_eq!(m[127], b'\n');
        assert_eq!(encode_f32(&[5], &[0.0; 5]).len(), 148);
        assert_eq!(encode_f32(&[], &[1.5]).len(), 132);
        assert_eq!(encode_f32(&[0, 2], &[]).len(), 128);
    }

    #[test]
    fn round_trips() {
        let data: Vec<f32> = (0..6).map(|i| i as f32 * 0.5 - 1.0).collect();
        let (shape, back) = decode_f32(&encode_f32(&[2, 3], &data)).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(back, data);
    }

    #[test]
    fn refuses_a_shape_the_data_does_not_fill() {
        let mut bytes = encode_f32(&[2, 3], &[0.0; 6]);
        bytes.truncate(bytes.len() - 4);
        assert!(decode_f32(&bytes).is_err());
        let huge = encode_f32(&[usize::MAX / 2, 4], &[]);
        assert!(decode_f32(&huge).is_err());
    }
}
