//! Video decoding on the real clips of Debian's `opencv-doc` (see the crate docs for why ffmpeg).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use edge_ssl_source::{
    FrameSource, SourceError, SourceKind, SourceOptions, VideoFile, open_source,
};

const DATA: &str = "/usr/share/doc/opencv-doc/examples/data";

fn clip(name: &str) -> PathBuf {
    let path = Path::new(DATA).join(name);
    assert!(
        path.exists(),
        "{} missing: apt-get install opencv-doc",
        path.display()
    );
    path
}

fn read_all(source: &mut dyn FrameSource) -> Vec<edge_ssl_source::Frame> {
    let mut frames = Vec::new();
    while let Some(frame) = source.next_frame().unwrap() {
        frames.push(frame);
    }
    frames
}

#[test]
fn vtest_decodes_every_frame_at_its_size_with_timestamps() {
    let path = clip("vtest.avi");
    let mut source = open_source(path.to_str().unwrap(), &SourceOptions::default()).unwrap();
    let info = source.info().clone();
    assert_eq!(info.kind, SourceKind::Video);
    assert_eq!((info.width, info.height), (Some(768), Some(576)));
    assert_eq!((info.fps, info.frame_count), (Some(10.0), Some(795)));
    assert_eq!(info.details, "msmpeg4v3");

    let mut n = 0u64;
    let mut first_pixels = None;
    while let Some(frame) = source.next_frame().unwrap() {
        assert_eq!(frame.index, n);
        assert_eq!((frame.image.width(), frame.image.height()), (768, 576));
        assert!((frame.timestamp - n as f64 / 10.0).abs() < 1e-9);
        if n == 0 {
            assert!(frame.origin.ends_with("vtest.avi#0"), "{}", frame.origin);
            first_pixels = Some(frame.image.to_rgb8());
        }
        n += 1;
    }
    assert_eq!(n, 795);
    // A real street scene, not a black or uniform buffer from a mis-sized pipe read.
    let first = first_pixels.unwrap();
    let mean =
        first.as_raw().iter().map(|&v| f64::from(v)).sum::<f64>() / first.as_raw().len() as f64;
    assert!((60.0..200.0).contains(&mean), "mean {mean}");
    assert!(first.as_raw().iter().any(|&v| v < 30) && first.as_raw().iter().any(|&v| v > 220));
    let stats = source.stats();
    assert_eq!((stats.read, stats.kept, stats.decode_errors), (795, 795, 0));
    assert!(stats.warnings.is_empty(), "{:?}", stats.warnings);
    // Ended sources stay ended.
    assert!(source.next_frame().unwrap().is_none());
}

#[test]
fn xvid_and_cinepak_clips_decode_completely() {
    for (name, size) in [("Megamind.avi", (720, 528)), ("tree.avi", (320, 240))] {
        let mut source = VideoFile::open(&clip(name), &SourceOptions::default()).unwrap();
        let frames = read_all(&mut source);
        // Frames fill the timeline at the container rate, so at least every announced frame
        // arrives (tree.avi announces 444 packets, many of them "repeat the last frame").
        let announced = source.info().frame_count.unwrap();
        let n = frames.len() as u64;
        assert!(
            n >= announced && n <= announced + announced / 50,
            "{name}: {n} of {announced}"
        );
        let last = frames.last().unwrap();
        let fps = source.info().fps.unwrap();
        assert!((last.timestamp - (n - 1) as f64 / fps).abs() < 1e-9);
        assert_eq!((frames[0].image.width(), frames[0].image.height()), size);
        assert!(
            source.stats().warnings.is_empty(),
            "{name}: {:?}",
            source.stats().warnings
        );
    }
}

#[test]
fn fps_sampling_keeps_frames_by_timestamp() {
    let path = clip("vtest.avi");
    let options = SourceOptions::default().with_fps(Some(2.5));
    let mut source = open_source(path.to_str().unwrap(), &options).unwrap();
    let indices: Vec<u64> = read_all(&mut *source).iter().map(|f| f.index).collect();
    // 10 fps → 2.5 fps is every 4th frame: 0, 4, …, 792.
    assert_eq!(indices.len(), 199);
    assert!(
        indices
            .iter()
            .enumerate()
            .all(|(i, &idx)| idx == 4 * i as u64)
    );
    let stats = source.stats();
    assert_eq!((stats.read, stats.kept, stats.skipped_fps), (795, 199, 596));
    assert_eq!(
        stats.to_string(),
        "795 read, 199 kept, 596 skipped (fps 596), 0 decode errors"
    );
    let info = source.info().to_string();
    assert!(
        info.ends_with("vtest.avi: video msmpeg4v3, 768x576, 10 fps, 795 frames"),
        "{info}"
    );
}

