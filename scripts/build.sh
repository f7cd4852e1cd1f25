#!/usr/bin/env bash
# Builds the release binaries (build/service/server/arbiterd, build/clients/cli/arbiter) exactly
# as the Dockerfile's build stage does; helm/test/run.sh checks that the two stay identical.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DARBITER_BUILD_TESTS=OFF -DARBITER_BUILD_BENCH=OFF
cmake --build build --target arbiterd arbiter
