#!/usr/bin/env bash
# gRPC load benchmark: starts arbiterd on the shipped bundle (decision logging on, to a file)
# and drives CheckAccess over loopback with h2load (Debian's nghttp2-client), a load generator
# that is not part of the server, sending a pre-encoded gRPC frame. Prints requests/s and
# p50/p99 latency at 16 and 64 concurrent streams (computed from h2load's per-request log), and
# the server's CPU time per request (per decision for BATCH) from /proc/PID/stat and its threads'
# context switches per request (per call, also for BATCH) from /proc/PID/task/*/status.
#
#   bench/grpc_load.sh [BUILD_DIR] [REQUESTS_PER_RUN]
#   BATCH=100 bench/grpc_load.sh ...   # CheckBatch of 100 copies instead; reports decisions/s
#   ENVOY=1 bench/grpc_load.sh ...     # Envoy's ext_authz Check of bench/envoy_check_request.json
#                                      # (the same read, as a gateway asks it) instead
#   LOG=0 bench/grpc_load.sh ...       # decision log off (the log's share of the cost)
#   ARBITERD=PATH bench/grpc_load.sh ...  # another binary (an older build, for an A/B)
#   POLICIES=DIR bench/grpc_load.sh ...   # another bundle (an older checkout's policies/)
#   THREADS=1 bench/grpc_load.sh ...      # also the server's CPU per thread kind (gRPC's, the
#                                         # decision workers', the log writer's...), from
#                                         # /proc/PID/task/*/stat: where a call was decided
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build}"
n="${2:-200000}"
work="$(mktemp -d)"
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

command -v h2load >/dev/null || { echo "h2load missing: apt-get install nghttp2-client" >&2; exit 2; }
batch="${BATCH:-0}"
log="${LOG:-1}"
method=arbiter.v1.DecisionService/CheckAccess
if [ "${ENVOY:-0}" = 1 ]; then
  method=envoy.service.auth.v3.Authorization/Check
  "$build/bench/grpc_frame" --kind envoy --request "$repo/bench/envoy_check_request.json" > "$work/frame"
elif [ "$batch" -gt 0 ]; then
  method=arbiter.v1.DecisionService/CheckBatch
  "$build/bench/grpc_frame" --kind access --request "$repo/bench/access_request.json" --batch "$batch" > "$work/frame"
else
  "$build/bench/grpc_frame" --kind access --request "$repo/bench/access_request.json" > "$work/frame"
fi
cat > "$work/config.yaml" <<CFG
server:
  max_concurrent_calls: 4096
CFG
if [ "$log" = 1 ]; then
  printf 'decision_log:\n  path: %s/decisions.jsonl\n  overflow: drop\n' "$work" >> "$work/config.yaml"
fi
"${ARBITERD:-$build/service/server/arbiterd}" --bundle "${POLICIES:-$repo/policies}" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  --config "$work/config.yaml" --port-file "$work/ports" 2>"$work/stderr" &
echo $! > "$work/pid"
for _ in $(seq 100); do [ -s "$work/ports" ] && break; sleep 0.1; done
port="$(sed -n "s/^grpc=//p" "$work/ports")"; http_port="$(sed -n "s/^http=//p" "$work/ports")"
[ -n "$port" ] || { cat "$work/stderr"; exit 1; }

