// Guards: the cost of rendering one camera-like view, which `edge-ssl adapt` repeats 40,000 times
// for 5,000 frames × 8 views. At 28×28 (crop + resize from a 64×64 8-bit frame, exposure, blur,
// noise) it must stay a small fraction of the encoder's ~0.1–0.3 ms per image; at 224×224 from a
// 768×576 RGB camera frame it must stay below a MobileNetV3-Small forward pass (~5 ms on 2 cores).
// A regression (an allocation per view, a lost vectorized loop, a libm call per pixel) shows up
// here first. The `_only_*` variants time one stage each on top of crop + resize.
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edge_ssl_train::Rng;
use edge_ssl_train::augment::{AugmentConfig, Augmenter};
use ndarray::Array3;

fn bench_view(
    c: &mut Criterion,
    name: &str,
    frame: (usize, usize, usize),
    out_side: usize,
    config: AugmentConfig,
) {
    let mut rng = Rng::new(1);
    let frame = Array3::from_shape_simple_fn(frame, || rng.below(256) as u8);
    let augmenter = Augmenter::new(config, out_side, out_side, 0).unwrap();
    let mut out = vec![0.0f32; frame.dim().0 * out_side * out_side];
    let mut scratch = Vec::new();
    let mut view = 0u64;
    c.bench_function(name, |b| {
        b.iter(|| {
            view += 1;
            augmenter
                .render(frame.view(), 7, view, &mut out, &mut scratch)
                .unwrap();
            black_box(&out);
        })
    });
}

fn augment(c: &mut Criterion) {
    bench_view(
        c,
        "camera_view_64_to_28",
        (1, 64, 64),
        28,
        AugmentConfig::camera(),
    );
    let camera = (3, 576, 768);
    bench_view(
        c,
        "camera_view_768x576_to_224",
        camera,
        224,
        AugmentConfig::camera(),
    );
    let crop_only = AugmentConfig::camera()
        .with_color(0.0, 0.0, 0.0, (1.0, 1.0))
        .with_blur(0.0, (0.2, 1.2))
        .with_noise(0.0, (0.005, 0.04));
    bench_view(
        c,
        "crop_only_768x576_to_224",
        camera,
        224,
        crop_only.clone(),
    );
    bench_view(
        c,
        "crop_and_color_768x576_to_224",
        camera,
        224,
        crop_only.clone().with_color(1.0, 0.3, 0.3, (0.7, 1.4)),
    );
    bench_view(
        c,
        "crop_and_blur_768x576_to_224",
        camera,
        224,
        crop_only.clone().with_blur(1.0, (0.2, 1.2)),
    );
    bench_view(
        c,
        "crop_and_noise_768x576_to_224",
        camera,
        224,
        crop_only.with_noise(1.0, (0.005, 0.04)),
    );
}

criterion_group!(benches, augment);
criterion_main!(benches);
