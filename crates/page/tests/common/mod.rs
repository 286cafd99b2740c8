//! Plain HTTP over 127.0.0.1 against a real server: raw bytes out, status/headers/body in.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_ssl_page::{EncoderOptions, FrameEncoder, LiveState, Prediction, Server, ServerOptions};

pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

pub fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    read_reply(&mut s)
}

pub fn read_reply(s: &mut TcpStream) -> Reply {
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&buf)));
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply {
        status,
        head,
        body: buf[end + 4..].to_vec(),
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Reply {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
}

pub fn post(addr: SocketAddr, path: &str, body: &str, extra_headers: &str) -> Reply {
    raw(
        addr,
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

pub struct Live {
    pub server: Server,
    pub state: Arc<LiveState>,
    pub encoder: FrameEncoder,
    pub labels: tempfile::TempDir,
}

impl Live {
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Offers frame `n` (a real image, encoded by the real encoder) and waits until it is held.
    pub fn frame(&mut self, n: u64, class: &str) {
        let img = image::RgbImage::from_fn(1000, 750, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, (n % 256) as u8])
        });
        self.encoder
            .offer(prediction(n, class), image::DynamicImage::ImageRgb8(img));
        wait_until(Duration::from_secs(10), || self.state.frame(n).is_some());
    }
}

pub fn prediction(n: u64, class: &str) -> Prediction {
    Prediction {
        frame: n,
        class: class.into(),
        confidence: 0.75,
        novelty: Some(0.5),
        novel: Some(false),
        latency: Duration::from_micros(1500 + n),
    }
}

pub fn start(options: ServerOptions) -> Live {
    let labels = tempfile::tempdir().unwrap();
    let state = Arc::new(LiveState::new(&["person".into(), "car".into()]));
    let options = options.with_labels_dir(Some(&labels.path().join("labels")));
    let server = Server::start("127.0.0.1:0", state.clone(), options).unwrap();
    // No rate limit: every offered frame is encoded once the previous one is done.
    let encoder =
        FrameEncoder::spawn(state.clone(), EncoderOptions::default().with_max_fps(1e6)).unwrap();
    Live {
        server,
        state,
        encoder,
        labels,
    }
}

pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "condition not met within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
