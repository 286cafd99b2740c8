#!/usr/bin/env bash
# Rebuild the bundled encoder models/fmnist-ssl/ from scratch: pretrain (no labels), export to ONNX,
# evaluate the ONNX file, write the card and the runtime's reference outputs.
#
#   models/reproduce.sh                 # SimCLR, what is shipped
#   COMPARE=1 models/reproduce.sh       # also the 1-epoch SimCLR vs VICReg pilot the choice rests on
#
# Env: PY (python, default .venv/bin/python), THREADS (torch threads, default 1), EPOCHS (default 6).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
THREADS=${THREADS:-1}
EPOCHS=${EPOCHS:-6}
CACHE=.cache/fmnist-ssl

"$PY" -m pip install -q -r models/requirements.txt

if [[ "${COMPARE:-0}" == 1 ]]; then
  for m in simclr vicreg; do
    "$PY" models/pretrain.py --method "$m" --epochs 1 --threads "$THREADS" --out "$CACHE/$m-1ep"
    "$PY" models/evaluate.py --checkpoint "$CACHE/$m-1ep/checkpoint.pt" --threads "$THREADS" \
      --json "$CACHE/$m-1ep/eval.json"
  done
fi

"$PY" models/pretrain.py --method simclr --epochs "$EPOCHS" --threads "$THREADS" --out "$CACHE/simclr"
"$PY" models/bundle.py "$CACHE/simclr/checkpoint.pt" --threads "$THREADS"
"$PY" models/reference_outputs.py
# The card's numbers, recomputed from the committed file alone:
"$PY" models/evaluate.py --onnx models/fmnist-ssl/encoder.onnx --threads "$THREADS"
