//! Keeps the hex examples in `docs/link-protocol.md` true: they are generated here from the real
//! encoder, and this test fails when the document disagrees with the code.
//! The same frames seed the decoder's fuzzer (`fuzz/seeds/decoder/`), so it starts past the CRC
//! with messages of this version. Regenerate both with
//! `UPDATE_DOCS=1 cargo test -p edge-ssl-link --test protocol_doc`.

use std::fmt::Write;
use std::path::PathBuf;

use edge_ssl_link::*;

const BEGIN: &str = "<!-- BEGIN GENERATED EXAMPLES (crates/link/tests/protocol_doc.rs) -->";
const END: &str = "<!-- END GENERATED EXAMPLES -->";

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn example(out: &mut String, title: &str, message: &Message) {
    example_at(out, title, message, PROTOCOL_VERSION);
}

/// An example whose payload opens with `version` (another version's Hello).
fn example_at(out: &mut String, title: &str, message: &Message, version: u8) {
    let mut payload = [0u8; MAX_PAYLOAD];
    let len = encode_payload(message, &mut payload).unwrap();
    payload[0] = version;
    let payload = &payload[..len];
    let crc = crc32(payload);
    let mut frame = [0u8; MAX_FRAME_LEN];
    let n = encode_raw(payload, &mut frame).unwrap();
    writeln!(out, "### {title}\n").unwrap();
    writeln!(out, "```text").unwrap();
    writeln!(out, "message : {message:?}").unwrap();
    writeln!(out, "payload : {}  ({len} bytes)", hex(payload)).unwrap();
    writeln!(out, "crc32   : 0x{crc:08x} -> {}", hex(&crc.to_le_bytes())).unwrap();
    writeln!(out, "frame   : {}  ({n} bytes)", hex(&frame[..n])).unwrap();
    writeln!(out, "```\n").unwrap();
}

fn generated() -> String {
    let mut out = String::new();
    example(
        &mut out,
        "Hello from the host",
        &Message::Hello(Hello::new(Role::Host, "edge-ssl", MAX_PAYLOAD as u16)),
    );
    example(
        &mut out,
        "Hello from a device",
        &Message::Hello(Hello::new(Role::Device, "stm32", 64)),
    );
    example(
        &mut out,
        "Prediction (seq 7, frame 42, class 9 \"Ankle boot\", 91 %, 12.5 ms, no novelty model)",
        &Message::Prediction(Prediction::new(7, 42, 9, "Ankle boot", 0.91, 12_500)),
    );
    example(
        &mut out,
        "Prediction with seq 300 (a two-byte varint)",
        &Message::Prediction(Prediction::new(300, 300, 0, "T-shirt", 1.0, 0)),
    );
    example(
        &mut out,
        "Prediction with novelty (score 3.25, above the threshold: novel)",
        &Message::Prediction(
            Prediction::new(8, 43, 9, "Ankle boot", 0.55, 12_500).with_novelty(Some(Novelty {
                score: 3.25,
                novel: true,
            })),
        ),
    );
    example(&mut out, "Ack of seq 7", &Message::Ack { seq: 7 });
    example(
        &mut out,
        "Ack of seq 0 (COBS removes the 0x00 in the payload)",
        &Message::Ack { seq: 0 },
    );
    example(
        &mut out,
        "Status",
        &Message::Status(Status {
            seq: 8,
            uptime_ms: 60_000,
            frames: 1800,
            fps: 29.5,
            dropped: 2,
        }),
    );
    example(
        &mut out,
        "FrameChunk (first 4 bytes of a 1000-byte JPEG)",
        &Message::FrameChunk(FrameChunk {
            seq: 9,
            frame: 42,
            offset: 0,
            total: 1000,
            data: heapless::Vec::from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap(),
        }),
    );
    example(
        &mut out,
        "Error BadFrame from the device",
        &Message::Error {
            seq: 0,
            code: ErrorCode::BadFrame as u16,
        },
    );
    let mut v1 = Hello::new(Role::Device, "stm32", 64);
    v1.protocol = 1;
    example_at(
        &mut out,
        "Hello from a version-1 device (every version reads it, and refuses the device)",
        &Message::Hello(v1),
        1,
    );
    writeln!(out, "Limits of this version: MAX_PAYLOAD = {MAX_PAYLOAD}, MAX_ENCODED_LEN = {MAX_ENCODED_LEN}, MAX_FRAME_LEN = {MAX_FRAME_LEN}, CLASS_NAME_LEN = {CLASS_NAME_LEN}, PEER_NAME_LEN = {PEER_NAME_LEN}, CHUNK_LEN = {CHUNK_LEN}.").unwrap();
    out
}

#[test]
fn protocol_doc_examples_match_the_encoder() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/link-protocol.md");
    let doc = std::fs::read_to_string(&path).expect("docs/link-protocol.md exists");
    let (Some(start), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("{} lacks the generated-examples markers", path.display());
    };
    let current = &doc[start + BEGIN.len()..end];
    let want = format!("\n\n{}\n", generated());
    if current == want {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!("{}{BEGIN}{want}{}", &doc[..start], &doc[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!("docs/link-protocol.md examples are stale; rerun with UPDATE_DOCS=1. Expected:\n{want}");
}

/// The wire bytes of every generated example, in order.
fn documented_frames() -> Vec<Vec<u8>> {
    generated()
        .lines()
        .filter_map(|l| l.strip_prefix("frame   : "))
        .map(|line| {
            let hex_part = line.split("  (").next().unwrap();
            hex_part
                .split(' ')
                .map(|h| u8::from_str_radix(h, 16).unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn every_documented_frame_decodes() {
    // The examples above go through the same decoder a device runs.
    let frames = documented_frames();
    let mut decoder: Decoder = Decoder::new();
    for bytes in &frames {
        assert!(
            matches!(decoder.feed(bytes).collect::<Vec<_>>().as_slice(), [Ok(_)]),
            "{bytes:02x?}"
        );
    }
    assert_eq!(frames.len(), 11);
}

/// The fuzz seeds: each input's first byte is the fuzz target's read size, then frames.
fn fuzz_seeds() -> Vec<(String, Vec<u8>)> {
    let frames = documented_frames();
    let mut seeds: Vec<(String, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .map(|(n, f)| (format!("doc-example-{n}"), [&[7u8][..], f].concat()))
        .collect();
    seeds.push((
        "all-examples".into(),
        [vec![13u8], frames.concat()].concat(),
    ));
    let noise = [3u8, 0x11, 0x22, 0x33, 0x00, 0x05, 0xFF];
    seeds.push(("noise-then-frame".into(), [&noise[..], &frames[2]].concat()));
    seeds
}

#[test]
fn fuzz_seeds_are_the_documented_frames() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/decoder");
    let update = std::env::var_os("UPDATE_DOCS").is_some();
    for (name, bytes) in fuzz_seeds() {
        let path = dir.join(&name);
        if update {
            std::fs::write(&path, &bytes).unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap_or_default();
        assert_eq!(
            on_disk,
            bytes,
            "{} is stale; rerun with UPDATE_DOCS=1",
            path.display()
        );
    }
}
