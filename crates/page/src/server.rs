//! The accept loop: one thread per connection, at most `max_connections` at once. A connection
//! past the cap waits a moment for a slot, then is answered `503` by a short-lived thread (at most [`REJECTERS`] of them; past
//! that it is simply closed), so neither a crowd nor a slow client can grow the thread count or
//! stall the accept loop. Dropping the [`Server`] stops accepting, tells event streams to end,
//! and returns without waiting for connections (each is bounded by its timeouts anyway).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{PageError, Result};
use crate::label::count_labels;
use crate::options::ServerOptions;
use crate::routes::{Ctx, serve};
use crate::state::LiveState;

/// Threads answering connections past the cap.
const REJECTERS: usize = 4;
/// How long a connection past the cap waits for a slot before it is answered 503.
const SLOT_WAIT: Duration = Duration::from_millis(250);
/// How long a closing connection waits for the client's unread bytes (so the close is a FIN,
/// not a reset that could destroy the response before the client reads it).
const LINGER: Duration = Duration::from_millis(200);
const LINGER_BYTES: usize = 64 * 1024;

/// A running page server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` (`127.0.0.1:8080`, `0.0.0.0:80`, `[::1]:0` …) and serves `state`.
    pub fn start(addr: &str, state: Arc<LiveState>, options: ServerOptions) -> Result<Server> {
        let listener = TcpListener::bind(addr).map_err(|source| PageError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let local = listener.local_addr().map_err(|source| PageError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        state.set_token_required(options.token.is_some());
        if let Some(dir) = &options.labels_dir {
            state.set_labels(count_labels(dir));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let run_id = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let ctx = Arc::new(Ctx {
            state,
            options,
            stop: stop.clone(),
            run_id,
        });
        let accept_stop = stop.clone();
        let accept = std::thread::Builder::new()
            .name("page-accept".into())
            .spawn(move || {
                crate::priority::lower();
                accept_loop(listener, ctx, accept_stop)
            })
            .map_err(|source| PageError::Spawn {
                what: "accept",
                source,
            })?;
        Ok(Server {
            addr: local,
            stop,
            accept: Some(accept),
        })
    }

    /// The address actually bound (port 0 becomes a real port).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the blocking accept with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let woke = TcpStream::connect_timeout(&wake, Duration::from_millis(500)).is_ok();
        if let Some(t) = self.accept.take()
            && woke
        {
            let _ = t.join();
        }
    }
}

/// Decrements the live-connection count when a connection thread ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn accept_loop(listener: TcpListener, ctx: Arc<Ctx>, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    let rejecting = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let Ok(stream) = conn else {
            // Out of descriptors and the like: back off instead of spinning.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        if !take_slot(&active, ctx.options.max_connections) {
            reject(stream, &rejecting);
            continue;
        }
        let slot = Slot(active.clone());
        let ctx = ctx.clone();
        // A failed spawn drops the closure: the slot is released and the stream closed.
        let _ = std::thread::Builder::new()
            .name("page-conn".into())
            .spawn(move || {
                let _slot = slot;
                crate::priority::lower();
                serve(stream, &ctx);
            });
    }
}

/// Takes a connection slot, waiting up to [`SLOT_WAIT`] for one: a browser's next request
/// often arrives before the thread that answered its last one has ended and let go of its slot.
fn take_slot(active: &AtomicUsize, max: usize) -> bool {
    let started = Instant::now();
    loop {
        if active.fetch_add(1, Ordering::AcqRel) < max {
            return true;
        }
        active.fetch_sub(1, Ordering::AcqRel);
        if started.elapsed() >= SLOT_WAIT {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn reject(mut stream: TcpStream, rejecting: &Arc<AtomicUsize>) {
    if rejecting.fetch_add(1, Ordering::AcqRel) >= REJECTERS {
        rejecting.fetch_sub(1, Ordering::AcqRel);
        return;
    }
    let slot = Slot(rejecting.clone());
    let _ = std::thread::Builder::new()
        .name("page-busy".into())
        .spawn(move || {
            let _slot = slot;
            let _ = stream.set_write_timeout(Some(LINGER));
            let _ = stream.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 34\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{\"error\":\"too many connections\"}\n\n",
            );
            close_gently(stream);
        });
}

/// Half-closes, then reads and discards what the client still sends for a moment, so the
/// response is not lost to a reset.
pub(crate) fn close_gently(mut stream: TcpStream) {
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER));
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}
