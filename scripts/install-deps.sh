#!/usr/bin/env bash
# Installs the Debian 12 packages rollback-sidecar needs to build, test and run its demo.
# Idempotent and quiet: only missing packages are installed. Run as root (or with sudo).
#   scripts/install-deps.sh            build + test + demo packages
#   scripts/install-deps.sh --runtime  only what the demo's servers need (no compilers/test libs)
set -euo pipefail

BUILD_PACKAGES=(
  cmake ninja-build g++ pkg-config
  prometheus-cpp-dev libcurl4-openssl-dev nlohmann-json3-dev libboost-program-options-dev
  libspdlog-dev libyaml-cpp-dev libcpp-httplib-dev libtinyxml2-dev libre2-dev libssl-dev
  libcrypt-dev    # bcrypt (crypt_rn) for the web config's basic_auth_users
  libgtest-dev libgmock-dev libbenchmark-dev
  chromium   # renders the status page in a test
  docker-compose yamllint   # validate the compose demo and the deployment YAML (ctest -L deploy)
  awscli python3-botocore   # the strict AWS fake (tests/fakes/aws/) and its awscli proof
  python3 openssl           # the fake Kubernetes API server (tests/fakes/kubernetes/), HTTPS
  python3-scipy   # recomputes the sequential test independently (ctest -L statistics)
  clang-format    # the suite checks the tree against .clang-format (ctest layers.clang_format_clean)
  clang           # libFuzzer (clang 14: -fsanitize=fuzzer) for scripts/fuzz.sh and its smoke in scripts/test.sh
)
# kubectl (>= 1.27, with kustomize) proves that fake (ctest fakes.kubernetes_kubectl_proof) and
# renders docker/kubernetes/ (ctest -L deploy). Debian 12's kubernetes-client is 1.20, too old
# (no --subresource), so it is not installed here: install kubectl from the Kubernetes or Google
# Cloud apt repository; without it those tests fail and say so.
# Real servers the tests and the demo start on 127.0.0.1.
RUNTIME_PACKAGES=(
  prometheus prometheus-alertmanager prometheus-blackbox-exporter haproxy nginx curl ca-certificates
  libre2-9   # the sidecar's regex library (alerts.match)
  victoria-metrics   # the second query backend (tests/e2e/victoriametrics_test.cpp, docs/backends.md)
)

packages=("${RUNTIME_PACKAGES[@]}")
if [[ "${1:-}" != "--runtime" ]]; then
  packages+=("${BUILD_PACKAGES[@]}")
fi

# The AWS CDK example's npm packages (docker/aws-cdk/, ctest -L aws), cached in the test build
# dir (BUILD_DIR, as scripts/test.sh uses it), where the test looks for them.
install_node_deps() {
  if [[ "${1:-}" != "--runtime" ]]; then
    "$(dirname "$0")/install-node-deps.sh" "$(cd "$(dirname "$0")/.." && pwd)/${BUILD_DIR:-build-test}/node-deps"
  fi
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  install_node_deps "${1:-}"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
# Daemons are started by the tests and the demo on free ports, never by the package's service.
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian enables and starts these services on install; they would hold the default ports.
for service in prometheus prometheus-alertmanager prometheus-blackbox-exporter prometheus-node-exporter haproxy nginx \
  victoria-metrics; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    "${SUDO[@]}" systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done
install_node_deps "${1:-}"
