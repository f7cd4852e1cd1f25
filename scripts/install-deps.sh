#!/usr/bin/env bash
# Installs every Debian package Arbiter needs to build, test and run. Used by .ci/run, by
# scripts/run.sh and by the Dockerfile's build stage, so all three install the same thing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

BUILD_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev liblua5.4-dev libyaml-dev libre2-dev nlohmann-json3-dev libmicrohttpd-dev
  libgnutls28-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # arbiterd's allocator, tcmalloc (service/allocator/CMakeLists.txt says why)
  libgoogle-perftools-dev
)
TEST_PACKAGES=(
  clang-14 libfuzzer-14-dev libclang-rt-14-dev clang-format openssl curl
  grpc-proto nghttp2-client python3 python3-grpcio python3-protobuf python3-yaml python3-pytest
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev
  # bench/*_instructions.* count with callgrind; the sandbox's fast path reads
  # <valgrind/valgrind.h> to know when it runs under valgrind (lua_sandbox.cc).
  valgrind
)

want=("${BUILD_PACKAGES[@]}")
if [ "${1:-}" != "--build-only" ]; then want+=("${TEST_PACKAGES[@]}"); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The Helm chart test validates manifests with npm's kubernetes-models; some machines carry a
# Node.js of their own, which Debian's npm package would conflict with.
if [ "${1:-}" != "--build-only" ] && ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
