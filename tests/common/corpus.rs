//! The bad-input corpus: damaged copies of real files, made the same way on every run.
//!
//! Every case starts from a real file — the bundled encoder, Fashion-MNIST PNGs and a JPEG made
//! from one, the first 256 KiB of OpenCV's `vtest.avi`, a model directory that `adapt` and
//! `head` just wrote — and damages it by truncation, seeded bit flips, deletion or garbage.
//! Truncated, garbage and missing files can never be valid; a bit flip may land where it does
//! not matter (a weight, a pixel), so [`Damage::Flipped`] cases may also be accepted.

use std::path::{Path, PathBuf};

/// How a case was damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// Cut short: never valid.
    Truncated,
    /// Some bits flipped: valid or not, depending on where they landed.
    Flipped,
    /// Replaced by bytes of another format, or emptied: never valid.
    Garbage,
    /// Deleted.
    Missing,
}

impl Damage {
    /// Whether every reader must refuse the case.
    pub fn always_invalid(self) -> bool {
        self != Damage::Flipped
    }
}

/// One damaged input: `path` is what a command is given, `part` the damaged file's name (the
/// name a clear error must mention).
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub path: PathBuf,
    pub part: String,
    pub damage: Damage,
}

/// SplitMix64: a fixed, dependency-free sequence, so the corpus is identical on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `range` (which must not be empty).
    pub fn below(&mut self, range: std::ops::Range<usize>) -> usize {
        range.start + (self.next_u64() % (range.end - range.start) as u64) as usize
    }
}

/// `bytes` with `flips` single bits flipped at seeded positions inside `range`.
pub fn bit_flipped(
    bytes: &[u8],
    seed: u64,
    flips: usize,
    range: std::ops::Range<usize>,
) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = bytes.to_vec();
    for _ in 0..flips {
        let i = rng.below(range.clone());
        out[i] ^= 1 << (rng.next_u64() % 8);
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8], damage: Damage) -> Case {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    Case {
        name: name.into(),
        path,
        part: name.into(),
        damage,
    }
}

/// Bare ONNX files (no card beside them, so the parser sees the damage): truncated at several
/// depths, and bit-flipped in the graph structure at either end of the file.
pub fn onnx_cases(dir: &Path) -> Vec<Case> {
    let good = std::fs::read(super::default_onnx()).unwrap();
    let n = good.len();
    let mut cases: Vec<Case> = [0, 64, n / 2, n - 1]
        .into_iter()
        .map(|len| {
            write(
                dir,
                &format!("cut-{len}.onnx"),
                &good[..len],
                Damage::Truncated,
            )
        })
        .collect();
    for seed in 1..=3 {
        let range = if seed % 2 == 1 { 0..4096 } else { n - 4096..n };
        let bytes = bit_flipped(&good, seed, 8, range);
        cases.push(write(
            dir,
            &format!("flip-{seed}.onnx"),
            &bytes,
            Damage::Flipped,
        ));
    }
    cases
}

/// Damaged PNG and JPEG files made from the reference Fashion-MNIST PNGs.
pub fn image_cases(dir: &Path) -> Vec<Case> {
    let png = std::fs::read(super::reference_dir().join("images/00-boot.png")).unwrap();
    let mut jpeg = Vec::new();
    image::open(super::reference_dir().join("images/01-pullover.png"))
        .unwrap()
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    vec![
        write(dir, "cut.png", &png[..png.len() / 2], Damage::Truncated),
        write(dir, "empty.png", b"", Damage::Garbage),
        write(dir, "cut.jpg", &jpeg[..jpeg.len() / 3], Damage::Truncated),
        write(dir, "text.jpg", b"this is not a JPEG", Damage::Garbage),
        write(
            dir,
            "flip.png",
            &bit_flipped(&png, 7, 4, 33..png.len()),
            Damage::Flipped,
        ),
        write(
            dir,
            "flip.jpg",
            &bit_flipped(&jpeg, 8, 4, 2..jpeg.len()),
            Damage::Flipped,
        ),
    ]
}

/// The real video the corpus cuts from (installed by scripts/setup.sh).
pub const VIDEO: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

