//! A source path is a local path, whatever it looks like to ffmpeg.
//!
//! This binary holds one test because it changes the working directory: the dangerous paths are
//! relative ones (`http://127.0.0.1:PORT/x.avi` is, on disk, `http:/127.0.0.1:PORT/x.avi`), and
//! the working directory is shared by every thread of a process.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use edge_ssl_source::{FrameSource, SourceOptions, open_source};

const VTEST: &str = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

#[test]
fn a_path_that_looks_like_a_url_is_decoded_locally_and_nothing_connects() {
    assert!(
        Path::new(VTEST).exists(),
        "{VTEST} missing: apt-get install opencv-doc"
    );
    // A loopback listener that records every connection and closes it at once, so an ffmpeg
    // that did connect fails fast instead of waiting for an HTTP answer.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let (seen, requests) = (Arc::clone(&connections), mpsc::channel::<String>());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .ok();
            let mut request = [0u8; 256];
            let n = stream.read(&mut request).unwrap_or(0);
            let _ = requests
                .0
                .send(String::from_utf8_lossy(&request[..n]).into_owned());
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/x.avi");
    let local = dir.path().join(format!("http:/127.0.0.1:{port}/x.avi"));
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    std::fs::copy(VTEST, &local).unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    assert!(
        Path::new(&url).is_file(),
        "the URL-like text names the local copy"
    );

    let mut source = open_source(&url, &SourceOptions::default()).unwrap_or_else(|e| {
        panic!(
            "{e} ({} connection(s) to the loopback listener)",
            connections.load(Ordering::SeqCst)
        )
    });
    assert_eq!(source.info().width, Some(768));
    for _ in 0..3 {
        let frame = source.next_frame().unwrap().expect("a frame");
        assert_eq!(frame.image.width(), 768);
    }
    drop(source);
    std::thread::sleep(Duration::from_millis(300));
    let got = requests.1.try_recv().unwrap_or_default();
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "ffmpeg connected to the loopback listener: {got:?}"
    );
}
