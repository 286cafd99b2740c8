//! The heartbeat thread. The SuperLink marks a node offline when heartbeats stop (after
//! about twice the announced interval), and turns a reply pushed by a node it thinks is
//! gone into "node unavailable"; so heartbeats run for as long as the node is joined, beside
//! the work, not between messages.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::proto;
use crate::transport::Transport;

/// What the heartbeat thread learned, for the main loop to act on.
#[derive(Debug, Default)]
pub struct HeartbeatState {
    /// The SuperLink answered `success = false` or 401: it does not know this node.
    pub forgotten: AtomicBool,
}

/// A running heartbeat; stops (and joins) on drop.
pub struct Heartbeat {
    stop: Arc<(Mutex<bool>, Condvar)>,
    state: Arc<HeartbeatState>,
    handle: Option<JoinHandle<()>>,
}

impl Heartbeat {
    /// Starts heartbeating for `node_id` every ~0.8 × `interval_s` (Flower's multiplier),
    /// retrying after a second when a beat fails.
    pub fn start(transport: Transport, node_id: u64, interval_s: f64) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let state = Arc::new(HeartbeatState::default());
        let (stop2, state2) = (Arc::clone(&stop), Arc::clone(&state));
        let handle = std::thread::Builder::new()
            .name("flwr-heartbeat".into())
            .spawn(move || run(&transport, node_id, interval_s, &stop2, &state2))
            .ok();
        Self {
            stop,
            state,
            handle,
        }
    }

    /// What the thread learned so far.
    #[must_use]
    pub fn state(&self) -> &HeartbeatState {
        &self.state
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
        }
        cv.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn run(
    transport: &Transport,
    node_id: u64,
    interval_s: f64,
    stop: &(Mutex<bool>, Condvar),
    state: &HeartbeatState,
) {
    let request = proto::SendNodeHeartbeatRequest {
        node: Some(proto::Node { node_id }),
        heartbeat_interval: interval_s,
    };
    let mut beat: u64 = 0;
    loop {
        let ok = match transport
            .call::<_, proto::SendNodeHeartbeatResponse>("send-node-heartbeat", &request)
        {
            Ok(r) if r.success => true,
            Ok(_) | Err(crate::FleetError::Unauthorized { .. }) => {
                state.forgotten.store(true, Ordering::SeqCst);
                false
            }
            Err(_) => false,
        };
        beat += 1;
        // ±10 % jitter so a fleet started together does not beat in lockstep.
        let jitter = 1.0
            + 0.1
                * (((beat.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f64 / f64::from(1 << 24))
                    * 2.0
                    - 1.0);
        let wait = if ok { interval_s * 0.8 * jitter } else { 1.0 };
        let (lock, cv) = stop;
        let Ok(guard) = lock.lock() else { return };
        let Ok((guard, _)) =
            cv.wait_timeout_while(guard, Duration::from_secs_f64(wait.max(0.05)), |s| !*s)
        else {
            return;
        };
        if *guard {
            return;
        }
    }
}
