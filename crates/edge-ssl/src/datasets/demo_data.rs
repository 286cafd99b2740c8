//! The demo's data on disk, from the Fashion-MNIST test split (10,000 images): a seeded
//! permutation gives 10 labeled images per class, then 5,000 unlabeled frames, then the rest
//! for evaluation. Each is written twice — as a shifted camera shot (JPEG, 64×64 RGB) and as
//! the clean original (PNG, 28×28 gray) for the in-domain check.
//!
//! ```text
//! DIR/shifted/{unlabeled/, labeled/<class>/, eval/<class>/}   *.jpg
//! DIR/clean/{labeled/<class>/, eval/<class>/}                   *.png
//! ```

use std::path::{Path, PathBuf};

use crate::error::Context;
use edge_ssl_core::write_atomic;
use edge_ssl_train::Rng;

use super::{fmnist, shifted_domain};
use crate::progress::Progress;

/// Sizes of the three parts.
#[derive(Clone, Copy, Debug)]
pub struct Split {
    pub labeled_per_class: usize,
    pub unlabeled: usize,
    /// Cap on evaluation images (`usize::MAX`: all the rest).
    pub eval: usize,
}

impl Default for Split {
    fn default() -> Self {
        Split {
            labeled_per_class: 10,
            unlabeled: 5000,
            eval: usize::MAX,
        }
    }
}

/// The folders the demo reads.
pub struct DemoData {
    pub shifted_unlabeled: PathBuf,
    pub shifted_labeled: PathBuf,
    pub shifted_eval: PathBuf,
    pub clean_labeled: PathBuf,
    pub clean_eval: PathBuf,
}

impl DemoData {
    pub fn at(dir: &Path) -> Self {
        DemoData {
            shifted_unlabeled: dir.join("shifted/unlabeled"),
            shifted_labeled: dir.join("shifted/labeled"),
            shifted_eval: dir.join("shifted/eval"),
            clean_labeled: dir.join("clean/labeled"),
            clean_eval: dir.join("clean/eval"),
        }
    }
}

/// Writes the data set into `dir` unless a complete one with the same recipe is there
/// (`.complete` is written last and names the recipe).
pub fn make(
    fmnist_dir: &Path,
    dir: &Path,
    seed: u64,
    split: Split,
    progress: &Progress,
) -> crate::Result<DemoData> {
    let stamp = dir.join(".complete");
    let recipe = format!("shifted-fmnist v1 seed {seed} {split:?}\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == recipe) {
        return Ok(DemoData::at(dir));
    }
    let test = fmnist::load(fmnist_dir, "t10k")?;
    for sub in ["shifted", "clean"] {
        let p = dir.join(sub);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("clearing {}", p.display()))?;
        }
    }
    let order = Rng::stream(seed, &[0xda7a]).permutation(test.labels.len());
    let mut taken = [0usize; 10];
    let (mut unlabeled, mut evaluated) = (0usize, 0usize);
    let mut phase = progress.phase("data", Some(order.len() as u64));
    for &i in &order {
        phase.advance(1)?;
        let label = test.labels[i] as usize;
        let class = fmnist::CLASS_NAMES[label];
        let part = if taken[label] < split.labeled_per_class {
            taken[label] += 1;
            "labeled"
        } else if unlabeled < split.unlabeled {
            unlabeled += 1;
            "unlabeled"
        } else if evaluated < split.eval {
            evaluated += 1;
            "eval"
        } else {
            continue;
        };
        let name = format!("{i:05}");
        let shot = shifted_domain::render(&test.images[i], seed, i as u64);
        let shifted = match part {
            "unlabeled" => dir.join("shifted/unlabeled").join(format!("{name}.jpg")),
            _ => dir
                .join("shifted")
                .join(part)
                .join(class)
                .join(format!("{name}.jpg")),
        };
        write_file(&shifted, &shifted_domain::jpeg_bytes(&shot)?)?;
        if part != "unlabeled" {
            let clean =
                image::GrayImage::from_raw(28, 28, test.images[i].to_vec()).context("28×28")?;
            let mut png = Vec::new();
            clean.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
            write_file(
                &dir.join("clean")
                    .join(part)
                    .join(class)
                    .join(format!("{name}.png")),
                &png,
            )?;
        }
    }
    phase.finish();
    write_atomic(&stamp, |w| w.write_all(recipe.as_bytes()))?;
    Ok(DemoData::at(dir))
}

fn write_file(path: &Path, bytes: &[u8]) -> crate::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
