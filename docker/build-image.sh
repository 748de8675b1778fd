#!/usr/bin/env bash
# Builds the two images of docker/Dockerfile with a Docker engine (BuildKit):
#   rollback-sidecar:VERSION (+ :latest)               the sidecar (default target)
#   rollback-sidecar-demo-workload:VERSION (+ :latest) the compose demo's workload
#   docker/build-image.sh [--push REGISTRY/PREFIX] [extra docker build args...]
# VERSION is the project version from CMakeLists.txt. Without an engine, run the same build
# steps on the host: ctest --test-dir BUILD -L deploy -R image_build.
set -euo pipefail
cd "$(dirname "$0")/.."

registry=""
if [[ "${1:-}" == "--push" ]]; then
  registry=${2:?--push needs REGISTRY/PREFIX, e.g. ghcr.io/acme}
  shift 2
fi
version=$(sed -n 's/^project(rollback-sidecar VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[[ -n "$version" ]] || { echo "build-image: no version in CMakeLists.txt" >&2; exit 1; }
command -v docker >/dev/null || { echo "build-image: docker not found" >&2; exit 1; }

export DOCKER_BUILDKIT=1
for target in sidecar demo-workload; do
  name=rollback-sidecar
  [[ "$target" == demo-workload ]] && name=rollback-sidecar-demo-workload
  [[ -n "$registry" ]] && name="$registry/$name"
  docker build -f docker/Dockerfile --target "$target" -t "$name:$version" -t "$name:latest" "$@" .
  if [[ -n "$registry" ]]; then
    docker push "$name:$version"
    docker push "$name:latest"
  fi
done
