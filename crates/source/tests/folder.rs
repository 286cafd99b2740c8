//! Image folders: deterministic order, dedup of repeated frames, skipped files.

use std::fs;
use std::path::{Path, PathBuf};

use edge_ssl_source::{
    FrameSource, Frames, ImageFolder, SourceError, SourceKind, SourceOptions, open_source,
};

const DATA: &str = "/usr/share/doc/opencv-doc/examples/data";

fn photo(name: &str) -> PathBuf {
    let path = Path::new(DATA).join(name);
    assert!(
        path.exists(),
        "{} missing: apt-get install opencv-doc",
        path.display()
    );
    path
}

fn origins(source: &mut dyn FrameSource, root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        let rel = Path::new(&frame.origin).strip_prefix(root).unwrap();
        out.push(rel.to_string_lossy().into_owned());
    }
    out
}

#[test]
fn folder_order_is_recursive_sorted_and_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("day2/cam")).unwrap();
    fs::create_dir_all(root.join("day1")).unwrap();
    // Created in an order unlike the sorted one, so a listing that followed creation or inode
    // order would fail.
    for (name, src) in [
        ("day2/cam/b.jpg", "fruits.jpg"),
        ("day1/z.png", "smarties.png"),
        ("day2/a.jpg", "baboon.jpg"),
        ("day1/a.jpg", "home.jpg"),
    ] {
        fs::copy(photo(src), root.join(name)).unwrap();
    }
    let expected = ["day1/a.jpg", "day1/z.png", "day2/a.jpg", "day2/cam/b.jpg"];
    for _ in 0..2 {
        let mut source = open_source(root.to_str().unwrap(), &SourceOptions::default()).unwrap();
        assert_eq!(source.info().kind, SourceKind::Images);
        assert_eq!(source.info().frame_count, Some(4));
        assert_eq!(origins(&mut *source, root), expected);
    }
}

#[test]
fn repeated_identical_frames_are_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A static camera: the same view three times, a change, then the changed view twice.
    let scenes = [
        "fruits.jpg",
        "fruits.jpg",
        "fruits.jpg",
        "baboon.jpg",
        "baboon.jpg",
        "fruits.jpg",
    ];
    for (i, scene) in scenes.iter().enumerate() {
        fs::copy(photo(scene), root.join(format!("{i:02}.jpg"))).unwrap();
    }
    let options = SourceOptions::default().with_dedup_threshold(Some(2.0));
    let mut source = open_source(root.to_str().unwrap(), &options).unwrap();
    assert_eq!(origins(&mut *source, root), ["00.jpg", "03.jpg", "05.jpg"]);
    let stats = source.stats();
    assert_eq!((stats.read, stats.kept, stats.skipped_duplicate), (6, 3, 3));

    // Without the option every frame is kept: the test above is not passing by accident.
    let mut all = open_source(root.to_str().unwrap(), &SourceOptions::default()).unwrap();
    assert_eq!(origins(&mut *all, root).len(), 6);
}

#[test]
fn undecodable_files_are_skipped_and_counted_or_fatal_when_strict() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::copy(photo("fruits.jpg"), root.join("a.jpg")).unwrap();
    fs::write(root.join("b.jpg"), b"not really a jpeg").unwrap();
    fs::write(root.join("notes.txt"), b"camera 3, north door").unwrap();
    fs::copy(photo("baboon.jpg"), root.join("c.jpg")).unwrap();

    let mut source = ImageFolder::open(root, &SourceOptions::default()).unwrap();
    assert_eq!(origins(&mut source, root), ["a.jpg", "c.jpg"]);
    let stats = source.stats();
    assert_eq!(
        (stats.read, stats.decode_errors, stats.warnings.len()),
        (2, 2, 2)
    );
    assert!(stats.warnings[0].contains("b.jpg"), "{:?}", stats.warnings);
    // Indices are positions in the listing, so a skipped file leaves a gap rather than a shift.
    let mut again = ImageFolder::open(root, &SourceOptions::default()).unwrap();
    again.next_frame().unwrap();
    assert_eq!(again.next_frame().unwrap().unwrap().index, 2);

    let mut strict = ImageFolder::open(root, &SourceOptions::default().with_strict(true)).unwrap();
    strict.next_frame().unwrap();
    let err = strict.next_frame().unwrap_err();
    assert!(err.to_string().contains("b.jpg"), "{err}");
}

#[test]
fn a_folder_where_nothing_decodes_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.jpg"), b"junk").unwrap();
    let mut source = ImageFolder::open(dir.path(), &SourceOptions::default()).unwrap();
    let err = source.next_frame().unwrap_err();
    assert!(matches!(err, SourceError::Empty { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("none of the 1 file(s) is a decodable image (first: "),
        "{err}"
    );

    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        ImageFolder::open(empty.path(), &SourceOptions::default()),
        Err(SourceError::Empty { .. })
    ));
}

#[test]
fn single_image_file_and_fps_on_a_folder() {
    let one = photo("fruits.jpg");
    let mut source = open_source(one.to_str().unwrap(), &SourceOptions::default()).unwrap();
    assert_eq!(source.info().kind, SourceKind::Images);
    let frames: Vec<_> = Frames::new(&mut *source).collect::<Result<_, _>>().unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].origin, one.to_str().unwrap());
    assert!(source.next_frame().unwrap().is_none());

    // A folder has no clock: at the default 1 image/s, fps 0.5 keeps every second image.
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5 {
        fs::copy(&one, dir.path().join(format!("{i}.jpg"))).unwrap();
    }
    let options = SourceOptions::default().with_fps(Some(0.5));
    let mut source = open_source(dir.path().to_str().unwrap(), &options).unwrap();
    assert_eq!(
        origins(&mut *source, dir.path()),
        ["0.jpg", "2.jpg", "4.jpg"]
    );
    assert_eq!(source.stats().skipped_fps, 2);
}

#[test]
fn invalid_options_are_rejected_before_opening() {
    let dir = tempfile::tempdir().unwrap();
    for options in [
        SourceOptions::default().with_fps(Some(0.0)),
        SourceOptions::default().with_fps(Some(f64::NAN)),
        SourceOptions::default().with_dedup_threshold(Some(-1.0)),
        SourceOptions::default().with_max_frames(Some(0)),
    ] {
        let err = open_source(dir.path().to_str().unwrap(), &options)
            .err()
            .unwrap();
        assert!(matches!(err, SourceError::Option(_)), "{err:?}");
    }
}
