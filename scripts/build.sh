#!/usr/bin/env bash
# Installs dependencies (scripts/setup.sh) and builds llmc. Idempotent and incremental.
#   BUILD_DIR (default build), BUILD_TYPE (default Release), extra CMake flags as arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
