//! `edge-ssl run --loop --http` in a real browser: headless Chromium (Debian `chromium`),
//! driven over the DevTools protocol on a pipe, loads the live page while the run classifies
//! OpenCV's vtest.avi, and the test checks that the page updates (its frame counter grows and
//! the frame image loads), labels two frames through the page's own form, presses the refit
//! button, sees the refit finish and the loop switch to the new head's classes, and keeps a
//! screenshot as an artifact (`<target>/tmp/run_page_browser.png`).
//!
//! Without chromium the test says so and passes, unless EDGE_SSL_BROWSER_REQUIRED=1 (CI).

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
const TOKEN: &str = "page-test-token";

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("chromium"), d.join("chromium-browser")])
        .find(|p| p.is_file())
}

/// Kills the child when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `edge-ssl run --loop --http 127.0.0.1:0` and the address it printed.
fn start_run(model: &Path, labels: &Path) -> (Reaped, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge-ssl"))
        .args(["run", "--loop", "--model"])
        .arg(model)
        .args([
            "--source",
            VTEST,
            "--http",
            "127.0.0.1:0",
            "--http-token",
            TOKEN,
        ])
        .arg("--labels-dir")
        .arg(labels)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let child = Reaped(child);
    let (tx, rx) = channel();
    // Keeps draining stderr so the run never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("run: {line}");
            if let Some(rest) = line.strip_prefix("http: live page on http://") {
                let _ = tx.send(rest.split('/').next().unwrap_or("").to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("`run --http` did not print its address");
    (child, addr)
}

/// A DevTools-protocol client over `--remote-debugging-pipe` (fd 3 in, fd 4 out, messages
/// separated by NUL bytes).
struct Browser {
    to: File,
    from: Receiver<Value>,
    next: u64,
    _child: Reaped,
}

fn cloexec_pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // Numbers above 4, so the dup2 onto 3 and 4 in the child never meets itself.
    let high = |fd: RawFd| {
        let moved = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
        assert!(moved >= 10);
        unsafe { libc::close(fd) };
        moved
    };
    (high(fds[0]), high(fds[1]))
}

impl Browser {
    fn launch(exe: &Path, profile: &Path) -> Browser {
        let (chrome_reads, we_write) = cloexec_pipe();
        let (we_read, chrome_writes) = cloexec_pipe();
        let mut cmd = Command::new(exe);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--remote-debugging-pipe",
            "--window-size=1280,1500",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(chrome_reads, 3) < 0 || libc::dup2(chrome_writes, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = Reaped(cmd.spawn().unwrap());
        unsafe {
            libc::close(chrome_reads);
            libc::close(chrome_writes);
        }
        let to = unsafe { File::from_raw_fd(we_write) };
        let mut from = BufReader::new(unsafe { File::from_raw_fd(we_read) });
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            while from.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                buf.pop();
                if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                    && tx.send(v).is_err()
                {
                    break;
                }
                buf.clear();
            }
        });
        Browser {
            to,
            from: rx,
            next: 0,
            _child: child,
        }
    }

    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next += 1;
        let mut msg = json!({ "id": self.next, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no reply to {method}"));
            if reply["id"] == self.next {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    fn eval(&mut self, session: &str, expression: &str) -> Value {
        let r = self.call(
            Some(session),
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Evaluates `expression` until it is truthy (an exception counts as not yet: the page may
    /// still be loading); returns its value.
    fn wait_for(&mut self, session: &str, expression: &str, limit: Duration) -> Value {
        let started = Instant::now();
        let guarded = format!(
            "(() => {{ try {{ return ({expression}); }} catch (e) {{ return null; }} }})()"
        );
        loop {
            let v = self.eval(session, &guarded);
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            assert!(
                started.elapsed() < limit,
                "timed out waiting for `{expression}`"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|&c| u32::from(val(c))).collect();
        let n = v
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, x)| acc | (x << (18 - 6 * i)));
        out.extend(n.to_be_bytes()[1..chunk.len()].iter().copied());
    }
    out
}

fn http_get(addr: &str, path: &str) -> Value {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap()
}

#[test]
fn the_live_page_works_in_headless_chromium() {
    let Some(exe) = chromium() else {
        if std::env::var("EDGE_SSL_BROWSER_REQUIRED").as_deref() == Ok("1") {
            panic!("chromium not found and EDGE_SSL_BROWSER_REQUIRED=1 (apt-get install chromium)");
        }
        eprintln!("skipping: chromium not found (install the Debian package `chromium`)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    common::copy_dir(common::model_dir(), &model);
    let labels = tmp.path().join("labels");
    let (_run, addr) = start_run(&model, &labels);

    let mut browser = Browser::launch(&exe, &tmp.path().join("profile"));
    let target = browser.call(
        None,
        "Target.createTarget",
        json!({ "url": format!("http://{addr}/?token={TOKEN}") }),
    );
    let session = browser.call(
        None,
        "Target.attachToTarget",
        json!({ "targetId": target["targetId"], "flatten": true }),
    )["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    let s = session.as_str();
    let frames = "Number(document.getElementById('frames').textContent)";

    // The page is live: the counter grows, the class is shown, the frame image has loaded.
    let first = browser
        .wait_for(s, frames, Duration::from_secs(30))
        .as_u64()
        .unwrap();
    let later = browser
        .wait_for(
            s,
            &format!("{frames} > {first} && {frames}"),
            Duration::from_secs(30),
        )
        .as_u64()
        .unwrap();
    assert!(later > first);
    assert_eq!(
        browser.eval(s, "document.getElementById('conn').textContent"),
        "live"
    );
    browser.wait_for(
        s,
        "document.getElementById('frame').complete && document.getElementById('frame').naturalWidth",
        Duration::from_secs(20),
    );
    browser.wait_for(
        s,
        "document.querySelectorAll('#strip figure').length >= 2",
        Duration::from_secs(20),
    );
    let class = browser.eval(s, "document.getElementById('class').textContent");
    let status = http_get(&addr, "/status.json");
    assert!(
        status["known_classes"].as_array().unwrap().contains(&class),
        "{class} not among {}",
        status["known_classes"]
    );

    // Label two frames through the page's own form: click a strip frame, type, press Label.
    let mut labeled = Vec::new();
    for (i, name) in [(0, "pedestrian"), (1, "street")] {
        let frame = browser.eval(
            s,
            &format!(
                "(() => {{ const f = document.querySelectorAll('#strip figure')[{i}]; f.click();
                   document.getElementById('label-status').textContent = '';
                   document.getElementById('label-class').value = '{name}';
                   document.getElementById('label-btn').click(); return Number(f.dataset.frame); }})()"
            ),
        );
        let said = browser.wait_for(
            s,
            "document.getElementById('label-status').textContent",
            Duration::from_secs(10),
        );
        let said = said.as_str().unwrap();
        assert!(said.starts_with(&format!("saved {name}/")), "{said}");
        let file = said.trim_start_matches("saved ").split(' ').next().unwrap();
        assert!(
            file.ends_with(&format!("-{:06}.jpg", frame.as_u64().unwrap())),
            "{file}"
        );
        let bytes = std::fs::read(labels.join(file)).unwrap();
        image::load_from_memory(&bytes).unwrap();
        labeled.push(file.to_string());
    }
    browser.wait_for(
        s,
        "document.getElementById('labels').textContent.includes('street: 1')",
        Duration::from_secs(10),
    );

    // Refit from the page: the head is fitted on the two labels and the loop switches to it.
    let head = model.join("head.safetensors");
    let before = std::fs::read(&head).unwrap();
    browser.eval(s, "document.getElementById('refit-btn').click(); true");
    let done = browser.wait_for(
        s,
        "(t => t.startsWith('done') || t.startsWith('failed') || t.startsWith('not started') ? t : '')(document.getElementById('refit-status').textContent)",
        Duration::from_secs(60),
    );
    assert!(done.as_str().unwrap().starts_with("done"), "{done}");
    assert_ne!(
        std::fs::read(&head).unwrap(),
        before,
        "head.safetensors was replaced"
    );
    common::assert_no_temporaries(&model);
    browser.wait_for(
        s,
        "['pedestrian', 'street'].includes(document.getElementById('class').textContent)",
        Duration::from_secs(20),
    );
    let status = http_get(&addr, "/status.json");
    assert_eq!(status["known_classes"], json!(["pedestrian", "street"]));
    assert_eq!(status["refit"]["state"], "done");

    // The screenshot, kept as an artifact.
    let shot = browser.call(
        Some(s),
        "Page.captureScreenshot",
        json!({ "format": "png" }),
    );
    let png = base64_decode(shot["data"].as_str().unwrap());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("run_page_browser.png");
    std::fs::write(&out, &png).unwrap();
    eprintln!("screenshot: {} ({} bytes)", out.display(), png.len());
    let _ = browser.call(None, "Browser.close", json!({}));
}

#[test]
fn a_bad_http_address_is_a_clean_error() {
    let out = common::edge_ssl()
        .args(["run", "--model"])
        .arg(common::model_dir())
        .args([
            "--source",
            VTEST,
            "--max-frames",
            "1",
            "--http",
            "256.0.0.1:8080",
        ])
        .output()
        .unwrap();
    common::assert_clean_failure(&out, "--http 256.0.0.1:8080");
    // The token and labels flags mean nothing without a page.
    let out = common::edge_ssl()
        .args(["run", "--model"])
        .arg(common::model_dir())
        .args(["--source", VTEST, "--http-token", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--http"));
}
