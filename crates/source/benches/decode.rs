// Guards decoding throughput: frames/s reading vtest.avi through the ffmpeg pipe (a regression in
// pipe reads, per-frame allocation or ffmpeg arguments — say a lost `-map`, or a scaler inserted
// by accident — shows as a drop here), and the per-frame cost of the camera conversions
// (YUYV→RGB, MJPEG with spliced Huffman tables) at VGA, the size `run --source /dev/video0` uses.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edge_ssl_core::DecodeSize;
use edge_ssl_source::{FrameSource, SourceOptions, VideoFile, decode_mjpeg, yuyv_to_rgb};
use image::codecs::jpeg::JpegEncoder;

const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
const FRAMES: u64 = 795; // the whole clip, so ffprobe and process start-up are amortized as in a real run

fn video(c: &mut Criterion) {
    let mut group = c.benchmark_group("video");
    group.sample_size(10);
    group.throughput(Throughput::Elements(FRAMES));
    group.bench_function("vtest_768x576_whole_clip", |b| {
        b.iter(|| {
            let mut source = VideoFile::open(Path::new(VTEST), &SourceOptions::default()).unwrap();
            for _ in 0..FRAMES {
                std::hint::black_box(source.next_frame().unwrap().unwrap());
            }
        })
    });
    group.finish();
}

fn camera_formats(c: &mut Criterion) {
    // A real frame, so the JPEG has real entropy; resized to VGA.
    let mut source = VideoFile::open(Path::new(VTEST), &SourceOptions::default()).unwrap();
    let frame = source.next_frame().unwrap().unwrap().image;
    let vga = frame
        .resize_exact(640, 480, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&vga)
        .unwrap();
    let dht = jpeg.windows(2).position(|w| w == [0xFF, 0xC4]).unwrap();
    let mut abbreviated = jpeg[..dht].to_vec();
    // Drop every DHT segment, as a camera that relies on the default tables would.
    let mut pos = dht;
    while jpeg[pos..].starts_with(&[0xFF, 0xC4]) {
        pos += 2 + usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
    }
    abbreviated.extend_from_slice(&jpeg[pos..]);
    let yuyv: Vec<u8> = vga
        .as_raw()
        .chunks_exact(6)
        .flat_map(|p| [p[1], 128, p[4], 128])
        .collect();

    let mut group = c.benchmark_group("camera_vga");
    group.throughput(Throughput::Elements(1));
    group.bench_function("yuyv_to_rgb", |b| {
        b.iter(|| yuyv_to_rgb(std::hint::black_box(&yuyv), 640, 480, 1280).unwrap())
    });
    group.bench_function("mjpeg_without_dht", |b| {
        b.iter(|| decode_mjpeg(std::hint::black_box(&abbreviated), DecodeSize::Full).unwrap())
    });
    group.finish();
}

criterion_group!(benches, video, camera_formats);
criterion_main!(benches);
