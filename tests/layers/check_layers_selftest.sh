#!/usr/bin/env bash
# The layer check must fail on an upward include, a sibling include and an impure policy file,
# and pass on a clean tree (so the check itself cannot silently pass everything).
set -euo pipefail
check=$(cd "$(dirname "$0")" && pwd)/check_layers.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{common,promql,actuators,notifiers,sidecar/policy,sidecar/core}
echo '#include "common/clock.h"' > "$tmp/promql/client.cpp"
echo '#include "sidecar/policy/decision.h"' > "$tmp/sidecar/core/engine.cpp"
"$check" "$tmp" >/dev/null || { echo "selftest: a clean tree failed"; exit 1; }
expect_fail() {
  local file=$1 line=$2
  echo "$line" > "$tmp/$file"
  if out=$("$check" "$tmp"); then echo "selftest: '$line' in $file passed the check"; exit 1; fi
  grep -q "$file:1:" <<<"$out" || { echo "selftest: the message does not name $file:1: $out"; exit 1; }
  rm "$tmp/$file"
}
expect_fail common/bad.cpp '#include "promql/client.h"'
expect_fail actuators/bad.cpp '#include "notifiers/notifier.h"'
expect_fail sidecar/policy/bad.cpp '#include "sidecar/core/engine.h"'
expect_fail sidecar/policy/impure.cpp '#include <spdlog/spdlog.h>'
echo "selftest: 4 violations caught, clean tree passes"
