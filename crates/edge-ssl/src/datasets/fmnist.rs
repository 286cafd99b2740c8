//! Fashion-MNIST from the Debian package `dataset-fashion-mnist` (IDX files, gzip), the data
//! the demo builds its shifted camera domain from.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Context, bail};

pub const CLASS_NAMES: [&str; 10] = [
    "0-tshirt",
    "1-trouser",
    "2-pullover",
    "3-dress",
    "4-coat",
    "5-sandal",
    "6-shirt",
    "7-sneaker",
    "8-bag",
    "9-ankle-boot",
];

/// Where the IDX files are: `EDGE_SSL_FMNIST`, else the Debian location.
pub fn default_dir() -> PathBuf {
    std::env::var_os("EDGE_SSL_FMNIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"))
}

/// 28×28 gray images (row-major bytes) and their labels.
pub struct Split {
    pub images: Vec<[u8; 784]>,
    pub labels: Vec<u8>,
}

/// Reads `t10k` (test) or `train` from `dir`.
pub fn load(dir: &Path, split: &str) -> crate::Result<Split> {
    let images = read_idx(&dir.join(format!("{split}-images-idx3-ubyte.gz")), 0x0803)?;
    let labels = read_idx(&dir.join(format!("{split}-labels-idx1-ubyte.gz")), 0x0801)?;
    if images.len() != labels.len() * 784 {
        bail!(
            Data,
            "{}: {} image bytes for {} labels",
            dir.display(),
            images.len(),
            labels.len()
        );
    }
    if let Some(bad) = labels.iter().find(|&&l| l > 9) {
        bail!(Data, "{}: label {bad} out of range", dir.display());
    }
    let images = images
        .chunks_exact(784)
        .map(|c| c.try_into().expect("chunks of 784"))
        .collect();
    Ok(Split { images, labels })
}

/// The payload of an IDX file after its header (magic, then one u32 per dimension).
fn read_idx(path: &Path, magic: u32) -> crate::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| {
        format!(
            "{}: Fashion-MNIST not found (install it: `sudo apt-get install dataset-fashion-mnist`, or set EDGE_SSL_FMNIST)",
            path.display()
        )
    })?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{}: not a gzip file", path.display()))?;
    let be = |i: usize| {
        bytes
            .get(i..i + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
    };
    if be(0) != Some(magic) {
        bail!(
            Data,
            "{}: not an IDX file of the expected kind",
            path.display()
        );
    }
    let dims = (magic & 0xff) as usize;
    let header = 4 + 4 * dims;
    let count: usize = (0..dims)
        .map(|d| be(4 + 4 * d).unwrap_or(0) as usize)
        .product();
    if bytes.len() != header + count {
        bail!(
            Data,
            "{}: truncated ({} bytes, expected {})",
            path.display(),
            bytes.len(),
            header + count
        );
    }
    bytes.drain(..header);
    Ok(bytes)
}
