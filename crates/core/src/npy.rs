//! The NumPy `.npy` format (version 1.0) for 2-D little-endian float32 arrays: the one shape
//! embeddings are exchanged in, readable by `numpy.load` with no extra package.

use std::path::Path;

use ndarray::{Array2, ArrayView2};

use crate::regular_file::read_regular;
use crate::{CoreError, Result, write_atomic};

/// Writes `array` to `path` atomically.
pub fn write_f32(path: &Path, array: ArrayView2<f32>) -> Result<()> {
    let (rows, cols) = array.dim();
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + header length (2) + header + '\n' is padded to 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let standard = array.as_standard_layout();
    let data = standard.as_slice().expect("standard layout is contiguous");
    write_atomic(path, |w| {
        w.write_all(b"\x93NUMPY\x01\x00")?;
        w.write_all(&(header.len() as u16).to_le_bytes())?;
        w.write_all(header.as_bytes())?;
        // In blocks: one `write_all` per value through `dyn Write` costs more than the disk
        // for a 20 MB view cache.
        let mut bytes = Vec::with_capacity(4 * 4096);
        for block in data.chunks(4096) {
            bytes.clear();
            bytes.extend(block.iter().flat_map(|v| v.to_le_bytes()));
            w.write_all(&bytes)?;
        }
        Ok(())
    })
}

/// Reads a 2-D `<f4` C-order array written by [`write_f32`] or by NumPy.
pub fn read_f32(path: &Path) -> Result<Array2<f32>> {
    let bytes = read_regular(path)?;
    let bad = |message: &str| CoreError::Npy {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(bad("unsupported .npy version")),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("truncated header"))?;
    if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
        return Err(bad(
            "only C-order little-endian float32 arrays are supported",
        ));
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape in header"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad("bad shape")))
        .collect::<Result<_>>()?;
    let [rows, cols] = dims[..] else {
        return Err(bad("expected a 2-D array"));
    };
    let data = &bytes[start + header_len..];
    if rows.checked_mul(cols).and_then(|n| n.checked_mul(4)) != Some(data.len()) {
        return Err(bad("data length does not match the shape"));
    }
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Array2::from_shape_vec((rows, cols), values).map_err(|_| bad("bad shape"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_header_is_aligned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.npy");
        let a = Array2::from_shape_fn((3, 5), |(i, j)| i as f32 * 10.0 + j as f32 - 0.5);
        write_f32(&path, a.view()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        assert_eq!(read_f32(&path).unwrap(), a);
    }

    #[test]
    fn truncated_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.npy");
        write_f32(&path, Array2::zeros((4, 4)).view()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(read_f32(&path).is_err());
    }
}
