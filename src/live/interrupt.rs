//! Ctrl-C as a flag the frame loop checks, so a live run stops between frames and still prints
//! its summary, flushes its files and closes the serial port.
//!
//! The handler only stores to an atomic (all a signal handler may safely do). A second Ctrl-C
//! while the first is being honoured exits at once with status 130, for a run stuck somewhere
//! the flag is not checked (a camera that stopped delivering, before its timeout).

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // SAFETY: `_exit` is async-signal-safe; nothing else is touched.
        unsafe { libc::_exit(130) };
    }
}

/// Installs the SIGINT (and SIGTERM) handler. Safe to call more than once.
pub fn install() -> anyhow::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler has the C signature `signal` expects and only touches an atomic
        // (or calls `_exit`).
        let handler = on_sigint as extern "C" fn(libc::c_int);
        let previous = unsafe { libc::signal(signal, handler as libc::sighandler_t) };
        if previous == libc::SIG_ERR {
            anyhow::bail!(
                "cannot install a signal handler: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

/// Whether Ctrl-C (or SIGTERM) has arrived since [`install`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}
