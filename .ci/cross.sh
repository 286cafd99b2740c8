#!/usr/bin/env bash
# Cross-compiles edge-ssl for the ARM edge devices and runs the tract-backend tests on aarch64
# under qemu-user emulation. Called by .ci/run; safe to run by hand from any directory.
#
#   .ci/cross.sh            aarch64 (Raspberry Pi OS 64-bit, Jetson): build the `edge-ssl` binary,
#                           run the emulated test subset below, smoke-test the binary
#   .ci/cross.sh --armv7    also build the binary for armv7-unknown-linux-gnueabihf (32-bit
#                           Raspberry Pi OS) and smoke-test it (`info`) under qemu-arm
#   .ci/cross.sh --armv7-only   only the armv7 build
#
# The emulated subset (everything under qemu is ~10-20x slower than native, so not the whole
# workspace): the tract instantiation of crates/runtime/tests/backend_suite.rs (`tract::`: real
# Fashion-MNIST images through the committed encoder, compared with ONNX Runtime's reference
# outputs), the unit tests of edge-ssl-core (preprocessing, cards, npy), edge-ssl-runtime (tract
# sessions, ONNX inspection and editing, BN re-estimation, TensorRT cache keying) and
# edge-ssl-link (the wire protocol), and `edge-ssl info` on the bundled encoder. Not run under qemu: the train crate's
# unit tests (training loops: slow emulated; pure Rust with no target-specific code), the CLI
# integration tests, anything needing ONNX Runtime (there is no aarch64 libonnxruntime here).
#
# Linkers and qemu runners are configured in .cargo/config.toml. Environment: CARGO_TARGET_DIR
# is honoured (default: ./target).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

aarch64=1
armv7=0
for arg in "$@"; do
    case "$arg" in
        --armv7) armv7=1 ;;
        --armv7-only) armv7=1 aarch64=0 ;;
        *) echo "usage: $0 [--armv7 | --armv7-only]" >&2; exit 2 ;;
    esac
done

packages=()
targets=()
if [ $aarch64 = 1 ]; then
    packages+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)
    targets+=(aarch64-unknown-linux-gnu)
fi
if [ $armv7 = 1 ]; then
    packages+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user-static)
    targets+=(armv7-unknown-linux-gnueabihf)
fi

scripts/apt_ensure.sh cross "${packages[@]}"
for t in "${targets[@]}"; do
    rustup target list --installed | grep -qx "$t" || rustup target add "$t"
done

step() {
    echo "cross: $*"
    local start=$SECONDS
    "$@"
    echo "cross: done in $((SECONDS - start)) s: $*"
}

if [ $aarch64 = 1 ]; then
    T=aarch64-unknown-linux-gnu
    # One cargo invocation builds every test binary (and, for the root package's integration
    # tests, the `edge-ssl` binary): the same package selection each time keeps cargo's feature
    # unification stable, so nothing (tract above all) is compiled twice.
    pkgs=(-p edge-ssl-cli -p edge-ssl-core -p edge-ssl-runtime -p edge-ssl-link)
    step cargo test --target $T "${pkgs[@]}" --lib --tests --no-run
    mapfile -t tests < <(cargo test --target $T "${pkgs[@]}" --lib --tests --no-run \
        --message-format=json 2>/dev/null | python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(os.path.dirname(m["manifest_path"]) + "\t" + m["target"]["name"] + "\t" + m["executable"])
')
    qemu=(qemu-aarch64-static -L /usr/aarch64-linux-gnu)
    for entry in "${tests[@]}"; do
        IFS=$'\t' read -r dir name exe <<<"$entry"
        case "$dir:$name" in
            # ONNX Runtime has no aarch64 library here.
            "$PWD/crates/runtime:backend_suite") filter=(tract::) ;;
            # Unit tests that load ONNX Runtime are named `…_with_ort`.
            "$PWD/crates/runtime:edge_ssl_runtime") filter=(--skip with_ort) ;;
            # Under emulation the real-size encoders would take minutes each: the bundled ones only.
            "$PWD/crates/runtime:conformance") filter=(tract::bundled) ;;
            # The PyTorch BN check runs ResNet-18 on the host already; emulated it takes minutes.
            "$PWD/crates/runtime:bn_torch") continue ;;
            "$PWD:"*) continue ;;                        # CLI tests: not in the emulated subset
            *) filter=() ;;
        esac
        # cargo runs tests from their package's directory; do the same.
        (cd "$dir" && step "${qemu[@]}" "$exe" "${filter[@]}")
    done
    bin="${CARGO_TARGET_DIR:-target}/$T/debug/edge-ssl"
    aarch64-linux-gnu-readelf -h "$bin" | grep -q AArch64 || { echo "cross: $bin is not an aarch64 binary" >&2; exit 1; }
    step "${qemu[@]}" "$bin" info models/fmnist-ssl/encoder.onnx
fi

if [ $armv7 = 1 ]; then
    T=armv7-unknown-linux-gnueabihf
    step cargo build --target $T -p edge-ssl-cli --bin edge-ssl
    bin="${CARGO_TARGET_DIR:-target}/$T/debug/edge-ssl"
    arm-linux-gnueabihf-readelf -h "$bin" | grep -q 'Machine:.*ARM$' || { echo "cross: $bin is not a 32-bit ARM binary" >&2; exit 1; }
    step qemu-arm-static -L /usr/arm-linux-gnueabihf "$bin" info models/fmnist-ssl/encoder.onnx
fi
echo "cross: ok"
