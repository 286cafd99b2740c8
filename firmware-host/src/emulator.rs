//! A device on the far side of a real pseudo-terminal, for tests and demos without hardware.
//!
//! The host opens a *stable path* (as it would `/dev/serial/by-id/…`), which is a symlink to the
//! pty's slave end; a thread holds the master end and plays the firmware ([`EmulatedDevice`]).
//! [`unplug`](DeviceEmulator::unplug) closes the pty and removes the symlink — the host sees I/O
//! errors and then a missing path, as with a pulled USB cable — and [`plug`](DeviceEmulator::plug)
//! makes a fresh pty behind the same path, as a re-enumerated device would.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use edge_ssl_link::MAX_FRAME_LEN;
use serialport::{SerialPort, TTYPort};

use crate::device::{DeviceOptions, EmulatedDevice};
use crate::error::LinkError;

/// One plugged-in session: the pty and the thread serving it.
struct Plugged {
    stop: Arc<AtomicBool>,
    outbox: Sender<Vec<u8>>,
    thread: JoinHandle<()>,
    pty: PathBuf,
}

/// An emulated device reachable at a stable path. Dropping it unplugs it.
pub struct DeviceEmulator {
    device: Arc<Mutex<EmulatedDevice>>,
    path: PathBuf,
    plugged: Option<Plugged>,
}

impl DeviceEmulator {
    /// Creates the device and plugs it in at `path` (a symlink this emulator owns).
    pub fn spawn(path: impl Into<PathBuf>, options: DeviceOptions) -> Result<Self, LinkError> {
        let mut emulator = DeviceEmulator {
            device: Arc::new(Mutex::new(EmulatedDevice::new(options))),
            path: path.into(),
            plugged: None,
        };
        emulator.plug()?;
        Ok(emulator)
    }

    /// The path the host should open.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty slave the path points at now (`/dev/pts/N`), if plugged.
    pub fn pty_path(&self) -> Option<&Path> {
        self.plugged.as_ref().map(|p| p.pty.as_path())
    }

    pub fn is_plugged(&self) -> bool {
        self.plugged.is_some()
    }

    /// Creates a fresh pty and points the path at it. Does nothing if already plugged.
    pub fn plug(&mut self) -> Result<(), LinkError> {
        if self.plugged.is_some() {
            return Ok(());
        }
        let (master, slave) = TTYPort::pair().map_err(LinkError::Pty)?;
        let pty = PathBuf::from(slave.name().unwrap_or_default());
        let io = |source| LinkError::Io {
            path: self.path.clone(),
            source,
        };
        remove_link(&self.path).map_err(io)?;
        std::os::unix::fs::symlink(&pty, &self.path).map_err(io)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (outbox, inbox) = mpsc::channel();
        let device = Arc::clone(&self.device);
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("device-emulator".into())
            .spawn(move || serve(master, slave, device, inbox, thread_stop))
            .map_err(io)?;
        self.plugged = Some(Plugged {
            stop,
            outbox,
            thread,
            pty,
        });
        Ok(())
    }

    /// Closes the pty and removes the path, like pulling the cable. Does nothing if unplugged.
    pub fn unplug(&mut self) {
        if let Some(plugged) = self.plugged.take() {
            plugged.stop.store(true, Ordering::Relaxed);
            let _ = plugged.thread.join();
            let _ = remove_link(&self.path);
            self.lock().reset_link();
        }
    }

    /// Sends raw bytes from the device to the host (e.g. garbage, to test the host's decoder).
    pub fn send_raw(&self, bytes: &[u8]) {
        if let Some(plugged) = &self.plugged {
            let _ = plugged.outbox.send(bytes.to_vec());
        }
    }

    /// The device's state, locked; keep the guard short, the serving thread waits on it.
    pub fn lock(&self) -> MutexGuard<'_, EmulatedDevice> {
        self.device.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Polls until `done` holds for the device's state or `timeout` passes; returns whether it held.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&EmulatedDevice) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.lock()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for DeviceEmulator {
    fn drop(&mut self) {
        self.unplug();
    }
}

/// Removes a symlink (or file) at `path`; a missing one is fine.
fn remove_link(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The firmware's main loop: read, decode, answer. `_slave` is held so the pty stays open (and
/// its path valid) while no host has it open; both ends close when the loop ends.
fn serve(
    mut master: TTYPort,
    _slave: TTYPort,
    device: Arc<Mutex<EmulatedDevice>>,
    inbox: Receiver<Vec<u8>>,
    stop: Arc<AtomicBool>,
) {
    let _ = master.set_timeout(Duration::from_millis(5));
    let mut buf = [0u8; 512];
    let mut frame = [0u8; MAX_FRAME_LEN];
    while !stop.load(Ordering::Relaxed) {
        while let Ok(bytes) = inbox.try_recv() {
            let _ = master.write_all(&bytes);
        }
        match master.read(&mut buf) {
            Ok(n) if n > 0 => {
                let mut device = device.lock().unwrap_or_else(PoisonError::into_inner);
                let replies = device.receive(&buf[..n]);
                for reply in replies {
                    if let Ok(len) = device.encode(&reply, &mut frame) {
                        let _ = master.write_all(&frame[..len]);
                    }
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::TimedOut => {}
            // No reader on the other side (or a transient error): wait a little, keep serving.
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}
