//! Ends that speak different protocol versions: frames of another version are dropped as
//! "version", except a Hello, which reads the same in every version, so each end can name the
//! other's version. The version-1 frames here are the ones the version-1 `docs/link-protocol.md`
//! printed, byte for byte, as a version-1 device or host sends them.

use edge_ssl_link::*;

/// `Hello { role: Device, protocol: 1, name: "stm32", max_payload: 64 }` from a version-1 device.
const V1_DEVICE_HELLO: [u8; 17] = [
    0x02, 0x01, 0x0e, 0x01, 0x01, 0x05, 0x73, 0x74, 0x6d, 0x33, 0x32, 0x40, 0xc0, 0x0d, 0xc9, 0xd6,
    0x00,
];
/// Version-1 `Prediction { seq: 7, frame: 42, class_id: 9, "Ankle boot", 0.91, 12500 }`.
const V1_PREDICTION: [u8; 28] = [
    0x1b, 0x01, 0x01, 0x07, 0x2a, 0x09, 0x0a, 0x41, 0x6e, 0x6b, 0x6c, 0x65, 0x20, 0x62, 0x6f, 0x6f,
    0x74, 0xc3, 0xf5, 0x68, 0x3f, 0xd4, 0x61, 0x1e, 0x60, 0x73, 0x40, 0x00,
];

fn frame_of(payload: &[u8]) -> Vec<u8> {
    let mut wire = [0u8; MAX_FRAME_LEN];
    let n = encode_raw(payload, &mut wire).unwrap();
    wire[..n].to_vec()
}

fn payload_of(message: &Message) -> Vec<u8> {
    let mut payload = [0u8; MAX_PAYLOAD];
    let n = encode_payload(message, &mut payload).unwrap();
    payload[..n].to_vec()
}

#[test]
fn this_version_is_2() {
    assert_eq!(PROTOCOL_VERSION, 2);
    assert_eq!(payload_of(&Message::Ack { seq: 1 })[0], 2);
}

#[test]
fn a_version_1_hello_is_read_and_refused_naming_both_versions() {
    let mut decoder: Decoder = Decoder::new();
    let got: Vec<_> = decoder.feed(&V1_DEVICE_HELLO).collect();
    let [Ok(Message::Hello(hello))] = got.as_slice() else {
        panic!("a version-1 Hello must still decode: {got:?}");
    };
    assert_eq!(hello.role, Role::Device);
    assert_eq!(hello.protocol, 1);
    assert_eq!(hello.name.as_str(), "stm32");
    assert_eq!(hello.max_payload, 64);
    let mismatch = hello.check_version().unwrap_err();
    assert_eq!(mismatch, VersionMismatch { ours: 2, theirs: 1 });
    let text = mismatch.to_string();
    assert!(
        text.contains("version 1") && text.contains("version 2"),
        "{text}"
    );
    assert_eq!(decoder.stats().dropped.total(), 0);
}

#[test]
fn a_hello_of_this_version_passes_the_check() {
    let hello = Hello::new(Role::Device, "mcu", 64);
    assert_eq!(hello.check_version(), Ok(()));
}

#[test]
fn a_hello_from_a_future_version_is_read_too() {
    let future = PROTOCOL_VERSION + 1;
    let mut hello = Hello::new(Role::Host, "edge-ssl-next", 512);
    hello.protocol = future;
    let mut payload = payload_of(&Message::Hello(hello.clone()));
    payload[0] = future;
    let mut decoder: Decoder = Decoder::new();
    let got: Vec<_> = decoder.feed(&frame_of(&payload)).collect();
    assert_eq!(got, [Ok(Message::Hello(hello.clone()))]);
    assert_eq!(
        hello.check_version(),
        Err(VersionMismatch {
            ours: PROTOCOL_VERSION,
            theirs: future
        })
    );
}

#[test]
fn other_messages_of_another_version_are_dropped_as_version() {
    let mut decoder: Decoder = Decoder::new();
    let got: Vec<_> = decoder.feed(&V1_PREDICTION).collect();
    assert_eq!(got, [Err(DropReason::Version)]);
    // A future version's Prediction, and a body that is no message at all, likewise.
    let mut payload = payload_of(&Message::Prediction(Prediction::new(1, 1, 1, "x", 0.5, 1)));
    payload[0] = PROTOCOL_VERSION + 1;
    let got: Vec<_> = decoder.feed(&frame_of(&payload)).collect();
    assert_eq!(got, [Err(DropReason::Version)]);
    let got: Vec<_> = decoder.feed(&frame_of(&[1, 0xff, 0xff])).collect();
    assert_eq!(got, [Err(DropReason::Version)]);
    assert_eq!(decoder.stats().dropped.version, 3);
    assert_eq!(decoder.stats().frames, 0);
}

#[test]
fn version_2_prediction_is_version_1_plus_the_novelty_option() {
    // Decode the version-1 frame by hand (COBS, drop the CRC) to get its message bytes.
    let mut block = V1_PREDICTION[..V1_PREDICTION.len() - 1].to_vec();
    let n = cobs::decode_in_place(&mut block).unwrap();
    let v1_body = &block[1..n - CRC_LEN];

    let plain = Prediction::new(7, 42, 9, "Ankle boot", 0.91, 12_500);
    let payload = payload_of(&Message::Prediction(plain.clone()));
    assert_eq!(payload[0], 2);
    assert_eq!(
        &payload[1..],
        [v1_body, &[0x00]].concat(),
        "no novelty: one 00"
    );

    let score = 1.5f32;
    for (novel, flag) in [(false, 0x00), (true, 0x01)] {
        let with = plain.clone().with_novelty(Some(Novelty { score, novel }));
        assert_eq!(with.is_novel(), novel);
        let payload = payload_of(&Message::Prediction(with));
        let tail = [&[0x01][..], &score.to_le_bytes(), &[flag]].concat();
        assert_eq!(&payload[1..], [v1_body, &tail].concat(), "01, f32 LE, bool");
    }
    assert!(!plain.is_novel());
}
