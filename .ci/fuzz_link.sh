#!/usr/bin/env bash
# A bounded libFuzzer run of the link decoder (crates/link, target fuzz/fuzz_targets/decoder.rs).
# Called by .ci/run; safe to run by hand from any directory. FUZZ_SECONDS (default 60) bounds
# the run. A crash, a panic, a failed assertion in the target, or one input taking longer than
# FUZZ_TIMEOUT seconds (default 10) makes cargo-fuzz exit non-zero, and with it this script;
# the input that did it is left in fuzz/artifacts/decoder/ and printed as a hex dump.
# Measured from a cold fuzz/target on 2 busy cores: about 3 min to build, then the run.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

# libFuzzer needs nightly (-Z sanitizer flags); cargo-fuzz itself builds on stable.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    # A machine that cannot fetch a toolchain says so loudly instead of failing every other check.
    if ! rustup toolchain install nightly --profile minimal; then
        echo "fuzz_link: SKIPPED: no nightly toolchain here and none could be installed" >&2
        exit 0
    fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

mkdir -p corpus/decoder
# seeds/decoder holds the frames of docs/link-protocol.md, so the fuzzer starts past the CRC
# (crates/link/tests/protocol_doc.rs keeps them in step; v1-all-examples: version-1 frames).
if ! cargo +nightly fuzz run decoder corpus/decoder seeds/decoder -- \
    -max_total_time="${FUZZ_SECONDS:-60}" -timeout="${FUZZ_TIMEOUT:-10}" -print_final_stats=1; then
    for crash in artifacts/decoder/*; do
        [ -f "$crash" ] || continue
        echo "fuzz_link: failing input $crash:"
        od -A x -t x1z "$crash" | head -20
    done
    echo "fuzz_link: the link decoder failed under fuzzing" >&2
    exit 1
fi
echo "fuzz_link: no crash in ${FUZZ_SECONDS:-60} s"
