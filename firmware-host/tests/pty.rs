//! The link end to end over real pseudo-terminals: the host's `SerialLink` against the
//! `DeviceEmulator`, including garbage on the line and a cable pulled and plugged back in.

use std::io::Write;
use std::time::{Duration, Instant};

use edge_ssl_firmware_host::*;
use edge_ssl_link::{
    DropCounts, MAX_FRAME_LEN, Message, PROTOCOL_VERSION, Prediction, Role, VersionMismatch,
    encode, encode_raw,
};

fn fast() -> LinkOptions {
    LinkOptions::default()
        .with_ack_timeout(Duration::from_millis(500))
        .with_reconnect_interval(Duration::from_millis(50))
}

/// Frame `i`'s novelty: none for every third frame (a model without a novelty model), else a
/// score that grows with `i`, novel on even frames.
fn novelty_of(i: u32) -> Option<Novelty> {
    (!i.is_multiple_of(3)).then_some(Novelty {
        score: i as f32 * 0.25,
        novel: i.is_multiple_of(2),
    })
}

fn frame(message: &Message) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME_LEN];
    let n = encode(message, &mut buf).unwrap();
    buf[..n].to_vec()
}

#[test]
fn predictions_arrive_intact_and_are_acked() {
    let dir = tempfile::tempdir().unwrap();
    let emulator =
        DeviceEmulator::spawn(dir.path().join("ttyEMU0"), DeviceOptions::default()).unwrap();
    let mut link = SerialLink::open(emulator.path(), fast()).unwrap();
    assert_eq!(link.drain_events(), [LinkEvent::Connected]);

    let names = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
    ];
    for frame in 0..40u32 {
        let class = (frame as usize * 7) % names.len();
        let outcome = link.send_prediction(
            frame,
            class as u16,
            names[class],
            frame as f32 / 40.0,
            novelty_of(frame),
            Duration::from_micros(800),
        );
        assert_eq!(outcome, SendOutcome::Acked, "frame {frame}");
    }

    let device = emulator.lock();
    let got = device.predictions();
    assert_eq!(got.len(), 40);
    for (i, p) in got.iter().enumerate() {
        let class = (i * 7) % names.len();
        let want = Prediction::new(
            i as u32,
            i as u32,
            class as u16,
            names[class],
            i as f32 / 40.0,
            800,
        )
        .with_novelty(novelty_of(i as u32));
        assert_eq!(*p, want);
    }
    assert_eq!(device.hellos().len(), 1);
    assert_eq!(device.hellos()[0].role, Role::Host);
    assert_eq!(device.decoder_stats().dropped.total(), 0);
    // The last prediction is on the device's screen: its bar has the "high confidence" colour.
    assert!(
        device
            .screen()
            .pixels()
            .contains(&edge_ssl_display::Theme::COLOR.bar_high)
    );
    drop(device);

    let stats = link.stats();
    assert_eq!(
        (stats.sent, stats.acked, stats.ack_timeouts, stats.skipped),
        (40, 40, 0, 0)
    );
    assert_eq!(link.peer().map(|h| h.role), Some(Role::Device));
    assert_eq!(link.peer().map(|h| h.name.as_str()), Some("emulated-mcu"));
}

#[test]
fn malformed_bytes_sent_to_the_device_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let emulator =
        DeviceEmulator::spawn(dir.path().join("ttyEMU1"), DeviceOptions::default()).unwrap();
    let mut port = serialport::new(emulator.path().to_str().unwrap(), 115_200)
        .timeout(Duration::from_millis(200))
        .open()
        .unwrap();

    let good = |seq| {
        frame(&Message::Prediction(Prediction::new(
            seq, seq, 1, "Bag", 0.5, 10,
        )))
    };
    let mut bad_crc = good(100);
    bad_crc[3] = if bad_crc[3] == 0x7F { 0x7E } else { 0x7F };
    let mut wrong_version = vec![0u8; MAX_FRAME_LEN];
    let n = encode_raw(&[PROTOCOL_VERSION + 1, 4, 0], &mut wrong_version).unwrap();
    wrong_version.truncate(n);

    let mut wire = Vec::new();
    wire.extend([0x13, 0x37, 0x00]); // bad COBS
    wire.extend(good(0));
    wire.extend(&bad_crc);
    wire.extend(good(1));
    wire.extend(vec![0x55; MAX_FRAME_LEN + 20]); // overflow
    wire.push(0);
    wire.extend(&wrong_version);
    wire.extend(good(2));
    port.write_all(&wire).unwrap();

    assert!(
        emulator.wait_until(Duration::from_secs(5), |d| d.predictions().len() == 3),
        "3 good frames"
    );
    let device = emulator.lock();
    let seqs: Vec<u32> = device.predictions().iter().map(|p| p.seq).collect();
    assert_eq!(seqs, [0, 1, 2]);
    assert_eq!(
        device.decoder_stats().dropped,
        DropCounts {
            overflow: 1,
            cobs: 1,
            crc: 1,
            postcard: 0,
            version: 1
        }
    );
}