# Every server thread's context switches so far (voluntary and involuntary): a hand-off between
# threads costs two.
switches() {
  cat /proc/"$(cat "$work/pid")"/task/*/status 2>/dev/null |
    awk '/ctxt_switches:/ { n += $2 } END { print n + 0 }'
}

# user+system clock ticks so far of each kind of server thread (by name: "arb-decide",
# "arb-log-writer", gRPC's callback threads "nexting_thread" ...), one "name ticks" line each.
thread_ticks() {
  for t in /proc/"$(cat "$work/pid")"/task/*; do
    printf '%s %s\n' "$(tr ' ' _ < "$t/comm" 2>/dev/null)" "$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null)"
  done | awk 'NF == 2 { n[$1] += $2 } END { for (k in n) print k, n[k] }' | sort
}

run() {  # streams clients
  local streams=$1 clients=$2
  local per=$((streams / clients))
  # Warm up, then measure.
  h2load -n 5000 -c "$clients" -m "$per" -H 'content-type: application/grpc' -H 'te: trailers' \
    -d "$work/frame" "http://127.0.0.1:$port/$method" >/dev/null
  # The server's CPU (utime + stime, in clock ticks) over the measured run: the figure that
  # scales to a machine where h2load does not share the cores.
  local cpu0 cpu1 sw0 sw1
  cpu0="$(awk '{print $14 + $15}' "/proc/$(cat "$work/pid")/stat")"
  sw0="$(switches)"
  [ "${THREADS:-0}" = 1 ] && thread_ticks > "$work/threads0"
  h2load -n "$n" -c "$clients" -m "$per" -H 'content-type: application/grpc' -H 'te: trailers' \
    -d "$work/frame" --log-file="$work/h2load.log" \
    "http://127.0.0.1:$port/$method" > "$work/out"
  cpu1="$(awk '{print $14 + $15}' "/proc/$(cat "$work/pid")/stat")"
  sw1="$(switches)"
  [ "${THREADS:-0}" = 1 ] && thread_ticks > "$work/threads1"
  local rps errors
  rps="$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$work/out")"
  errors="$(sed -n 's/^requests: .* \([0-9]*\) errored.*/\1/p' "$work/out")"
  # h2load's log: start time, HTTP status, elapsed microseconds per request.
  python3 - "$work/h2load.log" "$streams" "$rps" "$errors" "$batch" "$((cpu1 - cpu0))" \
    "$(getconf CLK_TCK)" "$((sw1 - sw0))" <<'PY'
import sys
path, streams, rps, errors = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
batch, ticks, hz, switches = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
lat = sorted(int(line.split()[2]) for line in open(path) if line.strip())
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1000.0
decisions = len(lat) * max(batch, 1)
cpu_us = ticks / hz / decisions * 1e6
print(f"streams={streams:>3}  requests={len(lat)}  {float(rps):>9.0f} req/s  "
      f"p50={p(0.50):.2f} ms  p99={p(0.99):.2f} ms  errored={errors}"
      + (f"  {float(rps) * batch:,.0f} decisions/s" if batch else "")
      + f"  server CPU {cpu_us:.1f} us/{'decision' if batch else 'request'}"
      + f"  thread switches {switches / len(lat):.2f}/request")
PY
  if [ "${THREADS:-0}" = 1 ]; then
    # Threads that ended between the two snapshots are left out (none do under a steady load).
    join "$work/threads0" "$work/threads1" | awk -v n="$(($(wc -l < "$work/h2load.log") * (batch > 0 ? batch : 1)))" \
      -v hz="$(getconf CLK_TCK)" -v what="$([ "$batch" -gt 0 ] && echo decision || echo request)" \
      '$3 > $2 { printf "%s %s %.2f us/%s", (c++ ? "," : "  threads:"), $1, ($3 - $2) / hz / n * 1e6, what }
       END { print "" }'
  fi
  rm -f "$work/h2load.log"
}

echo "arbiterd $method${BATCH:+ x$BATCH} over loopback, shipped bundle, decision log $([ "$log" = 1 ] && echo on || echo off) ($(nproc) cores shared with h2load)"
bash "$repo/bench/core_speeds.sh" "$build"
run 16 4
run 64 4
bash "$repo/bench/core_speeds.sh" "$build"
metrics="$(curl -s "http://127.0.0.1:$http_port/metrics" || true)"
decided="$(echo "$metrics" | awk '/^arbiter_decisions_total/ {s += $2} END {print s + 0}')"
rejected="$(echo "$metrics" | awk '/^arbiter_rejected_calls_total/ {s += $2} END {print s + 0}')"
# SIGTERM drains and flushes the log, so the line count below is final.
kill -TERM "$(cat "$work/pid")"; wait "$(cat "$work/pid")" 2>/dev/null || true
dropped="$(echo "$metrics" | sed -n 's/^arbiter_decision_log_dropped_total //p')"
if [ "$log" = 1 ]; then
  log_summary="decision log: $(cat "$work"/decisions.jsonl* | wc -l) lines (rotated files included), ${dropped:-0} dropped"
else
  log_summary="decision log off"
fi
echo "server: $decided decisions (warm-up included), $rejected calls rejected; $log_summary"
