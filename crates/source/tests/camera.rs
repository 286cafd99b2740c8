//! Camera code without a camera: the error paths, and the format conversions on buffers recorded
//! by `fixtures/make_camera_fixtures.sh` (ffmpeg is the independent reference).

use std::path::Path;

use edge_ssl_core::DecodeSize;
use edge_ssl_source::{
    Camera, SourceError, SourceKind, SourceOptions, decode_mjpeg, detect_kind, open_source,
    yuyv_to_rgb,
};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

#[test]
fn a_missing_camera_is_a_clear_error() {
    let err = open_source("/dev/video99", &SourceOptions::default())
        .err()
        .unwrap();
    assert!(matches!(err, SourceError::Camera { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("/dev/video99: no such camera"),
        "{message}"
    );

    // Opening the device directly (no path sniffing first) explains the errno the same way.
    let err = Camera::open(Path::new("/dev/video99"), &SourceOptions::default())
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("is the camera plugged in?"),
        "{err}"
    );
}

#[test]
#[cfg(target_os = "linux")]
fn a_character_device_that_is_not_v4l2_is_rejected() {
    // /dev/null is a character device, so it is taken for a camera, and QUERYCAP says no.
    assert_eq!(detect_kind("/dev/null").unwrap(), SourceKind::Camera);
    let err = open_source("/dev/null", &SourceOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("not a V4L2 device"), "{err}");
}

#[test]
fn yuyv_matches_ffmpegs_conversion_of_a_recorded_frame() {
    let yuyv = fixture("frame.yuyv");
    let reference = fixture("frame.yuyv.rgb");
    let rgb = yuyv_to_rgb(&yuyv, 64, 48, 128).unwrap();
    let diffs: Vec<u8> = rgb
        .as_raw()
        .iter()
        .zip(&reference)
        .map(|(a, b)| a.abs_diff(*b))
        .collect();
    let max = *diffs.iter().max().unwrap();
    let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
    // swscale's fixed-point rounding differs from ours by a level or two; a swapped channel,
    // swapped U/V or a missing range expansion would differ by tens.
    assert!(max <= 3 && mean < 2.0, "max {max}, mean {mean}");
}

#[test]
fn mjpeg_without_huffman_tables_decodes_like_the_full_jpeg() {
    let full = fixture("frame.mjpeg");
    let reference = decode_mjpeg(&full, DecodeSize::Full).unwrap().to_rgb8();
    assert_eq!(reference.dimensions(), (160, 120));

    // Cut the DHT segment out, as many UVC cameras send their frames.
    let dht = full
        .windows(2)
        .position(|w| w == [0xFF, 0xC4])
        .expect("fixture has a DHT");
    let len = usize::from(u16::from_be_bytes([full[dht + 2], full[dht + 3]]));
    let abbreviated = [&full[..dht], &full[dht + 2 + len..]].concat();
    assert!(
        image::load_from_memory(&abbreviated).is_err(),
        "a plain decoder must need the tables"
    );
    let decoded = decode_mjpeg(&abbreviated, DecodeSize::Full)
        .unwrap()
        .to_rgb8();
    assert!(decoded == reference);
}

/// A frame larger than the model needs is decoded reduced, tables spliced in or not: the 160×120
/// fixture for a 28×28 input at 1/2 (80×60 still covers 56×56), and after the resize to the
/// input it is within a level or two of the full decode's.
#[test]
fn mjpeg_frames_are_decoded_no_larger_than_the_input_needs() {
    let full = fixture("frame.mjpeg");
    let dht = full.windows(2).position(|w| w == [0xFF, 0xC4]).unwrap();
    let len = usize::from(u16::from_be_bytes([full[dht + 2], full[dht + 3]]));
    let abbreviated = [&full[..dht], &full[dht + 2 + len..]].concat();
    let size = DecodeSize::Cover {
        width: 28,
        height: 28,
    };
    let resized = |img: image::DynamicImage| {
        img.resize_exact(28, 28, image::imageops::FilterType::Triangle)
            .to_rgb8()
    };
    let reference = resized(decode_mjpeg(&full, DecodeSize::Full).unwrap());
    for frame in [&full, &abbreviated] {
        let reduced = decode_mjpeg(frame, size).unwrap();
        assert_eq!((reduced.width(), reduced.height()), (80, 60));
        let reduced = resized(reduced);
        let diffs: Vec<u8> = reduced
            .as_raw()
            .iter()
            .zip(reference.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
        let max = *diffs.iter().max().unwrap();
        assert!(mean < 2.0 && max <= 12, "mean {mean}, max {max}");
    }
}

#[test]
fn damaged_mjpeg_frames_are_errors_not_panics() {
    let full = fixture("frame.mjpeg");
    for cut in [0, 2, 10, 100, full.len() / 2] {
        let _ = decode_mjpeg(&full[..cut], DecodeSize::Full);
    }
    assert!(decode_mjpeg(&full[..100], DecodeSize::Full).is_err());
    assert!(decode_mjpeg(&fixture("frame.yuyv"), DecodeSize::Full).is_err());
}
