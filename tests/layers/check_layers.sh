#!/usr/bin/env bash
# Fails when a source file includes a project header from a layer above its own, or from a
# sibling of the same rank (actuators <-> notifiers), and when sidecar/policy/ (pure decision
# logic) includes threads, I/O, logging or network headers. The CMake targets enforce the same
# direction at compile time; this check names the offending line.
#   tests/layers/check_layers.sh [ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"

# folder rank: a file may include headers of its own folder and of folders with a lower rank.
layers=(
  "common/env 2" "common/aws 2" "common/plugin 1" "common/http 1" "common 0"
  "promql 3"
  "actuators 4" "notifiers 4"
  "sidecar/policy 5" "sidecar/config 6" "sidecar/rollback 7" "sidecar/core 8"
  "sidecar/records 9" "sidecar/api 10" "sidecar/app 11"
)
layer_of() {  # path -> "folder rank" of the longest matching folder, or nothing
  local path=$1 best="" best_len=0
  for entry in "${layers[@]}"; do
    local folder=${entry% *}
    if [[ $path == "$folder/"* && ${#folder} -gt $best_len ]]; then best=$entry; best_len=${#folder}; fi
  done
  echo "$best"
}

list_sources() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then git ls-files '*.h' '*.cpp'
  else find . \( -name '*.h' -o -name '*.cpp' \) | sed 's|^\./||'; fi
}

violations=0
checked=0
while IFS= read -r file; do
  checked=$((checked + 1))
  own=$(layer_of "$file")
  [[ -z $own ]] && continue
  own_folder=${own% *} own_rank=${own#* }
  while IFS=: read -r line text; do
    inc=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$text")
    target=$(layer_of "$inc")
    [[ -z $target ]] && continue
    folder=${target% *} rank=${target#* }
    if (( rank > own_rank )) || { (( rank == own_rank )) && [[ $folder != "$own_folder" ]]; }; then
      echo "$file:$line: includes $inc (layer $folder) from layer $own_folder: a layer may include only layers below it"
      violations=$((violations + 1))
    fi
  done < <(grep -n '^#include "' "$file" || true)
  if [[ $own_folder == sidecar/policy ]]; then
    while IFS=: read -r line text; do
      echo "$file:$line: sidecar/policy is pure (no threads, I/O, logging, network): $text"
      violations=$((violations + 1))
    done < <(grep -nE '^#include <(thread|mutex|condition_variable|future|atomic|fstream|iostream|spdlog/.*|curl/.*|httplib.h|unistd.h|sys/.*)>' "$file" || true)
  fi
done < <(list_sources)

if (( violations > 0 )); then
  echo "check_layers: $violations include(s) run against the layers (checked $checked files)"
  exit 1
fi
echo "check_layers: $checked files, every include points down the layers"
