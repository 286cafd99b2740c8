//! The machine a benchmark ran on, and how busy it was: numbers from a loaded 2-core box mean
//! little without the load average beside them.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Host {
    pub cpu: String,
    pub cores: usize,
    pub os: String,
    pub arch: String,
    /// 1-, 5- and 15-minute load averages from /proc/loadavg when the run started and ended.
    pub load_before: Option<[f64; 3]>,
    pub load_after: Option<[f64; 3]>,
    /// Seconds since the Unix epoch when the run started.
    pub started_unix_s: u64,
    pub edge_ssl_version: String,
}

impl Host {
    pub fn now() -> Self {
        Host {
            cpu: cpu_model().unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            load_before: load_average(),
            load_after: None,
            started_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            edge_ssl_version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    pub fn finish(&mut self) {
        self.load_after = load_average();
    }

    pub fn describe_load(&self) -> String {
        let show = |l: Option<[f64; 3]>| {
            l.map_or("n/a".into(), |[a, b, c]| format!("{a:.2} {b:.2} {c:.2}"))
        };
        format!(
            "load average {} at start, {} at end ({} cores)",
            show(self.load_before),
            show(self.load_after),
            self.cores
        )
    }
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name") || l.starts_with("Model"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// A `Vm*` line of /proc/self/status in MB (Linux only; `None` elsewhere).
pub fn proc_status_mb(key: &str) -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn reads_own_rss() {
        let hwm = super::proc_status_mb("VmHWM:").unwrap();
        let rss = super::proc_status_mb("VmRSS:").unwrap();
        // The kernel updates VmHWM lazily, so it may briefly trail VmRSS; both must be read.
        assert!(hwm > 0.5 && rss > 0.5, "hwm {hwm} rss {rss}");
    }
}
