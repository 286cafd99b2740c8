use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Lines kept verbatim for warnings; the count goes on after that.
const KEEP: usize = 8;

/// What ffmpeg said on stderr. It runs with `-v error`, so each message is an error it
/// recovered from (a damaged packet, a slice it concealed) or the reason it gave up.
#[derive(Debug, Default)]
pub(crate) struct StderrLog {
    pub first: Vec<String>,
    pub messages: u64,
}

/// Drains a child's stderr on a thread: ffmpeg blocks once the pipe is full, so nobody reading it
/// would stall decoding after a few hundred damaged packets.
pub(crate) fn drain(stderr: impl Read + Send + 'static) -> (Arc<Mutex<StderrLog>>, JoinHandle<()>) {
    let log = Arc::new(Mutex::new(StderrLog::default()));
    let shared = Arc::clone(&log);
    let handle = std::thread::spawn(move || {
        for line in BufReader::new(stderr).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).trim().to_owned();
            let mut log = shared.lock().unwrap_or_else(|e| e.into_inner());
            log.record(&line);
        }
    });
    (log, handle)
}

impl StderrLog {
    fn record(&mut self, line: &str) {
        // "    Last message repeated 3 times" stands for three more messages.
        if let Some(n) = line
            .strip_prefix("Last message repeated ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
        {
            self.messages += n;
            return;
        }
        // Messages start with "[codec @ 0x…]" or are a bare line; a line that only continues
        // the previous message (ffmpeg splits some on '\n') is kept but not counted.
        let continuation = !line.starts_with('[') && !self.first.is_empty() && self.messages > 0;
        if line.is_empty() {
            return;
        }
        if !continuation {
            self.messages += 1;
        }
        if self.first.len() < KEEP {
            self.first.push(strip_context(line).to_owned());
        }
    }
}

/// Drops the "[msmpeg4 @ 0x55…] " prefix: the address means nothing to a user, and the codec is
/// already in [`SourceInfo`](crate::SourceInfo).
fn strip_context(line: &str) -> &str {
    match line.find("] ") {
        Some(end) if line.starts_with('[') => line[end + 2..].trim(),
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_messages_and_repeats() {
        let mut log = StderrLog::default();
        for line in [
            "[msmpeg4 @ 0x1] ignoring overflow at 39 12",
            "Last message repeated 1 times",
            "[msmpeg4 @ 0x1] ac-tex damaged at 39 12",
            "[msmpeg4 @ 0x1] ",
            "error while decoding block: 39 x 12 (5)",
            "[msmpeg4 @ 0x1] Error at MB: 627",
        ] {
            log.record(line);
        }
        assert_eq!(log.messages, 5);
        assert_eq!(log.first[0], "ignoring overflow at 39 12");
    }
}
