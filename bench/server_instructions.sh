#!/usr/bin/env bash
# Instructions the server executes per call, by callgrind: the figure for the server's own cost
# that does not move with the machine's load (its time per call does, on shared cores).
#
#   bench/server_instructions.sh [BUILD_DIR] [SERVER] [CALL] [N]
#     SERVER  noop         bench/noop_server (the transport's ceiling; CALL access only)
#             small        arbiterd on bench/small-bundle, no decision log (default)
#             shipped      arbiterd on policies/, no decision log
#             shipped+log  arbiterd on policies/, decision log to a file (overflow: drop)
#     CALL    access  CheckAccess of bench/access_request.json over h2load, 4 connections (default)
#             envoy   Envoy's ext_authz Check of bench/envoy_check_request.json, the same way
#             batch   CheckBatch of 100 copies of it (the figure is per decision)
#             select  Trino SelectFromColumns single checks over HTTP keep-alive (trino_load,
#                     4 connections for 10 s; N is ignored, the checks made are counted)
#             filter-tables   Trino FilterTables batches of 1,000 tables, one connection
#             filter-columns  Trino FilterColumns batches of one table's 1,000 columns
#                     (the figure is per item: per table or column; N batches, default 20)
#     N       calls measured (default 2000; 100 for batch)
#   ARBITERD=PATH compares another binary (e.g. an older build).
#   POLICIES=DIR  runs shipped / shipped+log on another bundle (e.g. an older checkout's policies/).
#   KEEP=DIR keeps the callgrind profile there (callgrind_annotate DIR/cg.out.1).
#
# The server runs under valgrind --tool=callgrind; after a warm-up (thread pools, Lua states) the
# counters are zeroed (callgrind_control -z), the N calls are made, and the counters are dumped:
# every thread's instructions (gRPC, HTTP, engine, decision log writer) over those calls, divided
# by the number of calls. Takes a minute or two.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build}"
server="${2:-small}"
call="${3:-access}"
n="${4:-}"
arbiterd="${ARBITERD:-$build/service/server/arbiterd}"
for tool in valgrind callgrind_control h2load; do
  command -v "$tool" >/dev/null || { echo "missing $tool (valgrind, nghttp2-client)" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'kill "$(cat "$work/pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT

# A batch of 1,000 checks takes seconds under callgrind: past the default deadline (1 s) the
# answer would be a 504.
deadline=""
case "$call" in filter-*) deadline='  default_deadline_ms: 600000\n  max_deadline_ms: 600000\n' ;; esac
printf "server:\n  max_concurrent_calls: 4096\n${deadline}bundle:\n  watch: false\nhttp:\n  threads: 4\n" \
  > "$work/config.yaml"
printf 'trino:\n  group_roles:\n    analysts: "sales-analysts"\n' >> "$work/config.yaml"
case "$server" in
  noop) argv=("$build/bench/noop_server" --listen 127.0.0.1:0) ;;
  small) argv=("$arbiterd" --bundle "$repo/bench/small-bundle") ;;
  shipped) argv=("$arbiterd" --bundle "${POLICIES:-$repo/policies}") ;;
  shipped+log)
    argv=("$arbiterd" --bundle "${POLICIES:-$repo/policies}")
    printf 'decision_log:\n  path: %s/decisions.jsonl\n  overflow: drop\n' "$work" >> "$work/config.yaml"
    ;;
  *) echo "unknown server $server" >&2; exit 2 ;;
esac
if [ "$server" != noop ]; then
  argv+=(--listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --config "$work/config.yaml")
fi
valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "${argv[@]}" \
  --port-file "$work/ports" 2>"$work/stderr" &
echo $! > "$work/pid"
pid="$(cat "$work/pid")"
for _ in $(seq 600); do [ -s "$work/ports" ] && break; sleep 0.1; done
[ -s "$work/ports" ] || { cat "$work/stderr"; exit 1; }

h2() {  # h2 FRAME METHOD CALLS [CONNECTIONS]
  h2load -n "$3" -c "${4:-4}" -m 1 -H 'content-type: application/grpc' -H 'te: trailers' -d "$1" \
    "http://127.0.0.1:$(sed -n 's/^grpc=//p' "$work/ports")/$2" \
    > "$work/h2load"
  grep -q " $3 succeeded" "$work/h2load" || { cat "$work/h2load"; exit 1; }
}
per=1
case "$call" in
  access | batch | envoy)
    method=arbiter.v1.DecisionService/CheckAccess
    frame_args=(--kind access --request "$repo/bench/access_request.json")
    warm=1000
    if [ "$call" = batch ]; then
      method=arbiter.v1.DecisionService/CheckBatch; frame_args+=(--batch 100); per=100; warm=64
      n="${n:-100}"
    elif [ "$call" = envoy ]; then
      [ "$server" != noop ] || { echo "noop serves DecisionService only" >&2; exit 2; }
      method=envoy.service.auth.v3.Authorization/Check
      frame_args=(--kind envoy --request "$repo/bench/envoy_check_request.json")
    fi
    n="${n:-2000}"
    "$build/bench/grpc_frame" "${frame_args[@]}" > "$work/frame"
    # The warm-up runs more calls at once than the measurement (16 connections, not 4), so that
    # the engine's pool has made every worker set the measured calls will use: one made during
    # the measurement (~7M instructions: every policy compiled in fresh Lua states) moved the
    # per-call figure by ~3.5k from run to run.
    h2 "$work/frame" "$method" "$warm" 16
    callgrind_control -z "$pid" >/dev/null 2>&1
    h2 "$work/frame" "$method" "$n"
    callgrind_control -d "$pid" >/dev/null 2>&1
    calls=$((n * per))
    ;;
  select)
    [ "$server" != noop ] || { echo "noop serves gRPC only" >&2; exit 2; }
    port="$(sed -n 's/^http=//p' "$work/ports")"
    "$build/bench/trino_load" --port "$port" --mode select --connections 4 --seconds 2 >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    "$build/bench/trino_load" --port "$port" --mode select --connections 4 --seconds 10 \
      > "$work/select"
    callgrind_control -d "$pid" >/dev/null 2>&1
    calls="$(sed -n 's/.*s: \([0-9]*\) checks.*/\1/p' "$work/select")"
    ;;
  filter-tables | filter-columns)
    [ "$server" != noop ] || { echo "noop serves gRPC only" >&2; exit 2; }
    port="$(sed -n 's/^http=//p' "$work/ports")"
    n="${n:-20}"
    [ "$n" -gt 10 ] || { echo "N must be over 10 for $call" >&2; exit 2; }
    "$build/bench/trino_load" --port "$port" --mode "$call" --requests 0 >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    # trino_load sends 10 warm-up batches before the N it times: all are counted.
    "$build/bench/trino_load" --port "$port" --mode "$call" --requests "$((n - 10))" >/dev/null
    callgrind_control -d "$pid" >/dev/null 2>&1
    calls=$((n * 1000))
    ;;
  *) echo "unknown call $call" >&2; exit 2 ;;
esac
ir="$(grep -E '^(summary|totals):' "$work/cg.out.1" | head -1 | awk '{print $2}')"
awk -v ir="$ir" -v n="$calls" -v s="$server" -v c="$call" \
  'BEGIN {printf "%s %s: %.0f instructions / %d = %.1fk instructions per %s\n", s, c, ir, n, ir / n / 1000, c == "batch" ? "decision" : c ~ /^filter/ ? "item" : "call"}'
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$work"/cg.out.* "$KEEP"/; fi
