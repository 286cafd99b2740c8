#!/usr/bin/env bash
# Rebuild the bundled encoder models/fmnist-ssl/ from scratch: pretrain (no labels), export to ONNX,
# evaluate the ONNX file, write the card and the runtime's reference outputs.
#
#   models/reproduce.sh                 # SimCLR, what is shipped (about 1 h of training here)
#   COMPARE=1 models/reproduce.sh       # also the 1-epoch SimCLR vs VICReg pilot the choice rests on
#   SMOKE=1 models/reproduce.sh         # the whole chain in about a minute: 1 epoch on 2,048 images,
#                                       # no evaluation, into /tmp (checks the scripts, not the model)
#
# Env: PY (python, default .venv/bin/python), THREADS (torch threads, default 1), EPOCHS (default 15),
# EMBED_DIM (default 256), CACHE (checkpoints, default .cache/fmnist-ssl), MODEL_DIR (where encoder.onnx,
# its card and reference/ go, default models/fmnist-ssl).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
THREADS=${THREADS:-1}
EPOCHS=${EPOCHS:-15}
EMBED_DIM=${EMBED_DIM:-256}
CACHE=${CACHE:-.cache/fmnist-ssl}
MODEL_DIR=${MODEL_DIR:-models/fmnist-ssl}
limit=() skip_eval=()
if [[ "${SMOKE:-0}" == 1 ]]; then
  smoke=$(mktemp -d /tmp/fmnist-ssl-smoke.XXXXXX)
  CACHE=$smoke/cache MODEL_DIR=$smoke/model EPOCHS=1
  limit=(--limit 2048) skip_eval=(--skip-eval)
fi

"$PY" -m pip install -q -r models/requirements.txt

if [[ "${COMPARE:-0}" == 1 ]]; then
  for m in simclr vicreg; do
    "$PY" models/pretrain.py --method "$m" --epochs 1 --embed-dim "$EMBED_DIM" --threads "$THREADS" \
      "${limit[@]}" --out "$CACHE/$m-1ep"
    "$PY" models/evaluate.py --checkpoint "$CACHE/$m-1ep/checkpoint.pt" --threads "$THREADS" \
      --json "$CACHE/$m-1ep/eval.json"
  done
fi

run="$CACHE/simclr-$EMBED_DIM-$EPOCHS"
"$PY" models/pretrain.py --method simclr --epochs "$EPOCHS" --embed-dim "$EMBED_DIM" --threads "$THREADS" \
  "${limit[@]}" --out "$run"
"$PY" models/bundle.py "$run/checkpoint.pt" --out-dir "$MODEL_DIR" --threads "$THREADS" "${skip_eval[@]}"
"$PY" models/reference_outputs.py --model-dir "$MODEL_DIR"
if [[ "${SMOKE:-0}" == 1 ]]; then
  echo "smoke run complete: $MODEL_DIR"
  exit 0
fi
# The card's numbers, recomputed from the committed file alone:
"$PY" models/evaluate.py --onnx "$MODEL_DIR/encoder.onnx" --threads "$THREADS"
