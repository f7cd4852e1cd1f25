#!/usr/bin/env bash
# The speed each core runs at right now: engine_bench's BM_AccessPii (one access decision with the
# shipped bundle) pinned to each core in turn, ns per decision. On the 2-vCPU machines these
# benchmarks run on, one core can run the same code 1.6-1.8x slower than the other for seconds
# to minutes (the host's load; /proc/stat shows no steal), and every time figure follows the
# cores it ran on. The load benchmarks print this line before and after their runs so that a
# figure can be read with the phase it was measured in.
#
#   bench/core_speeds.sh [BUILD_DIR]   # prints "core speeds (BM_AccessPii ns): cpu0 4836, cpu1 8561"
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build}"
bench="$build/bench/engine_bench"
[ -x "$bench" ] || { echo "core speeds: $bench not built (ARBITER_BUILD_BENCH=ON)"; exit 0; }
command -v taskset >/dev/null || { echo "core speeds: taskset missing (util-linux)"; exit 0; }
speeds=()
for cpu in $(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))'); do
  ns="$(taskset -c "$cpu" "$bench" --benchmark_filter='BM_AccessPii$' --benchmark_min_time=0.2 \
        --benchmark_format=csv 2>/dev/null | awk -F, '/BM_AccessPii/ { printf "%.0f", $3 }')"
  speeds+=("cpu$cpu ${ns:-?}")
done
printf 'core speeds (BM_AccessPii ns): %s\n' "$(IFS=,; echo "${speeds[*]}" | sed 's/,/, /g')"
