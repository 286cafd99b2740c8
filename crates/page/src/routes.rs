//! Which request gets what. Every path parameter is parsed into a number or a checked class
//! name before it is used; nothing from a URL or a body ever becomes part of a path unchecked.

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::json;

use crate::auth::{authorized, same_origin};
use crate::http::request::{Rejection, Request, read_request};
use crate::http::response::Response;
use crate::label::{ClassName, parse_body, parse_frame, save_label};
use crate::options::ServerOptions;
use crate::state::LiveState;

/// What every connection thread shares.
pub(crate) struct Ctx {
    pub state: Arc<LiveState>,
    pub options: ServerOptions,
    pub stop: Arc<AtomicBool>,
    /// Names this run in label file names (the server's start, in Unix seconds).
    pub run_id: u64,
}

/// Serves one connection: one request, one response (or an event stream).
pub(crate) fn serve(mut stream: TcpStream, ctx: &Ctx) {
    let _ = stream.set_write_timeout(Some(ctx.options.io_timeout));
    let _ = stream.set_nodelay(true);
    let request = match read_request(&mut stream, &ctx.options) {
        Ok(r) => r,
        Err(Rejection::Gone) => return,
        Err(r) => {
            Response::error(r.status(), r.reason()).write_to(&mut stream);
            crate::server::close_gently(stream);
            return;
        }
    };
    if request.path == "/events" && request.method == "GET" {
        crate::events::stream(&mut stream, &ctx.state, &ctx.options, &ctx.stop);
        return;
    }
    route(&request, ctx).write_to(&mut stream);
    crate::server::close_gently(stream);
}

fn route(request: &Request, ctx: &Ctx) -> Response {
    let path = request.path.as_str();
    let get = request.method == "GET";
    let post = request.method == "POST";
    match path {
        "/" | "/index.html" if get => Response::new(
            200,
            "text/html; charset=utf-8",
            crate::page::PAGE.as_bytes(),
        ),
        "/status.json" if get => match serde_json::to_vec(&ctx.state.snapshot()) {
            Ok(body) => Response::new(200, "application/json", body),
            Err(_) => Response::error(500, "could not render the status"),
        },
        "/frame.jpg" if get => match ctx.state.newest_frame() {
            Some(f) => jpeg(f.prediction.frame, f.jpeg.clone()),
            None => Response::error(404, "no frame yet"),
        },
        "/favicon.ico" if get => Response::new(204, "image/x-icon", Vec::new()),
        "/label" if post => label(request, ctx),
        "/refit" if post => refit(request, ctx),
        "/" | "/index.html" | "/status.json" | "/frame.jpg" | "/events" => {
            Response::error(405, "method not allowed").with_header("Allow", "GET")
        }
        "/label" | "/refit" => {
            Response::error(405, "method not allowed").with_header("Allow", "POST")
        }
        _ => match path.strip_prefix("/recent/") {
            Some(rest) if get => recent(rest, ctx),
            Some(_) => Response::error(405, "method not allowed").with_header("Allow", "GET"),
            None => Response::error(404, "no such page"),
        },
    }
}

fn jpeg(frame: u64, body: Arc<[u8]>) -> Response {
    Response::new(200, "image/jpeg", body).with_header("X-Frame", frame.to_string())
}

fn recent(rest: &str, ctx: &Ctx) -> Response {
    let Some(frame) = rest.strip_suffix(".jpg").and_then(parse_frame) else {
        return Response::error(400, "expected /recent/<frame number>.jpg");
    };
    match ctx.state.frame(frame) {
        Some(f) => jpeg(frame, f.jpeg.clone()),
        None => Response::error(404, &format!("frame {frame} is not held")),
    }
}

fn unauthorized() -> Response {
    Response::error(
        401,
        "a token is required (Authorization: Bearer <token> or ?token=)",
    )
    .with_header("WWW-Authenticate", "Bearer")
}

fn cross_origin() -> Response {
    Response::error(403, "cross-origin request refused")
}

fn label(request: &Request, ctx: &Ctx) -> Response {
    if !same_origin(request) {
        return cross_origin();
    }
    if !authorized(request, ctx.options.token.as_deref()) {
        return unauthorized();
    }
    let Some(dir) = &ctx.options.labels_dir else {
        return Response::error(503, "labeling is not enabled (no labels directory)");
    };
    let (frame, class) = match parse_body(&request.body) {
        Ok(v) => v,
        Err(why) => return Response::error(400, why),
    };
    let class = match ClassName::parse(&class) {
        Ok(c) => c,
        Err(e) => return Response::error(400, &e.to_string()),
    };
    let Some(record) = ctx.state.frame(frame) else {
        return Response::error(404, &crate::error::PageError::FrameGone(frame).to_string());
    };
    let stem = format!("{}-{frame:06}", ctx.run_id);
    match save_label(dir, &class, &stem, &record.jpeg) {
        Ok(saved) => {
            ctx.state
                .label_saved(class.as_str(), saved.moved_from.as_deref());
            Response::json(
                200,
                &json!({
                    "frame": frame, "class": class.as_str(),
                    "saved": format!("{}/{stem}.jpg", class.as_str()),
                    "moved_from": saved.moved_from,
                }),
            )
        }
        Err(e) => Response::error(500, &crate::refit::chain(&e)),
    }
}

fn refit(request: &Request, ctx: &Ctx) -> Response {
    if !same_origin(request) {
        return cross_origin();
    }
    if !authorized(request, ctx.options.token.as_deref()) {
        return unauthorized();
    }
    let (Some(callback), Some(dir)) = (&ctx.options.refit, &ctx.options.labels_dir) else {
        return Response::error(503, "refit is not enabled");
    };
    match crate::refit::start(&ctx.state, callback.clone(), dir.clone()) {
        Ok(Some(run)) => Response::json(202, &json!({ "refit": run, "state": "running" })),
        Ok(None) => Response::error(409, "a refit is already running"),
        Err(e) => Response::error(500, &crate::refit::chain(&e)),
    }
}