#[test]
fn malformed_bytes_sent_to_the_host_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let options = DeviceOptions::default().with_ack(false);
    let emulator = DeviceEmulator::spawn(dir.path().join("ttyEMU2"), options).unwrap();
    let mut link = SerialLink::open(
        emulator.path(),
        fast().with_ack_timeout(Duration::from_millis(30)),
    )
    .unwrap();

    // No Ack comes (the device does not ack), so the wait times out...
    assert_eq!(
        link.send_prediction(0, 0, "Coat", 0.9, None, Duration::ZERO),
        SendOutcome::Sent
    );
    // ...then noise arrives, and after it a genuine (late) Ack.
    let mut garbage = vec![0x01, 0x02, 0x03, 0x00]; // COBS-valid, too short for a CRC
    garbage.extend([0xFF, 0x00]); // bad COBS
    garbage.extend(frame(&Message::Ack { seq: 0 }));
    emulator.send_raw(&garbage);
    let deadline = Instant::now() + Duration::from_secs(5);
    while link.stats().acked == 0 && Instant::now() < deadline {
        link.poll();
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = link.stats();
    assert_eq!(stats.rx.dropped.crc, 1);
    assert_eq!(stats.rx.dropped.cobs, 1);
    assert_eq!(
        (stats.acked, stats.late_acks, stats.ack_timeouts),
        (1, 1, 1)
    );
}

#[test]
fn unplug_and_replug_the_sender_keeps_going_and_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let mut emulator =
        DeviceEmulator::spawn(dir.path().join("ttyEMU3"), DeviceOptions::default()).unwrap();
    let mut link = SerialLink::open(emulator.path(), fast()).unwrap();
    let mut frame_no = 0u32;
    let mut send = |link: &mut SerialLink| {
        frame_no += 1;
        link.send_prediction(frame_no, 2, "Pullover", 0.7, None, Duration::from_millis(3))
    };
    assert_eq!(send(&mut link), SendOutcome::Acked);

    emulator.unplug();
    assert!(
        !emulator.path().exists(),
        "the device path disappears with the device"
    );
    // The pipeline keeps calling; no call may block for long or fail.
    let started = Instant::now();
    let outcomes: Vec<SendOutcome> = (0..10).map(|_| send(&mut link)).collect();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "sends while unplugged took {:?}",
        started.elapsed()
    );
    assert!(
        outcomes.iter().all(|o| *o != SendOutcome::Acked),
        "{outcomes:?}"
    );
    assert_eq!(outcomes.last(), Some(&SendOutcome::Disconnected));
    assert!(matches!(link.state(), LinkState::Disconnected { .. }));

    emulator.plug().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut outcome = send(&mut link);
    while outcome != SendOutcome::Acked && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        outcome = send(&mut link);
    }
    assert_eq!(outcome, SendOutcome::Acked, "reconnected after replug");
    assert_eq!(link.state(), &LinkState::Connected);

    let events = link.drain_events();
    assert_eq!(events.first(), Some(&LinkEvent::Connected));
    assert!(
        matches!(events.get(1), Some(LinkEvent::Disconnected { .. })),
        "{events:?}"
    );
    assert_eq!(events.last(), Some(&LinkEvent::Connected));
    let stats = link.stats();
    assert_eq!((stats.disconnects, stats.reconnects), (1, 1));
    assert!(stats.skipped >= 1);
    // The device heard a fresh Hello after the replug.
    assert_eq!(emulator.lock().hellos().len(), 2);
}

#[test]
fn a_link_can_start_before_the_device_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ttyEMU4");
    let err = SerialLink::open(&path, fast())
        .err()
        .expect("no device yet");
    assert!(
        err.to_string().contains("ttyEMU4"),
        "error names the path: {err}"
    );

    let mut link = SerialLink::disconnected(&path, fast());
    assert_eq!(
        link.send_prediction(0, 0, "Bag", 0.1, None, Duration::ZERO),
        SendOutcome::Disconnected
    );
    let _emulator = DeviceEmulator::spawn(&path, DeviceOptions::default()).unwrap();
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(
        link.send_prediction(1, 0, "Bag", 0.1, None, Duration::ZERO),
        SendOutcome::Acked
    );
    assert_eq!(
        link.stats().reconnects,
        0,
        "a first connection is not a reconnect"
    );
}

