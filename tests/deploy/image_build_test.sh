#!/usr/bin/env bash
# Runs the container image's build steps (docker/build-steps.sh, as docker/Dockerfile RUNs them)
# on this host: a Release build of both binaries from the sources the Dockerfile copies, installed
# into a DESTDIR, then `verify`: they run, ldd resolves everything, and every library they link
# comes from the image's runtime package list.
#   image_build_test.sh SOURCE_DIR WORK_DIR
# WORK_DIR is kept between runs so the build is incremental (the first run takes minutes).
set -euo pipefail
src=${1:?usage: image_build_test.sh SOURCE_DIR WORK_DIR}
work=${2:?usage: image_build_test.sh SOURCE_DIR WORK_DIR}
steps="$src/docker/build-steps.sh"

"$steps" check-build-deps

# The Dockerfile's build context: only what it COPYs, so a missing COPY shows up here.
context="$work/context"
rm -rf "$context" "$work/root"
mkdir -p "$context/docker"
cp -a "$src/CMakeLists.txt" "$context/"
cp -a "$src/common" "$src/promql" "$src/actuators" "$src/notifiers" "$src/sidecar" "$context/"
cp -a "$src/docker/workload" "$context/docker/"
for copied in CMakeLists.txt common/ promql/ actuators/ notifiers/ sidecar/ docker/workload/; do
  grep -q "^COPY $copied " "$src/docker/Dockerfile" || { echo "FAIL: the Dockerfile no longer copies $copied" >&2; exit 1; }
done

"$steps" build "$context" "$work/build" "$work/root"
"$steps" verify "$work/root" sidecar
"$steps" verify "$work/root" workload

# The Release binary reads the shipped default policy the image carries.
"$work/root/usr/local/bin/rollback-sidecar" check --config "$src/policies/default.yml" >/dev/null
echo "PASS: image build steps"
