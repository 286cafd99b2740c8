#!/usr/bin/env bash
# Installs what edge-ssl's demo and tests need on a fresh Debian/Ubuntu machine:
#   - Debian packages: real data (Fashion-MNIST, OpenCV's sample videos) and ffmpeg (video decoding)
#   - a project-local .venv with ONNX Runtime 1.31.1 (its libonnxruntime.so is what the `ort`
#     backend loads) and numpy/onnx for the reference checks
# Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

packages=(dataset-fashion-mnist opencv-doc ffmpeg python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import onnxruntime, numpy, onnx; assert onnxruntime.__version__ == '1.31.1'" 2>/dev/null; then
  echo "setup: installing onnxruntime==1.31.1 into .venv"
  .venv/bin/pip install -q onnxruntime==1.31.1 numpy onnx pillow
fi
echo "setup: ok ($(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* | head -1))"
