//! Fuzzes the streaming decoder: arbitrary bytes, fed in arbitrary slices, must never panic, never
//! grow the pending frame past its buffer, and account for every frame as decoded or dropped.
//! Whatever does decode must re-encode to a frame that decodes and re-encodes to the same bytes.
//!
//! Run: `cd fuzz && cargo +nightly fuzz run decoder -- -max_total_time=60`

#![no_main]

use edge_ssl_link::{Decoder, MAX_ENCODED_LEN, MAX_FRAME_LEN, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte picks the slice size, so reads split frames at every possible place.
    let Some((&step, bytes)) = data.split_first() else {
        return;
    };
    let step = usize::from(step % 64) + 1;

    let mut decoder: Decoder = Decoder::new();
    let mut results = 0u32;
    for chunk in bytes.chunks(step) {
        for result in decoder.feed(chunk) {
            results += 1;
            if let Ok(message) = result {
                // Compare re-encoded bytes, not messages: a fuzzed f32 may be NaN, and NaN != NaN.
                let mut wire = [0u8; MAX_FRAME_LEN];
                let n = encode(&message, &mut wire).expect("a decoded message re-encodes");
                let mut again: Decoder = Decoder::new();
                let back: Vec<_> = again.feed(&wire[..n]).collect();
                let [Ok(back)] = back.as_slice() else {
                    panic!("re-encoded frame did not decode: {back:?}")
                };
                let mut wire2 = [0u8; MAX_FRAME_LEN];
                let n2 = encode(back, &mut wire2).expect("re-encodes");
                assert_eq!(&wire[..n], &wire2[..n2], "encoding is not stable");
            }
        }
        assert!(decoder.pending() <= MAX_ENCODED_LEN);
    }
    let stats = decoder.stats();
    assert_eq!(
        stats.frames + stats.dropped.total(),
        results,
        "every frame is counted once"
    );
});
