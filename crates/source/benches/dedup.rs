// Guards the per-frame cost of near-duplicate detection (16×16 area-averaged thumbnail + mean
// absolute difference) on a 768×576 frame: it runs on every frame a static camera delivers, so it
// must stay a small fraction of decoding; a regression to per-pixel float math or an extra image
// conversion shows here first.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edge_ssl_source::{Dedup, FrameSource, SourceOptions, Thumbnail, VideoFile};

const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

fn dedup(c: &mut Criterion) {
    let mut source = VideoFile::open(Path::new(VTEST), &SourceOptions::default()).unwrap();
    let a = source.next_frame().unwrap().unwrap().image;
    let b = source.next_frame().unwrap().unwrap().image;
    let mut group = c.benchmark_group("dedup_768x576");
    group.throughput(Throughput::Elements(1));
    group.bench_function("thumbnail", |bench| {
        bench.iter(|| Thumbnail::of(std::hint::black_box(&a)))
    });
    group.bench_function("is_duplicate", |bench| {
        let mut dedup = Dedup::new(3.0);
        let mut flip = false;
        bench.iter(|| {
            flip = !flip;
            dedup.is_duplicate(std::hint::black_box(if flip { &a } else { &b }))
        })
    });
    group.finish();
}

criterion_group!(benches, dedup);
criterion_main!(benches);
