//! The optional token on the endpoints that write: `Authorization: Bearer <token>` or
//! `?token=<token>` (what the page itself uses when opened as `/?token=…`). Compared in constant
//! time so the comparison does not leak how much of a guess was right.

use crate::http::request::Request;

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
