//! Property tests: every message survives encode → decode, and no byte stream makes the decoder
//! panic, lose sync, or overrun its buffer.

use edge_ssl_link::*;
use proptest::prelude::*;

fn text<const N: usize>() -> impl Strategy<Value = heapless::String<N>> {
    // Any Unicode, cut to fit; `truncated` keeps it valid UTF-8.
    any::<String>().prop_map(|s| truncated::<N>(&s))
}

/// No novelty model, or any score that is not NaN (NaN != NaN) with either flag.
fn novelty() -> impl Strategy<Value = Option<Novelty>> {
    proptest::option::of(
        (
            any::<f32>().prop_filter("NaN != NaN", |f| !f.is_nan()),
            any::<bool>(),
        )
            .prop_map(|(score, novel)| Novelty { score, novel }),
    )
}

fn message() -> impl Strategy<Value = Message> {
    let role = prop_oneof![Just(Role::Host), Just(Role::Device)];
    prop_oneof![
        (role, any::<u8>(), text::<PEER_NAME_LEN>(), any::<u16>()).prop_map(
            |(role, protocol, name, max_payload)| Message::Hello(Hello {
                role,
                protocol,
                name,
                max_payload
            })
        ),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            text::<CLASS_NAME_LEN>(),
            0.0f32..=1.0,
            any::<u32>(),
            novelty(),
        )
            .prop_map(
                |(seq, frame, class_id, class_name, confidence, latency_us, novelty)| {
                    Message::Prediction(Prediction {
                        seq,
                        frame,
                        class_id,
                        class_name,
                        confidence,
                        latency_us,
                        novelty,
                    })
                }
            ),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<f32>().prop_filter("NaN != NaN", |f| !f.is_nan()),
            any::<u32>()
        )
            .prop_map(|(seq, uptime_ms, frames, fps, dropped)| {
                Message::Status(Status {
                    seq,
                    uptime_ms,
                    frames,
                    fps,
                    dropped,
                })
            }),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..=CHUNK_LEN)
        )
            .prop_map(|(seq, frame, offset, total, data)| {
                let data = heapless::Vec::from_slice(&data).unwrap();
                Message::FrameChunk(FrameChunk {
                    seq,
                    frame,
                    offset,
                    total,
                    data,
                })
            }),
        any::<u32>().prop_map(|seq| Message::Ack { seq }),
        (any::<u32>(), any::<u16>()).prop_map(|(seq, code)| Message::Error { seq, code }),
    ]
}

fn frame_of(message: &Message) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME_LEN];
    let n = encode(message, &mut buf).expect("every message fits MAX_FRAME_LEN");
    buf[..n].to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips(msg in message()) {
        let wire = frame_of(&msg);
        prop_assert_eq!(*wire.last().unwrap(), 0);
        prop_assert!(!wire[..wire.len() - 1].contains(&0));
        prop_assert!(wire.len() <= MAX_FRAME_LEN);
        let mut decoder: Decoder = Decoder::new();
        let got: Vec<_> = decoder.feed(&wire).collect();
        prop_assert_eq!(got, vec![Ok(msg)]);
        prop_assert_eq!(decoder.stats().frames, 1);
        prop_assert_eq!(decoder.stats().dropped.total(), 0);
    }

    #[test]
    fn a_stream_decodes_whatever_the_read_boundaries(
        msgs in proptest::collection::vec(message(), 1..8),
        cuts in proptest::collection::vec(1usize..40, 1..20),
    ) {
        let wire: Vec<u8> = msgs.iter().flat_map(frame_of).collect();
        let mut decoder: Decoder = Decoder::new();
        let mut got = Vec::new();
        let mut rest = &wire[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() { break; }
            let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
            got.extend(decoder.messages(chunk));
            rest = tail;
        }
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn garbage_never_panics_and_the_next_frame_still_decodes(
        garbage in proptest::collection::vec(any::<u8>(), 0..1024),
        msg in message(),
    ) {
        let mut decoder: Decoder = Decoder::new();
        let _ = decoder.feed(&garbage).count();
        prop_assert!(decoder.pending() <= MAX_ENCODED_LEN);
        // A delimiter ends whatever garbage is pending; the frame after it must decode.
        let _ = decoder.push(0);
        let got: Vec<_> = decoder.feed(&frame_of(&msg)).collect();
        prop_assert_eq!(got, vec![Ok(msg)]);
    }

    #[test]
    fn one_flipped_bit_is_dropped_and_counted(msg in message(), bit in any::<prop::sample::Index>()) {
        let mut wire = frame_of(&msg);
        let body = wire.len() - 1;
        let at = bit.index(body * 8);
        wire[at / 8] ^= 1 << (at % 8);
        let mut decoder: Decoder = Decoder::new();
        let got: Vec<_> = decoder.feed(&wire).collect();
        // A flip may create a 0x00 (splitting the frame in two); either way nothing wrong gets out.
        prop_assert!(got.iter().all(|r| r.is_err()), "corrupted frame decoded: {:?}", got);
        prop_assert_eq!(decoder.stats().frames, 0);
        prop_assert!(decoder.stats().dropped.total() >= 1);
    }
}

