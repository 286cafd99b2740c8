//! Every endpoint over real HTTP on 127.0.0.1, with frames encoded by the real JPEG encoder.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{get, post, start, wait_until};
use edge_ssl_page::ServerOptions;

#[test]
fn page_status_and_frames() {
    let mut live = start(ServerOptions::default());
    let page = get(live.addr(), "/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body).unwrap();
    for needle in [
        "id=\"frames\"",
        "new EventSource(\"events\")",
        "id=\"label-btn\"",
        "id=\"chart\"",
    ] {
        assert!(html.contains(needle), "page lacks {needle}");
    }
    assert_eq!(get(live.addr(), "/frame.jpg").status, 404, "no frame yet");

    for n in 0..3 {
        live.frame(n, if n == 1 { "car" } else { "person" });
    }
    let status = get(live.addr(), "/status.json").json();
    assert_eq!(status["frames"], 3);
    assert_eq!(status["last"]["frame"], 2);
    assert_eq!(status["last"]["class"], "person");
    assert_eq!(status["last"]["novelty"], 0.5);
    assert_eq!(status["classes"]["person"], 2);
    assert_eq!(status["classes"]["car"], 1);
    let recent: Vec<u64> = status["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(recent, [0, 1, 2]);
    assert_eq!(
        status["known_classes"],
        serde_json::json!(["person", "car"])
    );
    assert_eq!(status["token_required"], false);

    let frame = get(live.addr(), "/frame.jpg");
    assert_eq!(frame.status, 200);
    assert_eq!(frame.header("content-type").as_deref(), Some("image/jpeg"));
    assert_eq!(frame.header("x-frame").as_deref(), Some("2"));
    let img = image::load_from_memory(&frame.body).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (800, 600),
        "scaled to the default max width"
    );

    let one = get(live.addr(), "/recent/1.jpg");
    assert_eq!(one.status, 200);
    assert_ne!(one.body, frame.body);
    assert_eq!(get(live.addr(), "/recent/0001.jpg").body, one.body);
    assert_eq!(get(live.addr(), "/recent/7.jpg").status, 404);
}

#[test]
fn bad_paths_and_methods() {
    let mut live = start(ServerOptions::default());
    live.frame(0, "person");
    let a = live.addr();
    for path in [
        "/recent/../../etc/passwd",
        "/recent/..%2f..%2fetc%2fpasswd.jpg",
        "/recent/-1.jpg",
        "/recent/1.png",
        "/recent/.jpg",
        "/recent/1%2e.jpg",
        "/recent/99999999999999999999999.jpg",
        "/recent/0x1.jpg",
    ] {
        let r = get(a, path);
        assert_eq!(
            r.status,
            400,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(get(a, "/../../etc/passwd").status, 404);
    assert_eq!(get(a, "/nope").status, 404);
    assert_eq!(get(a, "/label").status, 405);
    assert_eq!(post(a, "/status.json", "", "").status, 405);
    assert_eq!(
        common::raw(a, b"DELETE /frame.jpg HTTP/1.1\r\n\r\n").status,
        405
    );
    for bad in [
        &b"GET /\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"get / HTTP/1.1\r\n\r\n",
        b"GET relative HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET / HTTP/1.1\r\n: empty\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: lots\r\n\r\n",
        b"GET /\xff HTTP/1.1\r\n\r\n",
    ] {
        let r = common::raw(a, bad);
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(bad));
    }
    // The server is still serving after all of that.
    assert_eq!(get(a, "/status.json").status, 200);
}

#[test]
fn oversized_requests() {
    let live = start(ServerOptions::default().with_max_body_bytes(1024));
    let a = live.addr();
    // A body past the limit is refused from its Content-Length, before it is read.
    let r = common::raw(
        a,
        b"POST /label HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n{\"frame\":0,",
    );
    assert_eq!(r.status, 413);
    let body = format!("{{\"frame\":0,\"class\":\"{}\"}}", "a".repeat(2000));
    assert_eq!(post(a, "/label", &body, "").status, 413);
    // A head past 8 KiB.
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "b".repeat(9000));
    assert_eq!(common::raw(a, big.as_bytes()).status, 431);
    let many: String = (0..100).map(|i| format!("X-{i}: 1\r\n")).collect();
    assert_eq!(
        common::raw(a, format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()).status,
        431
    );
    let chunked =
        b"POST /label HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    assert_eq!(common::raw(a, chunked).status, 411);
    assert_eq!(get(a, "/status.json").status, 200);
}

#[test]
fn slow_client_is_cut_off_and_others_are_served() {
    let live = start(
        ServerOptions::default()
            .with_request_deadline(Duration::from_millis(400))
            .with_io_timeout(Duration::from_millis(300)),
    );
    let a = live.addr();
    let mut slow = TcpStream::connect(a).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let started = std::time::Instant::now();
    // Meanwhile another client is served at once.
    assert_eq!(get(a, "/status.json").status, 200);
    // A byte now and then does not extend the deadline.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(100));
        let _ = slow.write_all(b"X");
    }
    let r = common::read_reply(&mut slow);
    assert_eq!(r.status, 408);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn events_stream_the_latest_state() {
    let mut live = start(ServerOptions::default().with_event_interval(Duration::from_millis(20)));
    live.frame(0, "person");
    let mut s = TcpStream::connect(live.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{head}"
    );
    let mut next_event = || loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "stream ended");
        if let Some(data) = line.strip_prefix("data: ") {
            return serde_json::from_str::<serde_json::Value>(data).unwrap();
        }
    };
    let first = next_event();
    assert_eq!(first["frames"], 1);
    live.frame(1, "car");
    live.frame(2, "car");
    let mut frames = 0;
    wait_until(Duration::from_secs(5), || {
        frames = next_event()["frames"].as_u64().unwrap();
        frames == 3
    });
}
