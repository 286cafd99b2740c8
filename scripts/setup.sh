#!/usr/bin/env bash
# Installs what edge-ssl's demo and tests need on a fresh Debian/Ubuntu machine:
#   - Debian packages: real data (Fashion-MNIST, OpenCV's sample videos), ffmpeg (video decoding) and
#     chromium (the headless browser that tests `run --http`'s live page)
#   - a project-local .venv with ONNX Runtime 1.31.1 (its libonnxruntime.so is what the `ort`
#     backend loads) and numpy/onnx for the reference checks
#   - flwr 1.42.0 in the same .venv: the SuperLink, `flwr run` and the ServerApp that the fleet
#     tests (crates/fleet/tests, tests/cli_fleet.rs) federate the Rust nodes with
# Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/apt_ensure.sh setup dataset-fashion-mnist opencv-doc ffmpeg python3-venv chromium

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import onnxruntime, numpy, onnx; assert onnxruntime.__version__ == '1.31.1'" 2>/dev/null; then
  echo "setup: installing onnxruntime==1.31.1 into .venv"
  .venv/bin/pip install -q onnxruntime==1.31.1 numpy onnx pillow
fi
# The Fleet API changes between minor versions; the Rust SuperNode speaks exactly this one.
if ! .venv/bin/python -c "import importlib.metadata as m; assert m.version('flwr') == '1.42.0'" 2>/dev/null; then
  echo "setup: installing flwr==1.42.0 into .venv"
  .venv/bin/pip install -q flwr==1.42.0
fi
# Real-size encoders for the tests (ResNet-18, MobileNetV3-Small, ViT-S/16 from models/export.py
# --random-init, and the conformance suite's fixed-batch and external-data variants): PyTorch,
# torchvision and timm. About 75 s to install; skip with EDGE_SSL_NO_TORCH=1 (the tests that
# need them then say they skipped, unless EDGE_SSL_CONFORMANCE_REQUIRED=1).
# PyPI's x86_64 torch pulls about 4 GB of CUDA wheels: with pip's download cache they took a CI
# machine's disk ("No space left on device"), so nothing here is cached, and triton (1 GB, only
# torch.compile uses it) is left out: torch, torchvision and timm go in without their dependencies,
# then every dependency torch's own metadata declares for this machine, but triton.
if [ "${EDGE_SSL_NO_TORCH:-0}" != 1 ] && ! .venv/bin/python -c "import torch, torchvision, timm" 2>/dev/null; then
  echo "setup: installing torch, torchvision and timm into .venv ($(df -h --output=avail . | tail -1 | tr -d ' ') free)"
  export PIP_NO_CACHE_DIR=1
  .venv/bin/pip install -q --no-deps torch==2.15.0 torchvision==0.29.2 timm==1.0.31
  .venv/bin/python - > .venv/torch-requirements.txt <<'PY'
from importlib.metadata import requires
from packaging.requirements import Requirement  # onnxruntime, installed above, requires it
seen = set()
for dist in ("torch", "torchvision", "timm"):
    for line in requires(dist) or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if req.name.lower() in ("triton", "torch", "torchvision", "timm") or req.name.lower() in seen:
            continue
        seen.add(req.name.lower())
        print(str(req).split(";")[0])
PY
  # pip then says torch "requires triton, which is not installed": expected, and not shown.
  .venv/bin/pip install -q -r .venv/torch-requirements.txt 2>&1 |
    { grep -v -E "dependency resolver does not currently|requires triton" || true; }
  .venv/bin/python -c "import torch, torchvision, timm"
fi
echo "setup: ok ($(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* | head -1))"
