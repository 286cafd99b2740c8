//! Hot loops built twice: for the baseline CPU and for AVX2, picked at run time.
//!
//! The crates are compiled for the target's baseline (x86-64: SSE2, 4 floats a register); only
//! matrix-product libraries dispatch on the CPU by themselves. A plain loop that LLVM vectorizes runs twice as wide
//! inside a function compiled with AVX2. The operations are the same either way — no FMA is
//! enabled, and Rust never fuses a multiply and an add on its own — so both variants give the
//! same bits, and a result does not depend on which CPU made it.

/// `avx2_dispatch! { fn name(args) -> R { body } }` defines `name`, which runs `body` compiled
/// for AVX2 where the CPU has it and for the baseline elsewhere. Loops in `body` should be plain
/// `for` loops: the closure of an iterator adapter (`for_each`) may stay out of line, built for
/// the baseline.
#[macro_export]
macro_rules! avx2_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn any($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    any($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            any($($arg),*)
        }
    };
}
