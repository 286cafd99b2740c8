// Guards the per-frame cost of the wire protocol: encoding a Prediction and decoding a stream of
// frames byte by byte. On a Cortex-M4 at 30 fps this is the loop the firmware runs for every frame,
// so a regression here (an accidental copy, a per-byte branch gone slow) is a regression on the MCU.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edge_ssl_link::{
    CHUNK_LEN, Decoder, FrameChunk, MAX_FRAME_LEN, Message, Novelty, Prediction, encode,
};
use std::hint::black_box;

/// A typical frame's Prediction, novelty score included (the usual case since version 2).
fn prediction() -> Message {
    let novelty = Novelty {
        score: 0.4217,
        novel: false,
    };
    Message::Prediction(
        Prediction::new(123_456, 98_765, 7, "Ankle boot", 0.8734, 14_250)
            .with_novelty(Some(novelty)),
    )
}

fn chunk() -> Message {
    let data = heapless::Vec::from_slice(&[0xA5; CHUNK_LEN]).unwrap();
    Message::FrameChunk(FrameChunk {
        seq: 1,
        frame: 2,
        offset: 0,
        total: 4096,
        data,
    })
}

fn stream(message: &Message, count: usize) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME_LEN];
    let n = encode(message, &mut buf).unwrap();
    buf[..n].repeat(count)
}

fn bench_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (name, message) in [("prediction", prediction()), ("frame_chunk", chunk())] {
        let mut buf = [0u8; MAX_FRAME_LEN];
        group.bench_function(name, |b| {
            b.iter(|| encode(black_box(&message), &mut buf).unwrap())
        });
    }
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, message) in [("prediction", prediction()), ("frame_chunk", chunk())] {
        let wire = stream(&message, 64);
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut decoder: Decoder = Decoder::new();
                decoder.messages(black_box(&wire)).count()
            })
        });
    }
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    group.throughput(Throughput::Bytes(garbage.len() as u64));
    group.bench_function("garbage", |b| {
        b.iter(|| {
            let mut decoder: Decoder = Decoder::new();
            decoder.feed(black_box(&garbage)).count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_encode, bench_decode);
criterion_main!(benches);
