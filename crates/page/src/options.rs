//! How the server behaves: every bound it keeps lives here, with defaults sized for a handful of
//! browsers on a small device.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::refit::RefitFn;

/// Server settings. `Default` is what `edge-ssl run --http` uses, apart from the token, the
/// labels directory and the refit callback, which only the caller knows.
#[derive(Clone)]
pub struct ServerOptions {
    pub(crate) max_connections: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_body_bytes: usize,
    pub(crate) io_timeout: Duration,
    pub(crate) request_deadline: Duration,
    pub(crate) event_interval: Duration,
    pub(crate) token: Option<String>,
    pub(crate) labels_dir: Option<PathBuf>,
    pub(crate) refit: Option<Arc<RefitFn>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            // A browser opens up to six connections to one host; one of them is the event stream.
            max_connections: 16,
            max_header_bytes: 8 * 1024,
            // A label is a frame id and a class name.
            max_body_bytes: 4 * 1024,
            io_timeout: Duration::from_secs(5),
            request_deadline: Duration::from_secs(10),
            event_interval: Duration::from_millis(100),
            token: None,
            labels_dir: None,
            refit: None,
        }
    }
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("max_connections", &self.max_connections)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("io_timeout", &self.io_timeout)
            .field("request_deadline", &self.request_deadline)
            .field("event_interval", &self.event_interval)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("labels_dir", &self.labels_dir)
            .field("refit", &self.refit.as_ref().map(|_| "<callback>"))
            .finish()
    }
}

impl ServerOptions {
    /// Connections served at once (event streams included); one more is answered 503 and closed.
    #[must_use]
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }
    /// Largest request line plus headers; larger is answered 431.
    #[must_use]
    pub fn with_max_header_bytes(mut self, n: usize) -> Self {
        self.max_header_bytes = n.max(256);
        self
    }
    /// Largest request body; larger is answered 413 without reading it.
    #[must_use]
    pub fn with_max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }
    /// Longest a single read or write on a connection may wait.
    #[must_use]
    pub fn with_io_timeout(mut self, t: Duration) -> Self {
        self.io_timeout = t.max(Duration::from_millis(1));
        self
    }
    /// Longest a client may take to send a whole request (a byte-a-second client is cut off).
    #[must_use]
    pub fn with_request_deadline(mut self, t: Duration) -> Self {
        self.request_deadline = t.max(Duration::from_millis(1));
        self
    }
    /// Shortest time between two events on one event stream: a fast model does not flood a
    /// browser, and a slow browser simply sees fewer of the frames.
    #[must_use]
    pub fn with_event_interval(mut self, t: Duration) -> Self {
        self.event_interval = t;
        self
    }
    /// A token `POST /label` and `POST /refit` must carry (`Authorization: Bearer …` or
    /// `?token=…`); `None` leaves them open.
    #[must_use]
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }
    /// Where labeled frames go, as an ImageFolder `DIR/<class>/<id>.jpg`; without one,
    /// `POST /label` answers 503.
    #[must_use]
    pub fn with_labels_dir(mut self, dir: Option<&Path>) -> Self {
        self.labels_dir = dir.map(Path::to_owned);
        self
    }
    /// What `POST /refit` runs (in a background thread, one at a time); without one it answers 503.
    #[must_use]
    pub fn with_refit(mut self, refit: Option<Arc<RefitFn>>) -> Self {
        self.refit = refit;
        self
    }
}
