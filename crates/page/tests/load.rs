//! Bounds under load: the connection cap, and that neither a crowd of clients nor browsers that
//! stop reading can make the inference side wait.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{get, prediction, start, wait_until};
use edge_ssl_page::ServerOptions;

fn open_events(a: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\n\r\n").unwrap();
    let mut first = [0u8; 12];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    s
}

#[test]
fn connections_past_the_cap_get_503_and_slots_come_back() {
    let live = start(
        ServerOptions::default()
            .with_max_connections(2)
            .with_event_interval(Duration::from_millis(10)),
    );
    let a = live.addr();
    let e1 = open_events(a);
    let _e2 = open_events(a);
    let r = get(a, "/status.json");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "too many connections");
    // A client that goes away frees its slot once its stream's next write fails.
    drop(e1);
    let mut n = 0;
    wait_until(Duration::from_secs(5), || {
        n += 1;
        live.state.publish(prediction(n, "person"));
        get(a, "/status.json").status == 200
    });
}

#[test]
fn publishing_never_waits_for_stalled_browsers() {
    let mut live = start(
        ServerOptions::default()
            .with_max_connections(8)
            .with_event_interval(Duration::ZERO)
            .with_io_timeout(Duration::from_secs(30)),
    );
    let a = live.addr();
    // Event streams whose readers never read: their socket buffers fill and their writes block.
    let stalled: Vec<TcpStream> = (0..6).map(|_| open_events(a)).collect();
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::new(1280, 720));
    for n in 0..3000u64 {
        let frame = img.clone();
        let t = Instant::now();
        live.encoder.offer(prediction(n, "person"), frame);
        worst = worst.max(t.elapsed());
    }
    let total = started.elapsed();
    eprintln!("3000 offers with 6 stalled event streams: {total:?} in all, worst {worst:?}");
    assert_eq!(live.state.frames(), 3000);
    // Generous for a loaded 2-core CI machine; a publish that waited for a socket would take
    // the 30 s write timeout.
    assert!(
        total < Duration::from_secs(20),
        "3000 offers took {total:?}"
    );
    assert!(worst < Duration::from_millis(500), "worst offer {worst:?}");
    let status = get(a, "/status.json");
    assert!(status.status == 503 || status.json()["frames"] == 3000);
    drop(stalled);
}
