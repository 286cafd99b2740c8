//! Writing a response: always a `Content-Length`, always `Connection: close` (one request per
//! connection keeps the connection cap meaningful and the code short), never cached.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;

pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Arc<[u8]>,
    pub extra: Vec<(&'static str, String)>,
}

impl Response {
    pub(crate) fn new(status: u16, content_type: &'static str, body: impl Into<Arc<[u8]>>) -> Self {
        Response {
            status,
            content_type,
            body: body.into(),
            extra: Vec::new(),
        }
    }

    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Self {
        Response::new(status, "application/json", value.to_string().into_bytes())
    }

    /// `{"error": why}` with `status`.
    pub(crate) fn error(status: u16, why: &str) -> Self {
        Response::json(status, &serde_json::json!({ "error": why }))
    }

    #[must_use]
    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// Writes the whole response; a failed write (the browser went away) is not an error to
    /// anyone, so it is only reported as `false`.
    pub(crate) fn write_to(&self, stream: &mut TcpStream) -> bool {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (k, v) in &self.extra {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).is_ok()
            && stream.write_all(&self.body).is_ok()
            && stream.flush().is_ok()
    }
}

pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        507 => "Insufficient Storage",
        _ => "Status",
    }
}