#[test]
fn the_emulated_screen_renders_to_png() {
    let dir = tempfile::tempdir().unwrap();
    let emulator =
        DeviceEmulator::spawn(dir.path().join("ttyEMU5"), DeviceOptions::default()).unwrap();
    let mut link = SerialLink::open(emulator.path(), fast()).unwrap();
    assert_eq!(
        link.send_prediction(9, 5, "Sandal", 0.42, None, Duration::ZERO),
        SendOutcome::Acked
    );
    let png = dir.path().join("screen.png");
    edge_ssl_display::write_png(emulator.lock().screen(), 1, &png).unwrap();
    let (w, h, rgb) = edge_ssl_display::read_png_rgb8(&png).unwrap();
    assert_eq!((w, h), (240, 240));
    assert!(rgb.iter().any(|&b| b != 0));
}

#[test]
fn a_novel_prediction_is_drawn_differently() {
    let dir = tempfile::tempdir().unwrap();
    let emulator =
        DeviceEmulator::spawn(dir.path().join("ttyEMU6"), DeviceOptions::default()).unwrap();
    let mut link = SerialLink::open(emulator.path(), fast()).unwrap();
    let mut screen = |novel| {
        let novelty = Some(Novelty { score: 1.0, novel });
        let outcome = link.send_prediction(3, 5, "Sandal", 0.42, novelty, Duration::ZERO);
        assert_eq!(outcome, SendOutcome::Acked);
        // The class name's part of the screen (the header's fps changes from call to call).
        let area = edge_ssl_display::Panel::st7789().layout.class_area;
        let device = emulator.lock();
        let (x0, y0) = (area.top_left.x, area.top_left.y);
        let (w, h) = (area.size.width as i32, area.size.height as i32);
        let mut pixels = Vec::new();
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                let mut at = area.top_left;
                (at.x, at.y) = (x, y);
                pixels.push(device.screen().pixel(at));
            }
        }
        pixels
    };
    let (plain, novel, plain_again) = (screen(false), screen(true), screen(false));
    assert_eq!(plain, plain_again, "same class, same name drawn");
    assert_ne!(plain, novel, "a novel frame reads `? Sandal`");
}

#[test]
fn a_device_of_another_protocol_version_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ttyEMU7");
    let old = DeviceOptions::default()
        .with_name("old-mcu")
        .with_protocol(1);
    let emulator = DeviceEmulator::spawn(&path, old).unwrap();
    let mut link = SerialLink::open(&path, fast()).unwrap();

    // Until the device's Hello arrives the host cannot know; after it, every send is refused.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut outcome = SendOutcome::Sent;
    let mut frame_no = 0;
    while outcome != SendOutcome::Refused && Instant::now() < deadline {
        outcome = link.send_prediction(frame_no, 1, "Trouser", 0.8, None, Duration::ZERO);
        frame_no += 1;
        assert_ne!(outcome, SendOutcome::Acked, "an old device acks nothing");
    }
    assert_eq!(outcome, SendOutcome::Refused);
    let mismatch = VersionMismatch {
        ours: PROTOCOL_VERSION,
        theirs: 1,
    };
    assert_eq!(link.peer_mismatch(), Some(mismatch));
    let events = link.drain_events();
    assert_eq!(
        events,
        [
            LinkEvent::Connected,
            LinkEvent::VersionMismatch {
                device: "old-mcu".into(),
                mismatch
            }
        ]
    );
    let text = mismatch.to_string();
    assert!(
        text.contains("version 1") && text.contains("version 2"),
        "{text}"
    );
    for _ in 0..5 {
        let outcome = link.send_prediction(frame_no, 1, "Trouser", 0.8, None, Duration::ZERO);
        assert_eq!(outcome, SendOutcome::Refused);
        frame_no += 1;
    }
    let stats = link.stats();
    assert_eq!(stats.sent + stats.refused, u64::from(frame_no));
    assert!(stats.refused >= 6);
    // The host's version-2 Hello got an UnsupportedVersion error back; the device took no
    // prediction and dropped what reached it as another version's.
    assert!(
        emulator.wait_until(Duration::from_secs(2), |d| d.version_drops() == stats.sent),
        "device dropped {} of {} sent",
        emulator.lock().version_drops(),
        stats.sent
    );
    link.poll();
    assert_eq!(link.stats().device_errors, 1);
    assert!(emulator.lock().predictions().is_empty());
    assert_eq!(emulator.lock().hellos()[0].protocol, PROTOCOL_VERSION);

    // Re-flashed firmware behind the same path is used again once it says Hello.
    drop(emulator);
    let emulator = DeviceEmulator::spawn(&path, DeviceOptions::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut outcome = SendOutcome::Refused;
    while outcome != SendOutcome::Acked && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        outcome = link.send_prediction(frame_no, 1, "Trouser", 0.8, None, Duration::ZERO);
        frame_no += 1;
    }
    assert_eq!(
        outcome,
        SendOutcome::Acked,
        "matching firmware is used again"
    );
    assert_eq!(link.peer_mismatch(), None);
    assert!(!emulator.lock().predictions().is_empty());
}
