#!/usr/bin/env bash
# Runs every test: unit and integration tests (GoogleTest, the shipped bundle's policy tests,
# the Python client against a real arbiterd), the Helm chart harness, the same tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and a short run of every fuzz target.
#
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh --quick    unit + integration tests only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
quick=0
[ "${1:-}" = "--quick" ] && quick=1

bash scripts/install-deps.sh
step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

step "build (RelWithDebInfo, tests and benchmarks)"
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DARBITER_BUILD_TESTS=ON \
  -DARBITER_BUILD_BENCH=ON >/dev/null
cmake --build build-test

step "unit and integration tests"
(cd build-test && ctest --output-on-failure -j2 --timeout 600)

step "benchmarks build and run (one short pass; figures in bench/README.md)"
if [ -x build-test/bench/engine_bench ]; then
  # A benchmark that cannot measure (a decision that fails, a translation refused) skips with an
  # error and the binary still exits 0: the pass fails on the error instead.
  bench_out="$(build-test/bench/engine_bench --benchmark_min_time=0.05)"
  if grep -q "ERROR OCCURRED" <<<"$bench_out"; then
    grep "ERROR OCCURRED" <<<"$bench_out" >&2
    exit 1
  fi
fi

if [ "$quick" = 1 ]; then exit 0; fi

step "Helm chart"
bash helm/test/run.sh

if [ -x scripts/sanitize.sh ] || [ -f scripts/sanitize.sh ]; then
  step "AddressSanitizer + UndefinedBehaviorSanitizer"
  bash scripts/sanitize.sh
fi
if [ -f scripts/fuzz.sh ]; then
  step "fuzzing (${ARBITER_FUZZ_SECONDS:-30} s per target)"
  bash scripts/fuzz.sh "${ARBITER_FUZZ_SECONDS:-30}"
fi
step "all tests passed"
