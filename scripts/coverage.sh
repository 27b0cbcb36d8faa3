#!/usr/bin/env bash
# Line coverage of src/ by the test suite (gcov + lcov). Prints the summary; HTML in build-cov/html.
set -euo pipefail
cd "$(dirname "$0")/.."
# Unoptimized and instrumented, the SmolLM2 tests run for many minutes: a longer per-test limit.
BUILD_DIR=build-cov BUILD_TYPE=Debug bash scripts/build.sh -DLLMC_COVERAGE=ON -DLLMC_BUILD_BENCH=OFF \
  -DLLMC_TEST_TIMEOUT=3600
lcov --zerocounters --directory build-cov >/dev/null
tests_status=0
(cd build-cov && ctest -j"$(nproc)" > ctest.log) || tests_status=$?
lcov --capture --directory build-cov --output-file build-cov/all.info >/dev/null 2>&1
lcov --extract build-cov/all.info "$PWD/src/*" --output-file build-cov/src.info >/dev/null
genhtml -q build-cov/src.info -o build-cov/html >/dev/null 2>&1 || true
lcov --summary build-cov/src.info
if [ "$tests_status" -ne 0 ]; then
  echo "coverage: some tests failed (build-cov/ctest.log); the summary above counts the tests that ran" >&2
  exit "$tests_status"
fi
