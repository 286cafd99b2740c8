// Guards the cost of turning decoded images into an encoder batch (channel conversion, resize,
// normalization, layout): a regression here slows `embed`, `adapt` and `run` on every frame.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use edge_ssl_core::{InputSpec, Layout, Preprocessor, ResizeMode, decode_image, image_files};
use image::DynamicImage;

fn spec() -> InputSpec {
    InputSpec {
        name: "input".into(),
        layout: Layout::Nchw,
        height: 28,
        width: 28,
        channels: 1,
        mean: vec![0.286],
        std: vec![0.353],
        resize: ResizeMode::Stretch,
    }
}

fn bench(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = image_files(&root.join("models/fmnist-ssl/reference/images")).unwrap();
    let gray: Vec<DynamicImage> = files.iter().map(|p| decode_image(p).unwrap()).collect();
    // A camera-sized colour frame: 640x480 RGB must be converted to gray and shrunk to 28x28.
    let camera = DynamicImage::ImageRgb8(image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    }));
    let pre = Preprocessor::new(spec());
    let mut group = c.benchmark_group("preprocess_batch32");
    group.bench_function(BenchmarkId::new("fmnist_28x28_gray", 32), |b| {
        b.iter(|| {
            let units: Vec<_> = (0..32)
                .map(|i| pre.unit_image(&gray[i % gray.len()]))
                .collect();
            pre.batch(&units).unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("camera_640x480_rgb", 32), |b| {
        b.iter(|| {
            let units: Vec<_> = (0..32).map(|_| pre.unit_image(&camera)).collect();
            pre.batch(&units).unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("decode_png_and_batch", 32), |b| {
        b.iter(|| {
            let units: Vec<_> = (0..32)
                .map(|i| pre.unit_image(&decode_image(&files[i % files.len()]).unwrap()))
                .collect();
            pre.batch(&units).unwrap()
        })
    });
    group.finish();
    // `adapt` keeps each camera frame at 1.5x the input's short side: one 768x576 RGB frame
    // shrunk to 448x336, once per frame (twice when the kept frames do not fit memory).
    let frame = DynamicImage::ImageRgb8(image::RgbImage::from_fn(768, 576, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 3 % 256) as u8,
            ((x ^ y) % 256) as u8,
        ])
    }));
    c.bench_function("resize_768x576_rgb_to_448x336", |b| {
        b.iter(|| edge_ssl_core::resize_to_fit(&frame, 448, 336))
    });
    // The same resize as the trainer keeps it: CHW planes.
    c.bench_function("resize_768x576_rgb_to_448x336_chw", |b| {
        b.iter(|| edge_ssl_core::resize_to_fit_chw(&frame, 448, 336))
    });
    // ... and holds each frame as `run` reads it: the decoded 768x576 frame resized once,
    // straight to a 224x224 input.
    let rgb224 = Preprocessor::new(InputSpec {
        height: 224,
        width: 224,
        channels: 3,
        mean: vec![0.5; 3],
        std: vec![0.25; 3],
        ..spec()
    });
    c.bench_function("unit_image_768x576_rgb_to_224x224", |b| {
        b.iter(|| rgb224.unit_image(&frame))
    });
    c.bench_function("unit_image_bytes_768x576_rgb_to_224x224", |b| {
        b.iter(|| rgb224.unit_image_bytes(&frame))
    });
    // Decoding a camera-sized JPEG at full size and at the 1/2 DCT scale.
    let dir = std::env::temp_dir().join(format!("edge-ssl-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jpeg = dir.join("frame.jpg");
    let mut photo = image::RgbImage::new(768, 576);
    for (x, y, p) in photo.enumerate_pixels_mut() {
        let v = ((x as f32 / 23.0).sin() * 60.0 + (y as f32 / 17.0).cos() * 60.0 + 128.0) as u8;
        *p = image::Rgb([v, v.wrapping_add((x / 8) as u8), v / 2 + (y / 4) as u8]);
    }
    photo.save(&jpeg).unwrap();
    for (name, size) in [
        ("decode_768x576_jpeg_full", edge_ssl_core::DecodeSize::Full),
        (
            "decode_768x576_jpeg_half",
            edge_ssl_core::DecodeSize::Fit {
                width: 192,
                height: 192,
            },
        ),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| edge_ssl_core::decode_image_at_least(&jpeg, size).unwrap())
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
