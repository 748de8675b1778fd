#!/usr/bin/env bash
# ctest aws.cdk_synth: the CDK example (docker/aws-cdk/) type-checks, `cdk synth` runs without an
# AWS account, and the template holds what docs/aws.md promises (check_template.py); the sidecar
# config inside it passes `rollback-sidecar check`.
#   cdk_synth.sh SOURCE_DIR BUILD_DIR ROLLBACK_SIDECAR_BINARY
set -euo pipefail
src=$(realpath "$1") build=$(realpath "$2") sidecar=$(realpath "$3")
prefix=$build/node-deps     # npm cache: node_modules survive between runs (scripts/install-node-deps.sh)
work=$build/aws-cdk-synth   # a copy of the example, so the source tree stays clean

if ! "$src/scripts/install-node-deps.sh" "$prefix"; then
  echo "FAIL: the CDK packages could not be installed: is the npm registry reachable ($(npm config get registry 2>/dev/null || echo 'npm missing'))?" >&2
  exit 1
fi
rm -rf "$work" && mkdir -p "$work"
cp -r "$src/docker/aws-cdk/bin" "$src/docker/aws-cdk/lib" "$src/docker/aws-cdk/cdk.json" \
      "$src/docker/aws-cdk/tsconfig.json" "$src/docker/aws-cdk/package.json" "$work/"
ln -s "$prefix/node_modules" "$work/node_modules"
cd "$work"
"$prefix/node_modules/.bin/tsc" -p tsconfig.json

# No account, no network, no prompts: an environment-agnostic synth.
export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= AWS_PROFILE= AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null
unset CDK_DEFAULT_ACCOUNT
export CDK_DEFAULT_REGION=eu-west-1
"$prefix/node_modules/.bin/cdk" synth --quiet --no-notices --no-version-reporting --no-asset-metadata \
  --no-path-metadata -o "$work/cdk.out" >"$work/synth.log" 2>&1 || { cat "$work/synth.log" >&2; echo "FAIL: cdk synth" >&2; exit 1; }

/usr/bin/python3 "$src/tests/aws/check_template.py" "$work/cdk.out/RollbackSidecarExample.template.json" \
  "$work/sidecar-config.yml"
"$sidecar" check --config "$work/sidecar-config.yml"
echo "ok: cdk synth, template checked, sidecar config valid"
