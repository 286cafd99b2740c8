#!/usr/bin/env bash
# Cross-builds the no_std crates that firmware shares (crates/link, crates/display) for a
# Cortex-M4F/M7F target with no std features, so nothing that needs std or alloc slips into them.
# Called by .ci/run; safe to run by hand from any directory.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=thumbv7em-none-eabihf
if ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET"
fi
cargo build -p edge-ssl-link -p edge-ssl-display --target "$TARGET"
echo "no_std: edge-ssl-link and edge-ssl-display build for $TARGET"
