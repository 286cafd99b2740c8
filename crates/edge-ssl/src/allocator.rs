//! Process-wide memory-allocator settings that adaptation and encoder training need to run at
//! their measured speed and memory.
//!
//! glibc's `malloc` makes two choices that hurt a trainer whose every step allocates and frees
//! the same large buffers. It gives every thread that allocates its own heap arena (up to 8 per
//! core) and keeps what is freed there: `adapt`'s short-lived worker pools left freed arenas
//! behind (BN phase peak RSS 246 MB by default, 203 MB with two arenas). And it `mmap`s every
//! block above a dynamic threshold (at most 32 MiB), returns freed heap past 128 KiB to the
//! system, so each step's buffers were mapped, zeroed by the kernel and unmapped again: a fifth
//! of `adapt --train all`'s time (3 epochs on 5,000 frames: 27.3 → 19.0 s once blocks up to
//! 64 MiB come from the heap and up to 128 MiB of freed memory stay there; peak RSS +5 MB).
//! On real-size encoders' tails the gain is not there: MobileNetV3-Small `tail:2` on 100 frames
//! trained in 9.7 / 7.9 s against 9.4 / 9.2 s, peak RSS 474 against 435 MB; ResNet-18 `tail:1`
//! 16.3 against 16.9 s, 708 against 713 MB.
//!
//! These are settings of the whole process, so the library does not make them behind a
//! caller's back: a program calls [`tune_for_training`] once, early (the `edge-ssl` binary does,
//! first thing in `main`). Elsewhere than glibc Linux it does nothing.

/// Two heap arenas, blocks up to 64 MiB from the heap, freed memory kept up to 128 MiB (see
/// the module). Call once at start-up, before threads allocate.
pub fn tune_for_training() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets allocator parameters; these are valid for these options.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}
