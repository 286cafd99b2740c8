//! Runs one measurement in a fresh process — this executable again (`--measure-one`) or a Python
//! peer — and reads the one JSON object it prints last on stdout.

use std::path::Path;
use std::process::Command;

use super::adapt_cost::Settings;
use super::measurement::Measurement;
use super::worker::{Budget, Combination};
use crate::error::{Context, bail};

/// `edge-ssl bench --model MODEL` again, in this executable: the start of every child's command.
fn this_bench(model: &str) -> crate::Result<Command> {
    let exe = std::env::current_exe().map_err(|e| crate::Error::io("/proc/self/exe", e));
    let mut cmd = Command::new(exe.context("finding this executable to re-run it")?);
    cmd.args(["bench", "--model", model]);
    Ok(cmd)
}

/// The child measuring `combo` (`--measure-one`): same model, budget, ONNX Runtime library and
/// end-to-end pictures.
pub fn measure_command(
    model: &str,
    combo: &Combination,
    budget: Budget,
    ort_lib: Option<&Path>,
    e2e: Option<&Path>,
) -> crate::Result<Command> {
    let mut cmd = this_bench(model)?;
    cmd.args(["--measure-one", &combo.to_arg()])
        .args(["--warmup", &budget.warmup.to_string()]);
    match budget.iters {
        Some(n) => cmd.args(["--iters", &n.to_string()]),
        None => cmd.args(["--seconds", &budget.seconds.to_string()]),
    };
    if let Some(lib) = ort_lib {
        cmd.arg("--ort-lib").arg(lib);
    }
    if let Some(dir) = e2e {
        cmd.arg("--e2e").arg(dir);
    }
    Ok(cmd)
}

/// The child running one side of `bench --adapt` (`--adapt-child WHAT:ENGINE:THREADS`) with the
/// same model, frames, sampling, views and epochs.
pub fn adapt_command(
    model: &str,
    settings: &Settings,
    what: &str,
    engine: &str,
    threads: usize,
) -> crate::Result<Command> {
    let mut cmd = this_bench(model)?;
    cmd.arg("--adapt")
        .arg(settings.data)
        .args(["--views", &settings.views.to_string()])
        .args(["--epochs", &settings.epochs.to_string()])
        .args(["--adapt-child", &format!("{what}:{engine}:{threads}")]);
    let sampling = &settings.sampling;
    if let Some(fps) = sampling.fps {
        cmd.args(["--fps", &fps.to_string()]);
    }
    if let Some(dedup) = sampling.dedup_threshold {
        cmd.args(["--dedup", &dedup.to_string()]);
    }
    if let Some(n) = sampling.max_frames {
        cmd.args(["--max-frames", &n.to_string()]);
    }
    if let Some(lib) = &settings.options.ort_lib {
        cmd.arg("--ort-lib").arg(lib);
    }
    Ok(cmd)
}

/// Runs `cmd` to completion and parses its last stdout line as a [`Measurement`]. A failing
/// child's own `error:` line (or last stderr line) becomes the error.
pub fn run_measurement(cmd: Command, what: &str) -> crate::Result<Measurement> {
    run_json(cmd, what)
}

/// Runs `cmd` to completion and parses its last JSON line on stdout as a `T`.
pub fn run_json<T: serde::de::DeserializeOwned>(mut cmd: Command, what: &str) -> crate::Result<T> {
    die_with_parent(&mut cmd);
    let out = cmd
        .output()
        .map_err(|e| crate::Error::io(cmd.get_program(), e))
        .with_context(|| format!("starting {what}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let reason = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
            .map(|l| l.trim_start_matches("error:").trim().to_owned())
            .unwrap_or_else(|| format!("exited with {}", out.status));
        bail!(Bench, "{reason}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| crate::Error::Bench(format!("{what} printed no JSON result")))?;
    serde_json::from_str(line).map_err(|e| {
        crate::Error::Bench(format!("{what} printed a malformed result ({e}): {line}"))
    })
}

/// A measuring child (hundreds of MB) must not outlive a `bench` that was killed or sent
/// SIGTERM: on Linux the kernel sends it SIGKILL when its parent dies (`PR_SET_PDEATHSIG`).
/// Set between fork and exec; a parent that died before that is caught by `getppid`.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the closure runs in the forked child and makes only async-signal-safe calls
        // (prctl, getppid, _exit); it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// One [`AdaptCost`](super::adapt_report::AdaptCost) row: `repeat` pairs of fresh children,
/// `adapt` then plain embedding, on `engine` with `threads`; `log` gets a line per child.
pub fn adapt_row(
    model: &str,
    settings: &Settings,
    (engine, threads): (&str, usize),
    repeat: usize,
    log: &mut dyn FnMut(String),
) -> crate::Result<super::adapt_report::AdaptCost> {
    let mut side = |what: &str| -> crate::Result<super::adapt_cost::ChildResult> {
        let cmd = adapt_command(model, settings, what, engine, threads)?;
        let result: super::adapt_cost::ChildResult =
            run_json(cmd, &format!("{what} on {engine} t{threads}"))?;
        log(format!(
            "{what:<5} {engine} t{threads}: {}",
            result.summary()
        ));
        Ok(result)
    };
    let runs = (0..repeat.max(1))
        .map(|_| Ok((side("adapt")?, side("embed")?)))
        .collect::<crate::Result<Vec<_>>>()?;
    let shape = (settings.views, settings.epochs);
    super::adapt_report::AdaptCost::from_runs(engine, threads, shape, runs)
        .ok_or_else(|| crate::Error::Data("no run was measured".into()))
}
