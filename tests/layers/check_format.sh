#!/usr/bin/env bash
# The tree stays formatted with the repository's .clang-format: names every file that is not.
# Usage: check_format.sh SOURCE_DIR
set -euo pipefail
root=${1:?usage: check_format.sh SOURCE_DIR}
cd "$root"
command -v clang-format >/dev/null || { echo "check_format: clang-format is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
mapfile -t files < <(find common promql actuators notifiers sidecar tests bench fuzz docker -type f \( -name '*.cpp' -o -name '*.h' \) \
  -not -path '*/build*' | sort)
bad=()
for f in "${files[@]}"; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if ((${#bad[@]} > 0)); then
  echo "check_format: ${#bad[@]} file(s) differ from .clang-format (run clang-format -i on them):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files match .clang-format"
