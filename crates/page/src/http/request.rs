//! Reading one HTTP/1.1 request with every size and time bounded: the head may not exceed the
//! configured bytes, the body is refused (413) from its `Content-Length` before a byte of it is
//! read, chunked bodies are refused, and the whole request must arrive before a deadline, so a
//! client trickling a byte at a time is cut off rather than holding a connection slot.

use std::io::Read;
use std::net::TcpStream;
use std::time::Instant;

use crate::options::ServerOptions;

const MAX_HEADERS: usize = 64;

#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why no request could be read; each maps to a status (or to silently closing).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The peer closed or reset before a whole request: nothing to answer.
    Gone,
    Timeout,
    HeadTooLarge,
    BodyTooLarge,
    LengthRequired,
    Malformed(&'static str),
}

impl Rejection {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Rejection::Gone => 400,
            Rejection::Timeout => 408,
            Rejection::HeadTooLarge => 431,
            Rejection::BodyTooLarge => 413,
            Rejection::LengthRequired => 411,
            Rejection::Malformed(_) => 400,
        }
    }

    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Rejection::Gone => "connection closed",
            Rejection::Timeout => "request not received in time",
            Rejection::HeadTooLarge => "request head too large",
            Rejection::BodyTooLarge => "request body too large",
            Rejection::LengthRequired => {
                "a body needs Content-Length (chunked bodies are not accepted)"
            }
            Rejection::Malformed(why) => why,
        }
    }
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first `name=` in the query string, percent-decoded.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        form_value(self.query.as_bytes(), name)
    }
}

/// The first `name=value` of an `application/x-www-form-urlencoded` text, decoded.
pub(crate) fn form_value(form: &[u8], name: &str) -> Option<String> {
    form.split(|&b| b == b'&').find_map(|pair| {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        (percent_decode(k)? == name)
            .then(|| percent_decode(v))
            .flatten()
    })
}

fn percent_decode(s: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Reads one request from `stream`, within `options`' bounds.
pub(crate) fn read_request(
    stream: &mut TcpStream,
    options: &ServerOptions,
) -> Result<Request, Rejection> {
    let deadline = Instant::now() + options.request_deadline;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() >= options.max_header_bytes {
            return Err(Rejection::HeadTooLarge);
        }
        let want = (options.max_header_bytes - buf.len()).min(chunk.len());
        let n = read_some(
            stream,
            &mut chunk[..want],
            deadline,
            options,
            buf.is_empty(),
        )?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| Rejection::Malformed("request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let (method, target) = parse_request_line(lines.next().unwrap_or(""))?;
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == MAX_HEADERS {
            return Err(Rejection::HeadTooLarge);
        }
        let (k, v) = line
            .split_once(':')
            .ok_or(Rejection::Malformed("malformed header line"))?;
        if k.is_empty()
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(Rejection::Malformed("malformed header name"));
        }
        headers.push((k.to_string(), v.trim().to_string()));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    let mut request = Request {
        method: method.to_string(),
        path,
        query,
        headers,
        body: Vec::new(),
    };
    if request.header("transfer-encoding").is_some() {
        return Err(Rejection::LengthRequired);
    }
    let length = match request.header("content-length") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| Rejection::Malformed("bad Content-Length"))?,
    };
    if length > options.max_body_bytes {
        return Err(Rejection::BodyTooLarge);
    }
    let mut body = buf.split_off(head_end + 4);
    body.truncate(length);
    while body.len() < length {
        let want = (length - body.len()).min(chunk.len());
        let n = read_some(stream, &mut chunk[..want], deadline, options, false)?;
        body.extend_from_slice(&chunk[..n]);
    }
    request.body = body;
    Ok(request)
}

fn parse_request_line(line: &str) -> Result<(&str, &str), Rejection> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed("malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Rejection::Malformed("malformed method"));
    }
    if !target.starts_with('/') || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Rejection::Malformed("malformed request target"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(Rejection::Malformed("unsupported HTTP version"));
    }
    Ok((method, target))
}

/// One read, waiting no longer than the I/O timeout nor past the request's deadline.
fn read_some(
    stream: &mut TcpStream,
    into: &mut [u8],
    deadline: Instant,
    options: &ServerOptions,
    first: bool,
) -> Result<usize, Rejection> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Rejection::Timeout);
    }
    let _ = stream.set_read_timeout(Some(left.min(options.io_timeout)));
    match stream.read(into) {
        Ok(0) => Err(Rejection::Gone),
        Ok(n) => Ok(n),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            // An idle connection that never sent a byte is just closed.
            if first {
                Err(Rejection::Gone)
            } else {
                Err(Rejection::Timeout)
            }
        }
        Err(_) => Err(Rejection::Gone),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_decode() {
        assert_eq!(
            form_value(b"a=1&token=x%2By+z", "token").as_deref(),
            Some("x+y z")
        );
        assert_eq!(form_value(b"token=%zz", "token"), None);
        assert_eq!(form_value(b"token=%e2%82", "token"), None, "not UTF-8");
        assert_eq!(form_value(b"tok", "token"), None);
    }

    #[test]
    fn request_lines() {
        assert!(parse_request_line("GET / HTTP/1.1").is_ok());
        assert!(parse_request_line("GET  / HTTP/1.1").is_err());
        assert!(parse_request_line("get / HTTP/1.1").is_err());
        assert!(parse_request_line("GET x HTTP/1.1").is_err());
        assert!(parse_request_line("GET / HTTP/2").is_err());
    }
}
