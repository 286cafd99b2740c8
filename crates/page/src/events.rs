//! `GET /events`: server-sent events, one `data:` line of the status document per change, at
//! most one per `event_interval`. Each stream sends the *latest* state when it wakes, never a
//! queue of past ones, so a slow browser skips frames instead of falling behind or holding
//! memory; a vanished one fails a write (bounded by the write timeout) and its thread ends.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::options::ServerOptions;
use crate::state::LiveState;

/// A comment line this often keeps proxies and browsers from timing an idle stream out, and
/// finds a vanished client when no frames come.
const KEEPALIVE: Duration = Duration::from_secs(10);
/// How often a waiting stream looks at the stop flag.
const POLL: Duration = Duration::from_millis(250);

pub(crate) fn stream(
    stream: &mut TcpStream,
    state: &LiveState,
    options: &ServerOptions,
    stop: &AtomicBool,
) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\n\r\nretry: 1000\n\n";
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut seen;
    loop {
        let snapshot = state.snapshot();
        seen = snapshot.version;
        let Ok(json) = serde_json::to_string(&snapshot) else {
            return;
        };
        let event = format!("data: {json}\n\n");
        if stream.write_all(event.as_bytes()).is_err() || stream.flush().is_err() {
            return;
        }
        let sent = Instant::now();
        while sent.elapsed() < options.event_interval {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep((options.event_interval - sent.elapsed()).min(POLL));
        }
        let mut quiet = Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if state.wait_change(seen, POLL) > seen {
                break;
            }
            if quiet.elapsed() >= KEEPALIVE {
                if stream.write_all(b": keepalive\n\n").is_err() {
                    return;
                }
                quiet = Instant::now();
            }
        }
    }
}