#[test]
fn dedup_removes_the_repeated_frames_of_a_real_clip() {
    // tree.avi is a Cinepak clip whose timeline is mostly "repeat the previous frame" packets:
    // only 68 of its ~449 frame slots carry a new picture. Exact repeats differ by 0.
    let path = clip("tree.avi");
    let options = SourceOptions::default().with_dedup_threshold(Some(0.5));
    let mut source = open_source(path.to_str().unwrap(), &options).unwrap();
    let frames = read_all(&mut *source);
    let stats = source.stats();
    assert_eq!(stats.kept, frames.len() as u64);
    assert_eq!(
        stats.read,
        stats.kept + stats.skipped_duplicate + stats.skipped_fps
    );
    assert!(stats.read >= 444, "{stats:?}");
    assert!((30..=68).contains(&stats.kept), "{stats:?}");
    // Kept frames are in order and really differ from each other.
    assert!(frames.windows(2).all(|w| w[0].index < w[1].index));
    assert!(frames.windows(2).all(|w| w[0].image != w[1].image));
}

#[test]
fn max_frames_stops_early_and_drop_ends_ffmpeg() {
    let path = clip("vtest.avi");
    let options = SourceOptions::default().with_max_frames(Some(5));
    let started = Instant::now();
    let mut source = open_source(path.to_str().unwrap(), &options).unwrap();
    assert_eq!(read_all(&mut *source).len(), 5);
    assert_eq!(source.stats().read, 5, "nothing is decoded past the limit");
    drop(source);
    // Reading the whole clip through the pipe takes far longer than this in a debug build;
    // a drop that waited for ffmpeg to finish instead of killing it would show here.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn truncated_video_yields_the_frames_before_the_damage_and_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("vtest-truncated.avi");
    let bytes = std::fs::read(clip("vtest.avi")).unwrap();
    std::fs::write(&truncated, &bytes[..3_000_000]).unwrap();

    let mut source = open_source(truncated.to_str().unwrap(), &SourceOptions::default()).unwrap();
    let frames = read_all(&mut *source);
    let stats = source.stats();
    // 3 MB of an 8.1 MB clip: about a third of its 795 frames.
    assert!(
        (200..400).contains(&frames.len()),
        "{} frames",
        frames.len()
    );
    assert_eq!(stats.read, frames.len() as u64);
    assert!(
        stats
            .warnings
            .iter()
            .any(|w| w.contains("of the 795 frames")),
        "{:?}",
        stats.warnings
    );
    // The cut lands mid-packet, and ffmpeg says so.
    assert!(stats.decode_errors > 0, "{stats:?}");
}

#[test]
fn garbage_and_empty_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.avi");
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let noise: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&garbage, noise).unwrap();
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    for path in [garbage, empty] {
        let err = open_source(path.to_str().unwrap(), &SourceOptions::default())
            .err()
            .expect("must not open");
        assert!(matches!(err, SourceError::Video { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains(path.to_str().unwrap()) && message.contains("cannot decode video"),
            "{message}"
        );
    }
}

#[test]
fn missing_ffmpeg_names_the_fix() {
    let options = SourceOptions::default().with_ffmpeg("/nonexistent/bin/ffmpeg");
    let err = VideoFile::open(&clip("tree.avi"), &options)
        .err()
        .expect("must fail");
    assert!(matches!(err, SourceError::FfmpegMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("apt-get install ffmpeg"), "{err}");
}

#[test]
fn missing_path_is_a_clear_error() {
    let err = open_source("/no/such/clip.avi", &SourceOptions::default())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "/no/such/clip.avi: no such file, folder or camera"
    );
}

/// A video stored sideways with a quarter-turn rotation (what a phone writes for a portrait
/// video; here vtest.avi's first frames in MPEG-4, then `rotate=90` set on the stream):
/// ffmpeg hands its frames over turned upright, 576 wide and 768 high, and they are read at that
/// size, pixel for pixel what ffmpeg itself writes as PNG images. Read at the stored 768×576,
/// every frame was a sheared smear of the right bytes.
#[test]
fn a_rotated_video_is_read_upright() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, rotated) = (dir.path().join("plain.mp4"), dir.path().join("rotated.mp4"));
    let ffmpeg = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let clip = clip("vtest.avi");
    ffmpeg(&[
        "-i".as_ref(),
        clip.as_os_str(),
        "-frames:v".as_ref(),
        "3".as_ref(),
        "-c:v".as_ref(),
        "mpeg4".as_ref(),
        plain.as_os_str(),
    ]);
    ffmpeg(&[
        "-i".as_ref(),
        plain.as_os_str(),
        "-c".as_ref(),
        "copy".as_ref(),
        "-metadata:s:v:0".as_ref(),
        "rotate=90".as_ref(),
        rotated.as_os_str(),
    ]);
    let pattern = dir.path().join("upright-%d.png");
    ffmpeg(&[
        "-i".as_ref(),
        rotated.as_os_str(),
        "-pix_fmt".as_ref(),
        "rgb24".as_ref(),
        pattern.as_os_str(),
    ]);

    let mut source = VideoFile::open(&rotated, &SourceOptions::default()).unwrap();
    assert_eq!(
        (source.info().width, source.info().height),
        (Some(576), Some(768))
    );
    let frames = read_all(&mut source);
    assert_eq!(frames.len(), 3);
    for (i, frame) in frames.iter().enumerate() {
        let png = image::open(dir.path().join(format!("upright-{}.png", i + 1)))
            .unwrap()
            .to_rgb8();
        assert_eq!((png.width(), png.height()), (576, 768));
        assert!(
            frame.image.to_rgb8() == png,
            "frame {i} differs from ffmpeg's own"
        );
    }
}
