#!/usr/bin/env bash
# Builds everything (tests included) with AddressSanitizer + UndefinedBehaviorSanitizer in
# build-asan/ (Debug, the default compiler) and runs the whole test suite under them:
#
#   scripts/sanitize.sh [extra ctest arguments, e.g. -R engine]
#
# Any sanitizer report fails the run: ASan aborts on its first error and reports leaks at exit,
# UBSan halts on its first error (-fno-sanitize-recover=all from ARBITER_SANITIZE does the same at
# compile time), so the test that triggered it fails and ctest exits non-zero. As a second net the
# script scans ctest's output for sanitizer reports that a test might have swallowed (e.g. a child
# process whose exit status was ignored).
#
# Environment: BUILD_DIR (default build-asan), JOBS (default: number of CPUs),
# SANITIZE_CMAKE_ARGS (extra configure arguments, appended).
set -uo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
start=$(date +%s)
log() { printf '[sanitize.sh %4ss] %s\n' "$(($(date +%s) - start))" "$*"; }

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
generator=()
if command -v ninja >/dev/null && [[ ! -f "$BUILD_DIR/Makefile" ]]; then generator=(-G Ninja); fi

mkdir -p "$BUILD_DIR"
log "configuring $BUILD_DIR (Debug, ARBITER_SANITIZE=ON)"
cmake -S . -B "$BUILD_DIR" "${generator[@]}" "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=Debug -DARBITER_SANITIZE=ON \
  -DARBITER_BUILD_TESTS=ON -DARBITER_BUILD_BENCH=OFF -DARBITER_BUILD_FUZZ=OFF \
  ${SANITIZE_CMAKE_ARGS:-} >"$BUILD_DIR/configure.log" 2>&1 || {
  cat "$BUILD_DIR/configure.log" >&2
  echo "sanitize.sh: configure failed" >&2
  exit 1
}
log "building (-j$JOBS)"
if ! cmake --build "$BUILD_DIR" -j "$JOBS"; then
  echo "sanitize.sh: build failed" >&2
  exit 1
fi
log "build done; running ctest"

# Callers may override either variable.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

ctest_log="$BUILD_DIR/ctest-sanitize.log"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$JOBS" "$@") 2>&1 | tee "$ctest_log"
ctest_rc=${PIPESTATUS[0]}

reports=$(grep -aE '^==[0-9]+==ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: |^SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)' \
  "$ctest_log" | sort -u)
log "done in $(($(date +%s) - start))s"
if [[ -n "$reports" ]]; then
  echo "sanitize.sh: sanitizer reports:" >&2
  echo "$reports" | head -20 >&2
  exit 1
fi
if [[ $ctest_rc -ne 0 ]]; then
  echo "sanitize.sh: ctest failed (exit $ctest_rc); see $ctest_log" >&2
  exit "$ctest_rc"
fi
echo "sanitize.sh: all tests passed under ASan+UBSan"
