#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: install, build, run every test; then the
# parser/store tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=build bash scripts/build.sh -DLLMC_BUILD_BENCH=OFF
(cd build && ctest --output-on-failure -j"$(nproc)")

# Sanitizers on everything that parses untrusted files (safetensors, GGUF, Parquet, tokenizer specs).
BUILD_DIR=build-asan BUILD_TYPE=Debug bash scripts/build.sh -DLLMC_SANITIZE=ON -DLLMC_BUILD_BENCH=OFF
(cd build-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j"$(nproc)" \
   -R '^(Safetensors|Gguf|HfConfig|Import|Store|Tokenizer|Core|Half|BF16|Status|Tensor|ModelConfig|AtomicOutput|MappedFile)')
