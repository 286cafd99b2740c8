//! The bounded on-disk frame store, end to end: camera-like source → store → folder source.

use std::fs;

use edge_ssl_source::{FrameSource, FrameStore, SourceOptions, StoreOptions, open_source};
use image::{DynamicImage, Rgb, RgbImage};

const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

#[test]
fn store_keeps_the_most_recent_frames_and_reads_back_as_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("recent");
    let store = StoreOptions::new(&store_dir).with_max_frames(Some(10));
    let options = SourceOptions::default()
        .with_fps(Some(5.0))
        .with_max_frames(Some(30))
        .with_store(Some(store.clone()));
    let mut source = open_source(VTEST, &options).unwrap();
    let mut kept = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        kept.push(frame.image.to_rgb8());
    }
    assert_eq!(kept.len(), 30);
    assert_eq!(source.stats().stored, 30);

    // Only the last 10 survive, named in capture order, and PNG gives them back bit for bit.
    let mut back = open_source(store_dir.to_str().unwrap(), &SourceOptions::default()).unwrap();
    let mut names = Vec::new();
    let mut i = 20;
    while let Some(frame) = back.next_frame().unwrap() {
        names.push(frame.origin.rsplit('/').next().unwrap().to_owned());
        assert!(frame.image.to_rgb8() == kept[i], "stored frame {i} differs");
        i += 1;
    }
    assert_eq!(i, 30);
    assert_eq!(names.first().unwrap(), "000000000020.png");
    assert_eq!(names.last().unwrap(), "000000000029.png");

    // A restarted device appends after the highest number instead of overwriting.
    let mut reopened = FrameStore::open(&store).unwrap();
    assert_eq!(reopened.len(), 10);
    let path = reopened
        .put(&DynamicImage::ImageRgb8(RgbImage::new(8, 8)))
        .unwrap();
    assert!(path.ends_with("000000000030.png"), "{}", path.display());
    assert_eq!(reopened.len(), 10);
    assert!(!store_dir.join("000000000020.png").exists());
}

#[test]
fn byte_cap_evicts_oldest_but_keeps_the_newest_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("README.txt"), b"site A camera history").unwrap();
    // Noise compresses badly, so each PNG is a few KB and the cap is hit after a couple.
    let noisy = |seed: u32| {
        DynamicImage::ImageRgb8(RgbImage::from_fn(48, 48, |x, y| {
            let mut v = (y * 48 + x + 1).wrapping_mul(0x9E37_79B9) ^ seed.wrapping_mul(0x85EB_CA6B);
            v ^= v >> 15;
            v = v.wrapping_mul(0x2C1B_3C6D);
            v ^= v >> 12;
            Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
        }))
    };
    let one = {
        let mut probe = FrameStore::open(&StoreOptions::new(dir.path().join("probe"))).unwrap();
        probe.put(&noisy(0)).unwrap();
        probe.bytes()
    };
    let options = StoreOptions::new(dir.path())
        .with_max_frames(None)
        .with_max_bytes(Some(one * 5 / 2));
    let mut store = FrameStore::open(&options).unwrap();
    for seed in 0..6 {
        store.put(&noisy(seed)).unwrap();
        assert!(store.len() <= 3);
    }
    assert!(
        store.bytes() <= one * 5 / 2 + one / 4,
        "{} > cap",
        store.bytes()
    );
    let newest = store.paths().last().unwrap().to_owned();
    assert!(newest.ends_with("000000000005.png"));
    // The user's file is not ours to evict, and no temporary files are left behind.
    assert!(dir.path().join("README.txt").exists());
    let hidden = fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(hidden, 0);

    // A single frame larger than the cap is still kept: an empty history helps nobody.
    let tiny = StoreOptions::new(dir.path().join("tiny")).with_max_bytes(Some(1));
    let mut tiny = FrameStore::open(&tiny).unwrap();
    tiny.put(&noisy(9)).unwrap();
    tiny.put(&noisy(10)).unwrap();
    assert_eq!(tiny.len(), 1);
}