#[test]
fn drops_are_counted_by_reason() {
    let mut decoder: Decoder = Decoder::new();
    let ack = frame_of(&Message::Ack { seq: 1 });

    // Overflow: more non-zero bytes than the buffer holds, then a delimiter.
    let long = vec![0x42u8; MAX_ENCODED_LEN + 10];
    assert_eq!(decoder.feed(&long).count(), 0);
    assert_eq!(decoder.push(0), Some(Err(DropReason::Overflow)));

    // Bad COBS: a code byte that points past the end of the block.
    assert_eq!(
        decoder.feed(&[0x09, 0x01, 0x00]).collect::<Vec<_>>(),
        [Err(DropReason::Cobs)]
    );

    // Bad CRC: change one payload byte (keeping it non-zero, so COBS stays valid).
    let mut bad = ack.clone();
    bad[2] ^= 0x01;
    assert_ne!(bad[2], 0);
    assert_eq!(
        decoder.feed(&bad).collect::<Vec<_>>(),
        [Err(DropReason::Crc)]
    );

    // Unknown version: a valid frame around an Ack whose version byte is not ours.
    let mut wire = [0u8; MAX_FRAME_LEN];
    let n = encode_raw(&[PROTOCOL_VERSION + 1, 4, 1], &mut wire).unwrap();
    assert_eq!(
        decoder.feed(&wire[..n]).collect::<Vec<_>>(),
        [Err(DropReason::Version)]
    );

    // Bad postcard: this version, then variant index 99.
    let n = encode_raw(&[PROTOCOL_VERSION, 99], &mut wire).unwrap();
    assert_eq!(
        decoder.feed(&wire[..n]).collect::<Vec<_>>(),
        [Err(DropReason::Postcard)]
    );

    // Bad postcard: a class name longer than CLASS_NAME_LEN.
    let mut payload = vec![PROTOCOL_VERSION, 1, 0, 0, 0, 40];
    payload.extend(std::iter::repeat_n(b'a', 40));
    payload.extend([0, 0, 0, 0, 0]);
    let n = encode_raw(&payload, &mut wire).unwrap();
    assert_eq!(
        decoder.feed(&wire[..n]).collect::<Vec<_>>(),
        [Err(DropReason::Postcard)]
    );

    // Trailing bytes after a complete message are not accepted either.
    let n = encode_raw(&[PROTOCOL_VERSION, 4, 1, 0xAA], &mut wire).unwrap();
    assert_eq!(
        decoder.feed(&wire[..n]).collect::<Vec<_>>(),
        [Err(DropReason::Postcard)]
    );

    // And after all that, a good frame decodes.
    assert_eq!(
        decoder.feed(&ack).collect::<Vec<_>>(),
        [Ok(Message::Ack { seq: 1 })]
    );

    let stats = decoder.stats();
    assert_eq!(stats.frames, 1);
    assert_eq!(
        stats.dropped,
        DropCounts {
            overflow: 1,
            cobs: 1,
            crc: 1,
            postcard: 3,
            version: 1
        }
    );
    assert_eq!(stats.dropped.total(), 7);
}

#[test]
fn empty_frames_are_ignored_not_counted() {
    let mut decoder: Decoder = Decoder::new();
    assert_eq!(decoder.feed(&[0, 0, 0]).count(), 0);
    assert_eq!(decoder.stats(), DecoderStats::default());
}

#[test]
fn crc_is_crc32_ieee() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

#[test]
fn largest_messages_fit_the_limits() {
    let name = "x".repeat(CLASS_NAME_LEN);
    let big = Message::Prediction(Prediction {
        seq: u32::MAX,
        frame: u32::MAX,
        class_id: u16::MAX,
        class_name: truncated(&name),
        confidence: 1.0,
        latency_us: u32::MAX,
        novelty: Some(Novelty {
            score: f32::MAX,
            novel: true,
        }),
    });
    let chunk = Message::FrameChunk(FrameChunk {
        seq: u32::MAX,
        frame: u32::MAX,
        offset: u32::MAX,
        total: u32::MAX,
        data: heapless::Vec::from_slice(&[0xFF; CHUNK_LEN]).unwrap(),
    });
    for msg in [big, chunk] {
        assert!(frame_of(&msg).len() <= MAX_FRAME_LEN);
    }
}

#[test]
fn small_output_buffer_is_an_error_not_a_panic() {
    let msg = Message::Prediction(Prediction::new(1, 2, 3, "sneaker", 0.5, 100));
    let mut tiny = [0u8; 8];
    assert!(matches!(
        encode(&msg, &mut tiny),
        Err(EncodeError::BufferTooSmall { .. })
    ));
}

#[test]
fn long_names_are_cut_at_a_character_boundary() {
    let name = "é".repeat(CLASS_NAME_LEN); // 2 bytes each
    let p = Prediction::new(0, 0, 0, &name, 0.0, 0);
    assert_eq!(p.class_name.len(), CLASS_NAME_LEN);
    assert!(p.class_name.chars().all(|c| c == 'é'));
}
