#!/usr/bin/env bash
# Optional: a short libFuzzer run of the link decoder (crates/link, target fuzz/fuzz_targets/decoder.rs).
# Needs the nightly toolchain and cargo-fuzz; FUZZ_SECONDS (default 60) bounds the run.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p corpus/decoder
# seeds/decoder holds the frames of docs/link-protocol.md, so the fuzzer starts past the CRC.
cargo +nightly fuzz run decoder corpus/decoder seeds/decoder -- -max_total_time="${FUZZ_SECONDS:-60}"
