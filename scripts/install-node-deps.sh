#!/usr/bin/env bash
# Installs the npm packages of the AWS CDK example (docker/aws-cdk/): aws-cdk (the CLI),
# aws-cdk-lib, constructs, typescript and @types/node, pinned in docker/aws-cdk/package.json.
# Idempotent and quiet: nothing is fetched when PREFIX/node_modules already holds those versions.
#   scripts/install-node-deps.sh [PREFIX]     default PREFIX: build-dev/node-deps (beside ccache's build)
# The packages go to PREFIX/node_modules (a cache under the build dir, so the source tree stays
# clean); the CDK example's test points NODE_PATH and PATH there. Exit 1 with the reason when npm
# is missing or the registry cannot be reached.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-$root/build-dev/node-deps}
manifest=$root/docker/aws-cdk/package.json

command -v npm >/dev/null || { echo "install-node-deps: npm not found: install Node.js 18+ with npm (Debian 12: apt-get install nodejs npm)" >&2; exit 1; }
mkdir -p "$prefix"
stamp=$prefix/.installed-from
want=$(sha256sum "$manifest" | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" && -x $prefix/node_modules/.bin/cdk && -x $prefix/node_modules/.bin/tsc ]]; then
  exit 0
fi
# The example's package.json is the one list of versions: copy it, install exactly that.
cp "$manifest" "$prefix/package.json"
if ! (cd "$prefix" && npm install --no-audit --no-fund --loglevel=error --no-progress >"$prefix/npm-install.log" 2>&1); then
  echo "install-node-deps: npm install failed in $prefix (registry $(npm config get registry) unreachable?); last lines of $prefix/npm-install.log:" >&2
  tail -n 15 "$prefix/npm-install.log" >&2
  exit 1
fi
echo "$want" >"$stamp"