/// The first 256 KiB of `vtest.avi` (about ten frames, the container header announcing them
/// all), and damaged copies of it. None when the video is not installed.
pub fn video_cases(dir: &Path) -> Option<Vec<Case>> {
    let all = std::fs::read(VIDEO).ok()?;
    let part = &all[..256 * 1024];
    let mut header_broken = part.to_vec();
    for i in (0..4).chain(8..12) {
        header_broken[i] ^= 0xff; // "RIFF" and "AVI ": no longer an AVI file
    }
    Some(vec![
        write(dir, "empty.avi", b"", Damage::Garbage),
        write(dir, "header-only.avi", &part[..2048], Damage::Truncated),
        write(dir, "not-riff.avi", &header_broken, Damage::Garbage),
        write(dir, "cut.avi", &part[..100 * 1024], Damage::Truncated),
        write(
            dir,
            "flip.avi",
            &bit_flipped(part, 9, 50, 4096..part.len()),
            Damage::Flipped,
        ),
    ])
}

/// Copies of the model directory `good` (from `adapt` then `head`), each with one part damaged.
pub fn model_dir_cases(good: &Path, dir: &Path) -> Vec<Case> {
    const CARD: &str = "edge-ssl.toml";
    const ENCODER: &str = "encoder.onnx";
    const ADAPTER: &str = "adapter.safetensors";
    const HEAD: &str = "head.safetensors";
    let read = |part: &str| std::fs::read(good.join(part)).unwrap();
    // A safetensors file opens with its header length (u64 LE) and a JSON header.
    let header = |bytes: &[u8]| 8..8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let (card, adapter, head) = (read(CARD), read(ADAPTER), read(HEAD));
    // Cut inside the quoted sha256, so what is left is never valid TOML: a cut that happened to
    // fall between two lines could leave a shorter card that still parses (its length, and so
    // its middle, depends on the paths recorded in it).
    let mid_string = card.windows(10).position(|w| w == b"sha256 = \"").unwrap() + 20;
    let edits: Vec<(&str, &str, Option<Vec<u8>>, Damage)> = vec![
        (
            "card-garbage",
            CARD,
            Some(b"garbage [[[ = \"".to_vec()),
            Damage::Garbage,
        ),
        (
            "card-cut",
            CARD,
            Some(card[..mid_string].to_vec()),
            Damage::Truncated,
        ),
        ("card-empty", CARD, Some(Vec::new()), Damage::Garbage),
        ("encoder-missing", ENCODER, None, Damage::Missing),
        (
            "encoder-cut",
            ENCODER,
            Some(read(ENCODER)[..1000].to_vec()),
            Damage::Truncated,
        ),
        ("adapter-missing", ADAPTER, None, Damage::Missing),
        (
            "adapter-cut",
            ADAPTER,
            Some(adapter[..100].to_vec()),
            Damage::Truncated,
        ),
        (
            "adapter-flip-header",
            ADAPTER,
            Some(bit_flipped(&adapter, 3, 2, header(&adapter))),
            Damage::Flipped,
        ),
        (
            "adapter-flip-weights",
            ADAPTER,
            Some(bit_flipped(
                &adapter,
                4,
                2,
                header(&adapter).end..adapter.len(),
            )),
            Damage::Flipped,
        ),
        ("head-missing", HEAD, None, Damage::Missing),
        (
            "head-cut",
            HEAD,
            Some(head[..head.len() / 2].to_vec()),
            Damage::Truncated,
        ),
        (
            "head-flip-header",
            HEAD,
            Some(bit_flipped(&head, 5, 2, header(&head))),
            Damage::Flipped,
        ),
        (
            "head-flip-weights",
            HEAD,
            Some(bit_flipped(&head, 6, 1, header(&head).end..head.len())),
            Damage::Flipped,
        ),
    ];
    edits
        .into_iter()
        .map(|(name, part, bytes, damage)| {
            let path = dir.join(name);
            super::copy_dir(good, &path);
            match bytes {
                Some(b) => std::fs::write(path.join(part), b).unwrap(),
                None => std::fs::remove_file(path.join(part)).unwrap(),
            }
            Case {
                name: name.into(),
                path,
                part: part.into(),
                damage,
            }
        })
        .collect()
}
