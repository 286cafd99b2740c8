//! The optional token on the endpoints that write: `Authorization: Bearer <token>` or
//! `?token=<token>` (what the page itself uses when opened as `/?token=…`). Compared in constant
//! time so the comparison does not leak how much of a guess was right.

use crate::http::request::Request;

/// Whether a state-changing request comes from the page itself. Browsers send `Origin` with
/// every cross-site `POST`, and a JSON or form `POST` is a "simple" request that needs no
/// preflight, so without this any web page open in the same browser could label frames or
/// start a refit on a device at `127.0.0.1`. Clients that are not browsers send no `Origin`.
pub(crate) fn same_origin(request: &Request) -> bool {
    let Some(origin) = request.header("origin") else {
        return true;
    };
    let host = request.header("host").unwrap_or("");
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    origin_host.is_some_and(|o| !host.is_empty() && o.eq_ignore_ascii_case(host))
}

pub(crate) fn authorized(request: &Request, token: Option<&str>) -> bool {
    let Some(token) = token else { return true };
    let bearer = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string());
    [bearer, request.query_param("token")]
        .into_iter()
        .flatten()
        .any(|given| same(given.as_bytes(), token.as_bytes()))
}

fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
