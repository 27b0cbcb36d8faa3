#!/usr/bin/env bash
# Decode tokens/s of two llmc binaries (two commits' builds) on one store, alternating A, B, A, B...
# so that both see the same phases of a machine whose speed drifts (a VM): PAIRS runs each of
# `llmc bench STORE --threads THREADS --prompt-tokens PROMPT --decode-tokens 64 --reps 3`, then
# every run, the medians and the ratio of medians (B / A).
#
#   bench/ab_decode.sh OLD_LLMC NEW_LLMC STORE   (PROMPT=128 PAIRS=5 THREADS=2)
#   e.g. git worktree add /tmp/old <commit> && cmake -S /tmp/old -B /tmp/old/build -DCMAKE_BUILD_TYPE=Release \
#        -DLLMC_BUILD_TESTS=OFF -DLLMC_VENV=$PWD/.venv && cmake --build /tmp/old/build --target llmc -j2
#        bench/ab_decode.sh /tmp/old/build/llmc build/llmc out/smol-ptq-int2.parquet
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 3 ] || { echo "usage: bench/ab_decode.sh OLD_LLMC NEW_LLMC STORE" >&2; exit 2; }
decode() {
  "$1" bench "$2" --threads "${THREADS:-2}" --prompt-tokens "${PROMPT:-128}" --decode-tokens 64 --reps 3 --json |
    .venv/bin/python -c 'import json,sys; print(round(json.load(sys.stdin)["decode_tokens_per_s"], 1))'
}
for _ in $(seq "${PAIRS:-5}"); do
  echo "A $(decode "$1" "$3")"
  echo "B $(decode "$2" "$3")"
done | .venv/bin/python -c '
import statistics, sys
runs = {"A": [], "B": []}
for line in sys.stdin:
    k, v = line.split()
    runs[k].append(float(v))
old, new = runs["A"], runs["B"]
a, b = statistics.median(old), statistics.median(new)
wins = sum(y > x for x, y in zip(old, new))
print(f"A {old} median {a}")
print(f"B {new} median {b}")
print(f"B / A {b / a:.3f} (B faster in {wins} of {len(old)} pairs)")
'
