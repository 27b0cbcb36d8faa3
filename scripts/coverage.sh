#!/usr/bin/env bash
# Line coverage of src/ by the test suite (gcov + lcov). Prints the summary; HTML in build-cov/html.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=build-cov BUILD_TYPE=Debug bash scripts/build.sh -DLLMC_COVERAGE=ON -DLLMC_BUILD_BENCH=OFF
lcov --zerocounters --directory build-cov >/dev/null
(cd build-cov && ctest -j"$(nproc)" >/dev/null || true)
lcov --capture --directory build-cov --output-file build-cov/all.info --ignore-errors mismatch >/dev/null 2>&1
lcov --extract build-cov/all.info "$PWD/src/*" --output-file build-cov/src.info >/dev/null
genhtml -q build-cov/src.info -o build-cov/html >/dev/null 2>&1 || true
lcov --summary build-cov/src.info
