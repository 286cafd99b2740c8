//! The link's share of the bad-input corpus: damaged frames, each between two good ones, fed to
//! the decoder as one byte stream. Every damaged frame is dropped and counted under the reason
//! it deserves, and the good frame after it still decodes (the decoder resynchronises on the
//! next 0x00). Seeded bit flips and truncations come from a fixed generator, so the stream is
//! the same on every run.

use edge_ssl_link::*;

fn prediction(seq: u32) -> Message {
    Message::Prediction(Prediction::new(seq, seq * 3, 4, "sneaker", 0.75, 1234))
}

fn frame(message: &Message) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME_LEN];
    let n = encode(message, &mut out).unwrap();
    out[..n].to_vec()
}

fn raw_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME_LEN];
    let n = encode_raw(payload, &mut out).unwrap();
    out[..n].to_vec()
}

/// COBS(`body`) 0x00 with no CRC added: lets a case carry a wrong one.
fn cobs_frame(body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; cobs::max_encoded_len(body.len()) + 1];
    let n = cobs::encode(body, &mut out).unwrap();
    out.truncate(n);
    out.push(0);
    out
}

/// SplitMix64, the corpus generator's sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One damaged frame and the reason it must be dropped for (`None`: any reason).
struct Case {
    name: String,
    bytes: Vec<u8>,
    reason: Option<DropReason>,
}

fn corpus() -> Vec<Case> {
    let good = frame(&prediction(7));
    let payload = {
        let mut p = [0u8; MAX_PAYLOAD];
        let n = encode_payload(&prediction(7), &mut p).unwrap();
        p[..n].to_vec()
    };
    let case = |name: &str, bytes: Vec<u8>, reason| Case {
        name: name.into(),
        bytes,
        reason,
    };
    let mut wrong_crc = payload.clone();
    wrong_crc.extend_from_slice(&(crc32(&payload) ^ 1).to_le_bytes());
    let mut cases = vec![
        case(
            "too long",
            vec![0x55; MAX_ENCODED_LEN + 10]
                .into_iter()
                .chain([0])
                .collect(),
            Some(DropReason::Overflow),
        ),
        // A COBS code byte promising 0xfe data bytes where three follow.
        case(
            "cobs overrun",
            vec![0xff, 1, 2, 3, 0],
            Some(DropReason::Cobs),
        ),
        case(
            "shorter than a CRC",
            vec![3, 1, 2, 0],
            Some(DropReason::Crc),
        ),
        case("wrong crc", cobs_frame(&wrong_crc), Some(DropReason::Crc)),
        case("empty payload", raw_frame(&[]), Some(DropReason::Version)),
        case(
            "future version",
            raw_frame(&[PROTOCOL_VERSION + 1, 1, 2, 3]),
            Some(DropReason::Version),
        ),
        case(
            "unknown message tag",
            raw_frame(&[PROTOCOL_VERSION, 0xff, 1]),
            Some(DropReason::Postcard),
        ),
        case(
            "trailing bytes",
            raw_frame(&[&payload[..], &[9, 9]].concat()),
            Some(DropReason::Postcard),
        ),
        case(
            "payload cut short",
            raw_frame(&payload[..payload.len() - 3]),
            Some(DropReason::Postcard),
        ),
    ];
    let mut rng = Rng(0x5eed);
    for i in 0..8 {
        // Any bit of the frame but its delimiter; a flip to 0x00 splits it in two, both bad.
        let mut bytes = good.clone();
        let at = (rng.next() % (bytes.len() as u64 - 1)) as usize;
        bytes[at] ^= 1 << (rng.next() % 8);
        cases.push(case(&format!("bit flip {i} at {at}"), bytes, None));
    }
    for _ in 0..4 {
        // The tail of a frame lost, delimiter included: it runs into the next good frame,
        // which is lost with it; the one after must decode.
        let keep = 1 + (rng.next() % (good.len() as u64 - 2)) as usize;
        let bytes = [&good[..keep], &good[..]].concat();
        cases.push(case(&format!("cut at {keep}"), bytes, None));
    }
    cases
}

#[test]
fn every_damaged_frame_is_dropped_counted_and_survived() {
    let good = frame(&prediction(7));
    for case in corpus() {
        let mut decoder: Decoder = Decoder::new();
        let stream = [&good[..], &case.bytes, &good[..]].concat();
        let results: Vec<_> = decoder.feed(&stream).collect();
        let stats = decoder.stats();
        let (first, last) = (results.first().unwrap(), results.last().unwrap());
        assert_eq!(first.as_ref(), Ok(&prediction(7)), "{}", case.name);
        assert_eq!(
            last.as_ref(),
            Ok(&prediction(7)),
            "{}: no resync",
            case.name
        );
        let damaged = &results[1..results.len() - 1];
        assert!(!damaged.is_empty(), "{}: nothing was dropped", case.name);
        assert!(
            damaged.iter().all(|r| r.is_err()),
            "{}: damaged bytes decoded: {damaged:?}",
            case.name
        );
        assert_eq!(stats.frames, 2, "{}", case.name);
        assert_eq!(
            stats.dropped.total() as usize,
            damaged.len(),
            "{}",
            case.name
        );
        if let Some(reason) = case.reason {
            assert_eq!(damaged, &[Err(reason)], "{}", case.name);
            let mut want = DropCounts::default();
            want.record(reason);
            assert_eq!(stats.dropped, want, "{}", case.name);
        }
    }
}

#[test]
fn the_whole_corpus_as_one_stream_is_counted_once_per_frame() {
    let good = frame(&prediction(7));
    let cases = corpus();
    let mut stream = Vec::new();
    for case in &cases {
        stream.extend_from_slice(&case.bytes);
        stream.extend_from_slice(&good);
    }
    let mut decoder: Decoder = Decoder::new();
    // Odd-sized reads split frames everywhere, as a serial port does.
    let results: Vec<_> = stream
        .chunks(7)
        .flat_map(|c| decoder.feed(c).collect::<Vec<_>>())
        .collect();
    let stats = decoder.stats();
    assert_eq!(stats.frames + stats.dropped.total(), results.len() as u32);
    // Each case is followed by a good frame, and every one of those decodes.
    assert_eq!(
        stats.frames,
        cases.len() as u32,
        "good frames lost: {stats:?}"
    );
    let mut want = DropCounts::default();
    for reason in cases.iter().filter_map(|c| c.reason) {
        want.record(reason);
    }
    let d = stats.dropped;
    for (counted, wanted, what) in [
        (d.overflow, want.overflow, "overflow"),
        (d.cobs, want.cobs, "cobs"),
        (d.crc, want.crc, "crc"),
        (d.postcard, want.postcard, "postcard"),
        (d.version, want.version, "version"),
    ] {
        // At least the cases built for a reason; flips and cuts add to some of them.
        assert!(counted >= wanted, "{what}: {counted} < {wanted}: {stats:?}");
    }
}
