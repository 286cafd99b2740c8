//! Labeling and refit over HTTP: the ImageFolder on disk, bad class names, the token, and the
//! background refit's states.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{get, post, start, wait_until};
use edge_ssl_page::{RefitFn, ServerOptions};

fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walk(dir) {
        out.push(e.strip_prefix(dir).unwrap().display().to_string());
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn labels_become_an_image_folder() {
    let mut live = start(ServerOptions::default());
    live.frame(4, "person");
    live.frame(5, "person");
    let a = live.addr();
    let r = post(a, "/label", r#"{"frame": 4, "class": "bike"}"#, "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let saved = r.json()["saved"].as_str().unwrap().to_string();
    assert!(
        saved.starts_with("bike/") && saved.ends_with("-000004.jpg"),
        "{saved}"
    );
    let labels = live.labels.path().join("labels");
    let on_disk = std::fs::read(labels.join(&saved)).unwrap();
    assert_eq!(
        on_disk,
        get(a, "/recent/4.jpg").body,
        "the frame's own JPEG"
    );
    image::load_from_memory(&on_disk).unwrap();

    // A form body works too; labeling the frame again moves it.
    let r = common::raw(
        a,
        b"POST /label HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 20\r\n\r\nframe=4&class=person",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["moved_from"], "bike");
    assert_eq!(
        post(a, "/label", r#"{"frame": 5, "class": "person"}"#, "").status,
        200
    );
    let listed = files(&labels);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed.iter().all(|f| f.starts_with("person/")),
        "{listed:?}"
    );
    let status = get(a, "/status.json").json();
    assert_eq!(status["labels"]["person"], 2);
    assert_eq!(status["labels"]["bike"], 0);
    assert!(
        !labels.join("bike").exists(),
        "an emptied class folder is removed"
    );
    assert!(
        status["known_classes"]
            .as_array()
            .unwrap()
            .contains(&"bike".into())
    );

    // Another site's page in the same browser cannot label (or refit); the page's own origin can.
    let body = r#"{"frame": 5, "class": "car"}"#;
    for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        let r = post(a, "/label", body, &format!("Origin: {origin}\r\n"));
        assert_eq!(r.status, 403, "{origin}");
        assert_eq!(
            post(a, "/refit", "", &format!("Origin: {origin}\r\n")).status,
            403
        );
    }
    assert!(!labels.join("car").exists());
    let r = post(a, "/label", body, &format!("Origin: http://{a}\r\n"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        post(a, "/label", r#"{"frame": 5, "class": "person"}"#, "").status,
        200
    );

    // A frame no longer (or never) held.
    let r = post(a, "/label", r#"{"frame": 99, "class": "person"}"#, "");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().unwrap().contains("frame 99"));
}

#[test]
fn bad_class_names_write_nothing() {
    let mut live = start(ServerOptions::default());
    live.frame(1, "person");
    let a = live.addr();
    let root = live.labels.path().to_owned();
    for class in [
        "../escape",
        "..",
        ".",
        "a/b",
        "/etc",
        "a\\\\b",
        ".hidden",
        "-dash",
        "a b",
        "caf\u{e9}",
        "a\\u0000b",
        "",
        "x.jpg",
        &"a".repeat(65),
    ] {
        let body = format!(r#"{{"frame": 1, "class": "{class}"}}"#);
        let r = post(a, "/label", &body, "");
        assert_eq!(
            r.status,
            400,
            "{class:?}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.json()["error"].as_str().unwrap().contains("class name"));
    }
    for body in [
        "frame=1&class=..%2F..%2Fescape",
        "frame=1&class=%2e%2e",
        "frame=1",
    ] {
        let r = common::raw(
            a,
            format!(
                "POST /label HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        assert_eq!(r.status, 400, "{body}");
    }
    for body in [
        "",
        "{",
        r#"{"frame": -1, "class": "x"}"#,
        r#"{"frame": 1}"#,
        "[1,2]",
    ] {
        assert_eq!(post(a, "/label", body, "").status, 400, "{body:?}");
    }
    // Nothing was written anywhere: not in the labels directory, not beside it.
    assert_eq!(files(&root), Vec::<String>::new());
}

#[test]
fn token_protects_label_and_refit_only() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let refit: Arc<RefitFn> = Arc::new(move |_dir: &Path| {
        seen.fetch_add(1, Ordering::SeqCst);
        Ok("ok".to_string())
    });
    let mut live = start(
        ServerOptions::default()
            .with_token(Some("t0k+en".into()))
            .with_refit(Some(refit)),
    );
    live.frame(1, "person");
    let a = live.addr();
    let body = r#"{"frame": 1, "class": "person"}"#;
    assert_eq!(post(a, "/label", body, "").status, 401);
    assert_eq!(
        post(a, "/label", body, "Authorization: Bearer wrong\r\n").status,
        401
    );
    assert_eq!(
        post(a, "/label", body, "Authorization: Bearer t0k+e\r\n").status,
        401
    );
    assert_eq!(post(a, "/label?token=t0k%2Ben1", body, "").status, 401);
    assert_eq!(post(a, "/refit", "", "").status, 401);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(files(live.labels.path()).is_empty());
    assert_eq!(get(a, "/status.json").json()["token_required"], true);
    assert_eq!(get(a, "/frame.jpg").status, 200, "reading needs no token");

    assert_eq!(
        post(a, "/label", body, "Authorization: Bearer t0k+en\r\n").status,
        200
    );
    assert_eq!(post(a, "/label?token=t0k%2Ben", body, "").status, 200);
    assert_eq!(post(a, "/refit?token=t0k%2Ben", "", "").status, 202);
    wait_until(Duration::from_secs(5), || calls.load(Ordering::SeqCst) == 1);
}

#[test]
fn refit_runs_in_the_background_one_at_a_time() {
    let gate = Arc::new(std::sync::Mutex::new(()));
    let held = gate.lock().unwrap();
    let inner = gate.clone();
    let refit: Arc<RefitFn> = Arc::new(move |dir: &Path| {
        let _wait = inner.lock().unwrap();
        let n = edge_ssl_page::count_labels(dir).values().sum::<u64>();
        if n == 0 {
            return Err("no labeled frames".into());
        }
        Ok(format!("fitted on {n} frames"))
    });
    let mut live = start(ServerOptions::default().with_refit(Some(refit)));
    let a = live.addr();
    let r = post(a, "/refit", "", "");
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["refit"], 1);
    assert_eq!(get(a, "/status.json").json()["refit"]["state"], "running");
    assert_eq!(post(a, "/refit", "", "").status, 409, "one at a time");
    drop(held);
    let refit_state = || get(a, "/status.json").json()["refit"].clone();
    wait_until(Duration::from_secs(5), || {
        refit_state()["state"] == "failed"
    });
    assert_eq!(refit_state()["message"], "no labeled frames");

    live.frame(3, "person");
    assert_eq!(
        post(a, "/label", r#"{"frame": 3, "class": "car"}"#, "").status,
        200
    );
    assert_eq!(post(a, "/refit", "", "").status, 202);
    wait_until(Duration::from_secs(5), || refit_state()["state"] == "done");
    let s = refit_state();
    assert_eq!(s["message"], "fitted on 1 frames");
    assert_eq!(s["runs"], 2);
    assert!(s["seconds"].as_f64().unwrap() >= 0.0);
}

#[test]
fn a_panicking_refit_is_reported() {
    let refit: Arc<RefitFn> = Arc::new(|_: &Path| panic!("boom"));
    let live = start(ServerOptions::default().with_refit(Some(refit)));
    let a = live.addr();
    assert_eq!(post(a, "/refit", "", "").status, 202);
    wait_until(Duration::from_secs(5), || {
        get(a, "/status.json").json()["refit"]["state"] == "failed"
    });
    assert_eq!(
        post(a, "/refit", "", "").status,
        202,
        "a failed refit can be retried"
    );
}

#[test]
fn label_and_refit_without_a_directory_or_callback() {
    let state = Arc::new(edge_ssl_page::LiveState::new(&[]));
    let server =
        edge_ssl_page::Server::start("127.0.0.1:0", state, ServerOptions::default()).unwrap();
    let a = server.local_addr();
    assert_eq!(
        post(a, "/label", r#"{"frame": 1, "class": "x"}"#, "").status,
        503
    );
    assert_eq!(post(a, "/refit", "", "").status, 503);
}
