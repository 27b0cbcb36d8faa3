#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: install, build, run every test; then the
# parser/store tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=build bash scripts/build.sh -DLLMC_BUILD_BENCH=OFF
(cd build && ctest --output-on-failure -j"$(nproc)")

# Sanitizers on everything that parses untrusted input (safetensors, GGUF, Parquet, tokenizer files,
# quantization configs) and on the code packing. The SmolLM2-sized tests are left to the Release run:
# their peak-memory bound does not hold under ASan's shadow memory.
BUILD_DIR=build-asan BUILD_TYPE=Debug bash scripts/build.sh -DLLMC_SANITIZE=ON -DLLMC_BUILD_BENCH=OFF
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j"$(nproc)" \
   -R '^(Io|Store|Tokenizer|CliConvert|QuantConfig|QuantPacking|QuantRtn|Half|BF16|Status|Tensor|ModelConfig|AtomicOutput|MappedFile)' \
   -E 'SmolLM2')
