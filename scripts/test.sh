#!/usr/bin/env bash
# Installs what is missing, builds with AddressSanitizer + UndefinedBehaviorSanitizer, and runs
# every test (unit and integration against real Prometheus, HAProxy, ... on 127.0.0.1).
#   scripts/test.sh                 everything
#   scripts/test.sh -L promql       only one folder's tests (any ctest arguments pass through)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

BUILD_DIR=${BUILD_DIR:-build-test}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRS_SANITIZE=ON -DRS_BUILD_TESTS=ON \
  -DRS_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 600 -j 2 "$@"

# Fuzz smoke: every libFuzzer target (fuzz/) for 30 s on its seed corpus, with ASan + UBSan
# (clang; installed by scripts/install-deps.sh), so a parser regression shows in CI. A fixed seed
# makes it a regression test (the same inputs each run); finding new bugs is scripts/fuzz.sh's
# job with random seeds and longer runs. RS_FUZZ_SMOKE sets the seconds per target (0 skips it).
# Skipped when ctest arguments select a subset.
if [[ $# -eq 0 && "${RS_FUZZ_SMOKE:-30}" != "0" ]]; then
  FUZZ_SEED=${FUZZ_SEED:-1} scripts/fuzz.sh "${RS_FUZZ_SMOKE:-30}"
fi
