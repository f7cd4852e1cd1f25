#!/usr/bin/env bash
# Trino endpoint benchmark: starts arbiterd on the shipped bundle (decision logging off unless
# LOG=1) pinned to one core with one HTTP thread, then measures with bench/trino_load:
#   - FilterTables over 1,000 tables, then FilterColumns over one table's 1,000 columns, one
#     batch at a time (issue 12's target: <= 3 ms each); each first on one core, then on every
#     core with each batch decided by one thread, then on every core with a batch's checks
#     spread over the cores (service/server/fan_out.h): the latency per batch drops, the CPU per
#     batch does not;
#   - single SelectFromColumns checks over HTTP keep-alive (target: >= 10,000/s), this time
#     with arbiterd on every core and 4 HTTP threads.
#
#   bench/trino_bench.sh [BUILD_DIR]
#   POLICIES=DIR bench/trino_bench.sh ...   # another bundle (an older checkout's policies/)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build}"
work="$(mktemp -d)"
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

start() {  # start THREADS [taskset-prefix...]
  local threads="$1"; shift
  rm -f "$work/ports"
  {
    printf 'http:\n  threads: %s\ntrino:\n  group_roles:\n    analysts: "sales-analysts"\n' "$threads"
    if [ "${LOG:-0}" = 1 ]; then printf 'decision_log:\n  path: %s/decisions.jsonl\n  overflow: drop\n' "$work"; fi
  } > "$work/config.yaml"
  "$@" "$build/service/server/arbiterd" --bundle "${POLICIES:-$repo/policies}" --listen 127.0.0.1:0 \
    --http-listen 127.0.0.1:0 --config "$work/config.yaml" --port-file "$work/ports" \
    2>"$work/stderr" &
  echo $! > "$work/pid"
  for _ in $(seq 100); do [ -s "$work/ports" ] && break; sleep 0.1; done
  port="$(sed -n "s/^http=//p" "$work/ports")"
  [ -n "$port" ] || { cat "$work/stderr"; exit 1; }
}
stop() { kill "$(cat "$work/pid")"; wait "$(cat "$work/pid")" 2>/dev/null || true; }

# CPU seconds (user + system) arbiterd has used so far: on a shared machine the wall-clock
# latency includes waiting for a core, the CPU time per batch does not.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$(cat "$work/pid")/stat"; }

requests=200
# One batch mode against the server started last, which it then stops: trino_load's line, then
# arbiterd's CPU time per batch (trino_load sends 10 warm-up batches before the ones it times)
# under LABEL.
measure() {  # measure LABEL
  local before after
  before="$(cpu)"
  "$build/bench/trino_load" --port "$port" --mode "$mode" "${items[@]}" --requests "$requests"
  after="$(cpu)"
  awk -v a="$after" -v b="$before" -v n="$((requests + 10))" -v label="$1" \
    'BEGIN {printf "%s: arbiterd CPU time %.2f ms per batch\n", label, (a - b) * 1000 / n}'
  stop
}
bash "$repo/bench/core_speeds.sh" "$build"
for mode in filter-tables filter-columns; do
  name=FilterTables; items=(--tables 1000)
  if [ "$mode" = filter-columns ]; then name=FilterColumns; items=(--columns 1000); fi
  start 1 taskset -c 0
  measure "$name x1000"
  # Every core, each batch decided by the thread that read it: started on one core (no helper
  # threads: the server sizes its fan-out by the cores it may use), then given them all. What
  # the CPU time adds to the one-core figure is the cost of the cores being shared with
  # trino_load and the kernel; what the fan-out row adds to this one is the fan-out's own.
  start 1 taskset -c 0
  taskset -a -p -c "0-$(($(nproc) - 1))" "$(cat "$work/pid")" >/dev/null
  measure "$name x1000 on $(nproc) cores, no fan-out"
  start 1
  measure "$name x1000 on $(nproc) cores"
done
start 4
before="$(cpu)"
"$build/bench/trino_load" --port "$port" --mode select --connections 4 --seconds 5 | tee "$work/select"
after="$(cpu)"
checks="$(sed -n 's/.*s: \([0-9]*\) checks.*/\1/p' "$work/select")"
awk -v a="$after" -v b="$before" -v n="$checks" \
  'BEGIN {printf "SelectFromColumns: arbiterd CPU time %.1f us per check (%.0f checks/s per core)\n", (a - b) * 1e6 / n, n / (a - b)}'
stop
bash "$repo/bench/core_speeds.sh" "$build"
