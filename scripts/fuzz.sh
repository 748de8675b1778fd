#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, ASan + UBSan) and runs each on its seed corpus.
#   scripts/fuzz.sh                 every target for 30 s
#   scripts/fuzz.sh 600             every target for 600 s
#   scripts/fuzz.sh 60 promql_response alert_intake     only these targets
#   FUZZ_SEED=1 scripts/fuzz.sh 30  the same inputs on every run (the smoke of scripts/test.sh);
#                                   without it each run explores from a new random seed
# One fuzzing process at a time (no -jobs/-workers). New inputs go to build-fuzz/corpus/<target>
# (the seeds in fuzz/corpus/<target>/ are read, never written); a crash, hang or sanitizer report
# leaves its input in build-fuzz/artifacts/<target>/ and makes the script fail, naming it.
# The per-target executions and findings are summed up at the end (docs/input-formats.md records
# the long runs).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${1:-30}
shift || true
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}

if ! command -v clang++ >/dev/null; then
  scripts/install-deps.sh
fi
# -O2 with assertions, not the size-optimised -Os -DNDEBUG of the product's RelWithDebInfo: a
# third more executions per second, and a library assertion (nlohmann::json's, say) is a finding.
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g" -DRS_FUZZ=ON -DRS_BUILD_TESTS=OFF -DRS_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" --target fuzz_all -j "${FUZZ_BUILD_JOBS:-$(nproc)}"

targets=("$@")
if ((${#targets[@]} == 0)); then
  for dir in fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
summary=()
for t in "${targets[@]}"; do
  bin="$BUILD_DIR/fuzz/fuzz_$t"
  [[ -x "$bin" ]] || { echo "fuzz.sh: no target $t ($bin)" >&2; exit 2; }
  work="$BUILD_DIR/corpus/$t"
  artifacts="$BUILD_DIR/artifacts/$t/"
  log="$BUILD_DIR/logs/$t.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  echo "fuzz.sh: $t for ${SECONDS_EACH}s (log: $log)"
  set +e
  "$bin" -max_total_time="$SECONDS_EACH" -seed="${FUZZ_SEED:-0}" -timeout=10 -rss_limit_mb=2048 -max_len="${FUZZ_MAX_LEN:-65536}" \
    -print_final_stats=1 -artifact_prefix="$artifacts" "$work" "fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  if ((rc != 0)); then
    failed+=("$t")
    summary+=("$t: FAILED after ${execs:-?} executions; input in $artifacts; see $log")
    grep -m5 -E 'ERROR: (AddressSanitizer|libFuzzer)|runtime error|SUMMARY' "$log" >&2 || tail -20 "$log" >&2
  else
    summary+=("$t: ${execs:-?} executions, no findings, corpus $(ls "$work" | wc -l) inputs")
  fi
done

printf 'fuzz.sh: %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo "fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
