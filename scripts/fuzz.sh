#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang-14, AddressSanitizer + UBSan + libFuzzer coverage)
# in build-fuzz/ and runs each for SECONDS_PER_TARGET seconds (default 60) on a scratch copy of
# its committed seed corpus (fuzz/corpus/<target>/ is never written to). Then replays the
# committed reproducers of known findings (fuzz/crashes/<target>/*).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Exits non-zero on any crash, sanitizer report, leak, timeout (-timeout=10 s per input) or
# out-of-memory (-rss_limit_mb=2048) found while fuzzing, printing the reproducer's path and how
# to rerun it; and when a committed reproducer in fuzz/crashes/ still reproduces (an open bug)
# unless FUZZ_ALLOW_KNOWN=1.
#
# Environment:
#   FUZZ_JOBS         targets fuzzed at once (default: the number of CPUs, at most 2)
#   FUZZ_TARGETS      space-separated subset of targets to build and run (default: all)
#   FUZZ_WORK         scratch directory (default: build-fuzz/fuzz-runs/<UTC time>)
#   FUZZ_ALLOW_KNOWN  1: a known reproducer that still reproduces is reported, not fatal
#   BUILD_DIR         build directory (default: build-fuzz)
#   FUZZ_CMAKE_ARGS   extra arguments for the cmake configure step (appended, so they win)
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_PER_TARGET=${1:-60}
if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [[ "$SECONDS_PER_TARGET" -lt 1 ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET]" >&2
  exit 2
fi
BUILD_DIR=${BUILD_DIR:-build-fuzz}
NCPU=$(nproc 2>/dev/null || echo 2)
JOBS=${FUZZ_JOBS:-$((NCPU < 2 ? NCPU : 2))}
start=$(date +%s)

log() { printf '[fuzz.sh %4ss] %s\n' "$(($(date +%s) - start))" "$*"; }

# --- Build. ---
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
mkdir -p "$BUILD_DIR"
log "configuring $BUILD_DIR (clang-14, ARBITER_BUILD_FUZZ=ON, ARBITER_SANITIZE=ON)"
cmake -S . -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  "${launcher[@]}" \
  -DARBITER_BUILD_FUZZ=ON -DARBITER_SANITIZE=ON \
  -DARBITER_BUILD_TESTS=OFF -DARBITER_BUILD_BENCH=OFF ${FUZZ_CMAKE_ARGS:-} >"$BUILD_DIR/configure.log" 2>&1 || {
  cat "$BUILD_DIR/configure.log" >&2
  echo "fuzz.sh: configure failed" >&2
  exit 1
}
# FUZZ_TARGETS builds only those targets (and what they link); otherwise every fuzz target.
build_targets=(fuzz)
if [[ -n "${FUZZ_TARGETS:-}" ]]; then read -r -a build_targets <<<"$FUZZ_TARGETS"; fi
log "building ${build_targets[*]} (-j$NCPU)"
if ! cmake --build "$BUILD_DIR" --target "${build_targets[@]}" -j "$NCPU"; then
  echo "fuzz.sh: build failed" >&2
  exit 1
fi
log "build done"

# --- Targets. ---
if [[ -n "${FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for src in fuzz/*_fuzz.cc; do
    t=$(basename "$src" .cc)
    [[ -x "$BUILD_DIR/fuzz/$t" ]] && targets+=("$t")
  done
fi
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "fuzz.sh: no fuzz targets built in $BUILD_DIR/fuzz" >&2
  exit 1
fi

# The committed seed corpus of a target: fuzz/corpus/<target>/, or fuzz/corpus/<name>/ for
# <name>_fuzz (schema_diff_fuzz's is fuzz/corpus/schema_diff/).
corpus_of() {
  local t=$1
  if [[ -d "fuzz/corpus/$t" ]]; then echo "fuzz/corpus/$t"; return; fi
  if [[ -d "fuzz/corpus/${t%_fuzz}" ]]; then echo "fuzz/corpus/${t%_fuzz}"; return; fi
}
# Its dictionary: fuzz/dict/<target>.dict or fuzz/dict/<name>.dict; policy_load_fuzz: lua.dict.
dict_of() {
  local t=$1
  case "$t" in policy_load_fuzz) echo fuzz/dict/lua.dict; return ;; esac
  for d in "fuzz/dict/$t.dict" "fuzz/dict/${t%_fuzz}.dict"; do
    if [[ -f "$d" ]]; then echo "$d"; return; fi
  done
}

WORK=${FUZZ_WORK:-$BUILD_DIR/fuzz-runs/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_target() {
  local t=$1 dir="$WORK/$1"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  local seeds
  seeds=$(corpus_of "$t")
  if [[ -n "$seeds" ]]; then cp -R "$seeds/." "$dir/corpus/"; fi
  local args=(-max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048
              -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$dir/artifacts/")
  local dict
  dict=$(dict_of "$t")
  if [[ -n "$dict" ]]; then args+=(-dict="$ROOT/$dict"); fi
  "$ROOT/$BUILD_DIR/fuzz/$t" "${args[@]}" "$dir/corpus" \
    >"$dir/log" 2>&1
  echo $? >"$dir/rc"
}

log "fuzzing ${#targets[@]} targets for ${SECONDS_PER_TARGET}s each, $JOBS at a time; scratch: $WORK"
running=0
for t in "${targets[@]}"; do
  if [[ $running -ge $JOBS ]]; then
    wait -n
    running=$((running - 1))
  fi
  log "start $t"
  run_target "$t" &
  running=$((running + 1))
done
wait

# --- Results. ---
failed=0
for t in "${targets[@]}"; do
  dir="$WORK/$t"
  rc=$(cat "$dir/rc" 2>/dev/null || echo "?")
  stats=$(grep -aE '^stat::number_of_executed_units' "$dir/log" | awk '{print $2}')
  cov=$(grep -aE '^#[0-9]+[[:space:]]+DONE' "$dir/log" | tail -1 | grep -aoE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+')
  artifacts=$(find "$dir/artifacts" -type f 2>/dev/null)
  if [[ "$rc" == "0" && -z "$artifacts" ]]; then
    log "ok    $t: ${stats:-?} runs, $cov"
    continue
  fi
  failed=1
  log "FAIL  $t (exit $rc); log: $dir/log"
  grep -aE '^(==[0-9]+==ERROR|SUMMARY:|invariant violated|.*runtime error:|ALARM|==[0-9]+== ERROR: libFuzzer)' \
    "$dir/log" | head -5 | sed 's/^/        /'
  for a in $artifacts; do
    echo "        reproducer: $a"
    echo "        rerun:      $BUILD_DIR/fuzz/$t $a"
  done
done

# --- Known findings: committed reproducers. ---
known_open=0
for t in "${targets[@]}"; do
  [[ -d "fuzz/crashes/$t" ]] || continue
  for f in fuzz/crashes/"$t"/*; do
    [[ -f "$f" && "$f" != *.md ]] || continue
    if "$BUILD_DIR/fuzz/$t" -timeout=10 -rss_limit_mb=2048 "$f" >"$WORK/replay.log" 2>&1; then
      log "known $f: no longer reproduces (move it into the seed corpus and delete it here)"
    else
      known_open=1
      log "known $f: STILL REPRODUCES: $(grep -aE 'invariant violated|SUMMARY:' "$WORK/replay.log" | head -1)"
    fi
  done
done

log "done in $(($(date +%s) - start))s"
if [[ $failed -ne 0 ]]; then
  echo "fuzz.sh: new findings (reproducers above, under $WORK)" >&2
  exit 1
fi
if [[ $known_open -ne 0 && "${FUZZ_ALLOW_KNOWN:-0}" != "1" ]]; then
  echo "fuzz.sh: known findings in fuzz/crashes/ still reproduce (FUZZ_ALLOW_KNOWN=1 to report only)" >&2
  exit 1
fi
exit 0
