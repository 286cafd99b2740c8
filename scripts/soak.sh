#!/usr/bin/env bash
# Soak benchmark (issue 7): `edge-ssl run` on a looping video for SECONDS (default 600) with its
# resident memory sampled every INTERVAL seconds, to show that a long live run does not grow.
# Not part of CI (it takes ten minutes); run it on a quiet machine after a release build:
#
#   cargo build --release && scripts/soak.sh                # 10 minutes, tract backend
#   SECONDS_TOTAL=120 BACKEND=ort THREADS=2 scripts/soak.sh # shorter, ONNX Runtime
#
# Writes out/soak/rss.csv (seconds since start, resident KiB), out/soak/run.txt (the run summary) and
# out/soak/REPORT.md, and exits 1 if the last minute's peak RSS exceeds the first minute's
# (after warm-up) by more than GROWTH_KIB (default 8192).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/edge-ssl}
SECONDS_TOTAL=${SECONDS_TOTAL:-600}
INTERVAL=${INTERVAL:-5}
BACKEND=${BACKEND:-tract}
THREADS=${THREADS:-1}
GROWTH_KIB=${GROWTH_KIB:-8192}
VIDEO=${VIDEO:-/usr/share/doc/opencv-doc/examples/data/vtest.avi}
OUT=${OUT:-out/soak}
[ -x "$BIN" ] || { echo "error: $BIN not built (cargo build --release)" >&2; exit 1; }
[ -f "$VIDEO" ] || { echo "error: $VIDEO missing (scripts/setup.sh installs opencv-doc)" >&2; exit 1; }
mkdir -p "$OUT"

# A model directory: the bundled encoder with a softmax head on the reference images.
labeled="$OUT/labeled"
rm -rf "$labeled" "$OUT/model"
for png in models/fmnist-ssl/reference/images/*.png; do
  class=$(basename "$png" .png); class=${class#*-}
  mkdir -p "$labeled/$class" && cp "$png" "$labeled/$class/"
done
"$BIN" head --model default --labeled "$labeled" --out "$OUT/model" >/dev/null

"$BIN" run --model "$OUT/model" --source "$VIDEO" --loop --backend "$BACKEND" --threads "$THREADS" \
  --display "png:$OUT/screens" --display-every 5000 >"$OUT/run.txt" 2>"$OUT/run.err" &
pid=$!
echo "seconds,rss_kib" >"$OUT/rss.csv"
start=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  now=$(( $(date +%s) - start ))
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$now,$rss" >>"$OUT/rss.csv"
  [ "$now" -ge "$SECONDS_TOTAL" ] && break
  sleep "$INTERVAL"
done
kill -INT "$pid" 2>/dev/null || true
wait "$pid" || { echo "error: edge-ssl run failed:" >&2; cat "$OUT/run.err" >&2; exit 1; }

python3 - "$OUT" "$GROWTH_KIB" "$BACKEND" "$THREADS" <<'PY'
import csv, sys, pathlib
out, growth, backend, threads = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = [(int(r["seconds"]), int(r["rss_kib"])) for r in csv.DictReader(open(out / "rss.csv"))]
first = [kib for s, kib in rows if 30 <= s < 90] or [rows[0][1]]
last = [kib for s, kib in rows if s >= rows[-1][0] - 60]
summary = (out / "run.txt").read_text().strip().splitlines()
grew = max(last) - max(first)
ok = grew <= growth
report = f"""# Soak: `edge-ssl run --loop` for {rows[-1][0]} s ({backend}, {threads} thread(s))

{chr(10).join('    ' + l for l in summary)}

| | RSS |
|---|---|
| first minute after 30 s warm-up, peak | {max(first) / 1024:.1f} MiB |
| last minute, peak | {max(last) / 1024:.1f} MiB |
| whole run, peak | {max(k for _, k in rows) / 1024:.1f} MiB |
| growth | {grew / 1024:+.1f} MiB ({'ok' if ok else 'FAIL'}: limit {growth / 1024:.0f} MiB) |

{len(rows)} samples in rss.csv.
"""
(out / "REPORT.md").write_text(report)
print(report)
sys.exit(0 if ok else 1)
PY
