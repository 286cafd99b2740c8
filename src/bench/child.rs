//! Runs one measurement in a fresh process — this executable again (`--measure-one`) or a Python
//! peer — and reads the one JSON object it prints last on stdout.

use std::process::Command;

use anyhow::{Context, bail};

use super::measurement::Measurement;

/// Runs `cmd` to completion and parses its last stdout line as a [`Measurement`]. A failing
/// child's own `error:` line (or last stderr line) becomes the error.
pub fn run_measurement(cmd: Command, what: &str) -> anyhow::Result<Measurement> {
    run_json(cmd, what)
}

/// Runs `cmd` to completion and parses its last JSON line on stdout as a `T`.
pub fn run_json<T: serde::de::DeserializeOwned>(mut cmd: Command, what: &str) -> anyhow::Result<T> {
    let out = cmd.output().with_context(|| format!("starting {what}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let reason = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
            .map(|l| l.trim_start_matches("error:").trim().to_owned())
            .unwrap_or_else(|| format!("exited with {}", out.status));
        bail!("{reason}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("{what} printed no JSON result"))?;
    serde_json::from_str(line).with_context(|| format!("{what} printed a malformed result: {line}"))
}
