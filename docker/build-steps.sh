#!/usr/bin/env bash
# The container image's build steps, as one script that docker/Dockerfile RUNs and the test suite
# runs on the host (tests/deploy/image_build_test.sh), so what the image does is exercised here
# even though no Docker engine runs in CI.
#
#   build-steps.sh build-packages               print the Debian packages the build stage needs
#   build-steps.sh install-build-deps           apt-get install them (Dockerfile build stage)
#   build-steps.sh check-build-deps             fail unless they are installed (host test)
#   build-steps.sh build SRC BUILD_DIR DESTDIR  Release build of rollback-sidecar + demo-workload,
#                                               installed under DESTDIR/usr/local
#   build-steps.sh runtime-packages [sidecar|workload]
#                                               print the runtime packages of that image
#   build-steps.sh install-runtime [sidecar|workload]
#                                               apt-get install them (Dockerfile runtime stages)
#   build-steps.sh verify ROOT [sidecar|workload]
#                                               the installed binaries run (--version / --help),
#                                               every library resolves (ldd), and (where readelf
#                                               exists: the build stage, the host) every library
#                                               they link directly comes from a runtime package
#                                               or the base image
set -euo pipefail

PREFIX=/usr/local

# What CMake needs with RS_BUILD_TESTS=OFF and RS_BUILD_BENCH=OFF: the build half of
# scripts/install-deps.sh's BUILD_PACKAGES without the test/benchmark libraries and chromium.
BUILD_PACKAGES=(
  cmake ninja-build g++ pkg-config
  prometheus-cpp-dev libcurl4-openssl-dev nlohmann-json3-dev libboost-program-options-dev
  libspdlog-dev libyaml-cpp-dev libcpp-httplib-dev libtinyxml2-dev libre2-dev libssl-dev libcrypt-dev
)

# The shared libraries the binaries link (readelf NEEDED), by Debian 12 package (dpkg -S).
# libstdc++6, libgcc-s1, libc6 and libcrypt1 (bcrypt for basic auth) are in debian:bookworm-slim
# already (apt and login need them). yaml-cpp, RE2 and Boost.Program_options are linked
# statically (RS_STATIC_DEPS). libcurl4 is not linked: the sidecar loads it at run time for
# https, TLS options, SigV4 and proxies (plain http:// needs no libcurl).
# curl: the HEALTHCHECK's client; it only adds the curl binary to libcurl4.
SIDECAR_RUNTIME_PACKAGES=(
  libcurl4 libspdlog1.10 libfmt9 libprometheus-cpp-core1.0 libcpp-httplib0.11
  libtinyxml2-9 libssl3 ca-certificates curl
)
WORKLOAD_RUNTIME_PACKAGES=(
  libprometheus-cpp-core1.0 libcpp-httplib0.11 curl
)
# Packages of debian:bookworm-slim that the binaries may link without installing anything.
BASE_IMAGE_PACKAGES=(libc6 libstdc++6 libgcc-s1 libcrypt1)

die() { echo "build-steps: $*" >&2; exit 1; }

runtime_packages() {
  case "${1:-sidecar}" in
    sidecar) printf '%s\n' "${SIDECAR_RUNTIME_PACKAGES[@]}" ;;
    workload) printf '%s\n' "${WORKLOAD_RUNTIME_PACKAGES[@]}" ;;
    *) die "unknown image '$1' (sidecar, workload)" ;;
  esac
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  rm -rf /var/lib/apt/lists/*
}

binaries_of() {
  case "${1:-sidecar}" in
    sidecar) echo rollback-sidecar ;;
    workload) echo demo-workload ;;
    *) die "unknown image '$1' (sidecar, workload)" ;;
  esac
}

cmd=${1:-}
[[ -n "$cmd" ]] || die "usage: build-steps.sh build-packages|install-build-deps|check-build-deps|build|runtime-packages|install-runtime|verify ..."
shift

case "$cmd" in
  build-packages)
    printf '%s\n' "${BUILD_PACKAGES[@]}"
    ;;
  install-build-deps)
    apt_install "${BUILD_PACKAGES[@]}"
    ;;
  check-build-deps)
    missing=()
    for p in "${BUILD_PACKAGES[@]}"; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]} == 0)) || die "build packages not installed: ${missing[*]} (scripts/install-deps.sh)"
    ;;
  build)
    (($# == 3)) || die "usage: build-steps.sh build SRC BUILD_DIR DESTDIR"
    src=$1 build=$2 destdir=$3
    [[ -f "$src/CMakeLists.txt" ]] || die "$src has no CMakeLists.txt"
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX" \
      -DRS_BUILD_TESTS=OFF -DRS_BUILD_BENCH=OFF -DRS_SANITIZE=OFF >/dev/null
    cmake --build "$build" --target rollback-sidecar demo-workload -j "$(nproc)"
    DESTDIR="$destdir" cmake --install "$build" --strip >/dev/null
    for b in rollback-sidecar demo-workload; do
      [[ -x "$destdir$PREFIX/bin/$b" ]] || die "$b was not installed into $destdir$PREFIX/bin"
    done
    ;;
  runtime-packages)
    runtime_packages "${1:-sidecar}"
    ;;
  install-runtime)
    mapfile -t pkgs < <(runtime_packages "${1:-sidecar}")
    apt_install "${pkgs[@]}"
    ;;
  verify)
    (($# >= 1)) || die "usage: build-steps.sh verify ROOT [sidecar|workload]"
    root=$1 image=${2:-sidecar}
    mapfile -t allowed < <(runtime_packages "$image")
    allowed+=("${BASE_IMAGE_PACKAGES[@]}")
    for b in $(binaries_of "$image"); do
      bin="$root$PREFIX/bin/$b"
      [[ -x "$bin" ]] || die "$bin missing"
      if [[ "$b" == rollback-sidecar ]]; then
        "$bin" --version | grep -q '^rollback-sidecar ' || die "$b --version failed"
      else
        "$bin" --help | grep -q '^Usage: demo-workload' || die "$b --help failed"
      fi
      if ldd "$bin" | grep -q 'not found'; then
        die "$b: unresolved libraries: $(ldd "$bin" | grep 'not found' | tr -s ' \t\n' ' ')"
      fi
      if ! command -v readelf >/dev/null; then
        # The runtime stages have no binutils: there `ldd` finding everything is the check.
        echo "$b: runs, every library resolves (package ownership checked in the build stage)"
        continue
      fi
      for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        path=$(ldd "$bin" | awk -v l="$lib" '$1 == l {print $3}')
        [[ -n "$path" ]] || die "$b: $lib not resolved"
        real=$(readlink -f "$path")
        owner=""
        for candidate in "$path" "$real" "${path/#\/lib\//\/usr\/lib\/}" "${real/#\/lib\//\/usr\/lib\/}"; do
          owner=$(dpkg -S "$candidate" 2>/dev/null | head -1 | cut -d: -f1) && [[ -n "$owner" ]] && break
        done
        [[ -n "$owner" ]] || die "$b: $lib ($path) belongs to no Debian package"
        ok=false
        for p in "${allowed[@]}"; do [[ "$p" == "$owner" ]] && ok=true; done
        $ok || die "$b links $lib from package $owner, which is not in the $image runtime packages (${allowed[*]})"
        echo "$b: $lib <- $owner"
      done
    done
    ;;
  *)
    die "unknown command '$cmd'"
    ;;
esac
