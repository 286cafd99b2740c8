//! The page's threads run at a lower scheduling priority than the inference loop (nice +10 on
//! Linux, where nice is per thread): on a two-core board the JPEG encoder, the event streams
//! and a refit's embedding then take the CPU the loop leaves, instead of sharing it evenly
//! and raising its latency. Where this is not possible the threads simply run at normal
//! priority.

/// The page threads' nice value (the loop's is normally 0).
const NICE: i32 = 10;

pub(crate) fn lower() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread; failure only leaves the priority as is.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        // Threads inherit their creator's nice value: set it, do not add to it.
        if libc::getpriority(libc::PRIO_PROCESS, tid) < NICE {
            let _ = libc::setpriority(libc::PRIO_PROCESS, tid, NICE);
        }
    }
}
