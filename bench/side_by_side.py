#!/usr/bin/env python3
"""Side-by-side gRPC benchmark: the transport's ceiling against arbiterd, in one run.

Starts, each on loopback:
  noop         bench/noop_server: DecisionService on gRPC's callback API answering at once
  small        arbiterd, bench/small-bundle (one policy), no decision log
  shipped      arbiterd, the shipped policies/ bundle, no decision log
  shipped+log  arbiterd, the shipped bundle, decision log to a file (overflow: drop)
  envoy+log    the same arbiterd asked through Envoy's ext_authz Check (the same read, as a
               gateway asks it: bench/envoy_check_request.json, a JWT payload and the route)
  cerbos       with --cerbos BIN only: Cerbos (bench/fetch_cerbos.sh gets its binary from
               npm) answering CheckResources for the same read, one action, under
               bench/cerbos/policies (role sales-analysts reads customer-360's tables), audit
               off; checked to answer EFFECT_ALLOW before it is measured
  cerbos+log   the same with Cerbos's decision log to a file (its audit `file` backend,
               decision logs only): the row to set beside shipped+log
and drives CheckAccess (Check for envoy+log) with h2load (Debian's nghttp2-client) at 64 connections with one stream
each, rounds alternating the servers so that background load hits them alike; then one
connection for the single-call latency. The request is bench/access_request.json (a Trino-like
read of customer-360 with a PII column), sent as a pre-encoded gRPC frame (bench/grpc_frame).

Server CPU per request comes from /proc/<pid>/stat (utime + stime) over the measured run: it
is the figure that scales to a machine where the load generator does not share the cores.
Thread switches per request (every thread's, from /proc/<pid>/task/*/status) count hand-offs
between threads, which cost CPU in the kernel that no instruction count of the server shows.

  bench/side_by_side.py [BUILD_DIR] [--requests N] [--rounds R] [--connections C]
                        [--only noop,small,...] [--arbiterd PATH] [--policies DIR]
                        [--cerbos "$(bench/fetch_cerbos.sh)"]
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def context_switches(pid):
    """Every thread's voluntary and involuntary switches: a hand-off between threads costs two."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if "ctxt_switches:" in line:
                        total += int(line.split()[1])
        except FileNotFoundError:  # a thread that ended meanwhile
            pass
    return total


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class Server:
    def __init__(self, name, label, argv, work, frame, method, port=None):
        """`port`: the gRPC port `argv` listens on, for a server that writes no port file."""
        self.name, self.label, self.work = name, label, work
        self.frame, self.method = frame, method
        self.stderr = open(os.path.join(work, f"{name}.stderr"), "w")
        self.runs = []
        if port is not None:
            self.proc = subprocess.Popen(argv, stdout=self.stderr, stderr=self.stderr)
            self.port = str(port)
            wait_for_port(port, self.proc, name, self.stderr.name)
            return
        self.port_file = os.path.join(work, f"{name}.ports")
        self.proc = subprocess.Popen(argv + ["--port-file", self.port_file], stderr=self.stderr)
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(self.port_file) and os.path.getsize(self.port_file) > 0:
                break
            if self.proc.poll() is not None:
                sys.exit(f"{name} exited: {open(self.stderr.name).read()}")
            time.sleep(0.05)
        ports = dict(l.strip().split("=", 1) for l in open(self.port_file) if "=" in l)
        self.port = ports["grpc"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, name, log):
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited: {open(log).read()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    proc.kill()
    sys.exit(f"{name} did not listen on 127.0.0.1:{port} within 60 s: {open(log).read()}")


def proto_field(number, payload):
    """A length-delimited protobuf field (strings, messages, map entries)."""
    def varint(n):
        out = bytearray()
        while True:
            b, n = n & 0x7F, n >> 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def cerbos_frame(request_json):
    """bench/access_request.json's read as a gRPC frame of Cerbos's CheckResourcesRequest
    (cerbos.request.v1; field numbers from cerbos/request/v1/request.proto and
    cerbos/engine/v1/engine.proto): the principal with its roles and attributes, the table as
    a resource of kind "table" with its product and columns as attributes, action read."""
    with open(request_json) as f:
        req = json.load(f)
    value = lambda v: (proto_field(6, b"".join(proto_field(1, proto_field(3, x)) for x in v))
                       if isinstance(v, list) else proto_field(3, str(v)))  # ListValue / string
    attr = lambda number, d: b"".join(
        proto_field(number, proto_field(1, k) + proto_field(2, value(v))) for k, v in d.items())
    p = req["principal"]
    principal = (proto_field(1, p["id"]) + b"".join(proto_field(3, r) for r in p["roles"])
                 + attr(4, p.get("attributes", {})))
    table = req["resource"]["table"]
    resource = (proto_field(1, "table") + proto_field(3, table)
                + attr(4, {"product": "customer-360", "columns": req["resource"]["columns"]}))
    message = (proto_field(1, "bench") + proto_field(3, principal)
               + proto_field(4, proto_field(1, req["action"]) + proto_field(2, resource)))
    return b"\x00" + struct.pack(">I", len(message)) + message


def start_cerbos(binary, work, frame, log):
    """Cerbos on free loopback ports with bench/cerbos/policies (its decision log to a file when
    `log`), checked to allow the read."""
    name = "cerbos+log" if log else "cerbos"
    grpc_port, http_port = free_port(), free_port()
    config = os.path.join(work, f"{name}.yaml")
    audit = (f"audit:\n  enabled: true\n  accessLogsEnabled: false\n  decisionLogsEnabled: true\n"
             f"  backend: file\n  file:\n    path: {work}/cerbos_audit.jsonl\n"
             if log else "audit:\n  enabled: false\n")
    with open(config, "w") as f:
        f.write(f"server:\n  httpListenAddr: \"127.0.0.1:{http_port}\"\n"
                f"  grpcListenAddr: \"127.0.0.1:{grpc_port}\"\n"
                f"storage:\n  driver: disk\n  disk:\n"
                f"    directory: {os.path.join(REPO, 'bench', 'cerbos', 'policies')}\n"
                f"    watchForChanges: false\n{audit}")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split()
    label = (f"Cerbos {version[0] if version else ''} CheckResources, one action"
             + (", decision log to a file" if log else ""))
    server = Server(name, label, [binary, "server", f"--config={config}", "--log-level=warn"],
                    work, frame, "cerbos.svc.v1.CerbosService/CheckResources", port=grpc_port)
    # One call by curl: HTTP/2 without TLS, gRPC status 0 in the trailers, and the answer's
    # actions map holding read -> EFFECT_ALLOW (1).
    answer = os.path.join(work, "cerbos.answer")
    out = subprocess.run(["curl", "-sv", "--http2-prior-knowledge", "-H",
                          "content-type: application/grpc", "-H", "te: trailers",
                          "--data-binary", f"@{frame}", "-o", answer,
                          f"http://127.0.0.1:{grpc_port}/{server.method}"],
                         capture_output=True, text=True)
    with open(answer, "rb") as f:
        allowed = b"\n\x04read\x10\x01" in f.read()
    if "grpc-status: 0" not in out.stderr or not allowed:
        server.stop()
        sys.exit(f"cerbos did not allow the read (gRPC status and answer in {work}):\n"
                 f"{out.stderr[-2000:]}")
    return server


def h2load(server, n, connections, log):
    url = f"http://127.0.0.1:{server.port}/{server.method}"
    argv = ["h2load", "-n", str(n), "-c", str(connections), "-m", "1",
            "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", server.frame]
    if log:
        argv.append(f"--log-file={log}")
    cpu0 = cpu_seconds(server.proc.pid)
    switches0 = context_switches(server.proc.pid)
    out = subprocess.run(argv + [url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(server.proc.pid) - cpu0
    switches = context_switches(server.proc.pid) - switches0
    rps = errored = None
    for line in out.splitlines():
        if line.startswith("finished in"):
            rps = float(line.split(",")[1].split()[0])
        if line.startswith("requests:"):
            errored = int(line.split(",")[4].split()[0])  # "... N errored"
    lat = []
    if log:
        with open(log) as f:
            lat = sorted(int(l.split()[2]) / 1000.0 for l in f if l.strip())
        os.remove(log)
    return rps, errored, lat, cpu, switches


def pct(lat, q):
    return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")


def core_speeds(build):
    """bench/core_speeds.sh's line: each core's speed now (the phase a round ran in)."""
    out = subprocess.run(["bash", os.path.join(REPO, "bench", "core_speeds.sh"), build],
                         capture_output=True, text=True)
    return out.stdout.strip() or out.stderr.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.path.join(REPO, "build"))
    ap.add_argument("--requests", type=int, default=50000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--single", type=int, default=5000, help="requests on one connection")
    ap.add_argument("--only", default="", help="comma-separated server names")
    ap.add_argument("--policies", default=os.path.join(REPO, "policies"),
                    help="the shipped bundle to serve (e.g. an older checkout's policies/)")
    ap.add_argument("--arbiterd", default="", help="arbiterd binary (default: BUILD_DIR's), e.g. "
                    "an older build for a before/after comparison")
    ap.add_argument("--cerbos", default="", help="a Cerbos binary (bench/fetch_cerbos.sh): adds "
                    "Cerbos answering CheckResources for the same read, without and with its "
                    "decision log")
    args = ap.parse_args()
    if shutil.which("h2load") is None:
        sys.exit("h2load missing: apt-get install nghttp2-client")
    work = tempfile.mkdtemp(prefix="arbiter-sbs-")
    frames = {}
    for kind, request in (("access", "access_request.json"), ("envoy", "envoy_check_request.json")):
        frames[kind] = os.path.join(work, f"{kind}.frame")
        with open(frames[kind], "wb") as f:
            subprocess.run([os.path.join(args.build, "bench/grpc_frame"), "--kind", kind,
                            "--request", os.path.join(REPO, "bench", request)],
                           stdout=f, check=True)
    if args.cerbos:
        frames["cerbos"] = os.path.join(work, "cerbos.frame")
        with open(frames["cerbos"], "wb") as f:
            f.write(cerbos_frame(os.path.join(REPO, "bench", "access_request.json")))
    check_access = "arbiter.v1.DecisionService/CheckAccess"
    arbiterd = args.arbiterd or os.path.join(args.build, "service/server/arbiterd")

    def config(name, log):
        path = os.path.join(work, f"{name}.yaml")
        with open(path, "w") as f:
            f.write("server:\n  max_concurrent_calls: 4096\nbundle:\n  watch: false\n")
            if log:
                f.write(f"decision_log:\n  path: {work}/{name}.jsonl\n  overflow: drop\n")
        return path

    specs = [
        ("noop", "no-op C++ gRPC callback server (the transport's ceiling)",
         [os.path.join(args.build, "bench/noop_server"), "--listen", "127.0.0.1:0"]),
        ("small", "arbiterd, bench/small-bundle (1 policy), no decision log",
         [arbiterd, "--bundle", os.path.join(REPO, "bench/small-bundle"), "--listen",
          "127.0.0.1:0", "--config", config("small", False)]),
        ("shipped", "arbiterd, shipped policies/, no decision log",
         [arbiterd, "--bundle", args.policies, "--listen", "127.0.0.1:0",
          "--config", config("shipped", False)]),
        ("shipped+log", "arbiterd, shipped policies/, decision log to a file",
         [arbiterd, "--bundle", args.policies, "--listen", "127.0.0.1:0",
          "--config", config("shipped_log", True)]),
        ("envoy+log", "arbiterd, the same, asked by Envoy's ext_authz Check",
         [arbiterd, "--bundle", args.policies, "--listen", "127.0.0.1:0",
          "--config", config("envoy_log", True)], "envoy",
         "envoy.service.auth.v3.Authorization/Check"),
    ]
    if args.only:
        keep = set(args.only.split(","))
        specs = [s for s in specs if s[0] in keep]
    servers = []
    try:
        for name, label, argv, *call in specs:
            kind, method = call if call else ("access", check_access)
            servers.append(Server(name, label, argv, work, frames[kind], method))
        for name in ("cerbos", "cerbos+log"):
            if args.cerbos and (not args.only or name in args.only.split(",")):
                servers.append(start_cerbos(args.cerbos, work, frames["cerbos"], name != "cerbos"))
        for s in servers:  # warm-up: thread pools, Lua states
            h2load(s, 5000, args.connections, None)
        for r in range(args.rounds):
            print(core_speeds(args.build), file=sys.stderr)
            for s in servers:
                rps, errored, lat, cpu, switches = h2load(s, args.requests, args.connections,
                                                          os.path.join(work, "h2load.log"))
                s.runs.append((rps, errored, pct(lat, 0.5), pct(lat, 0.99), cpu / args.requests,
                               rss_mib(s.proc.pid), switches / args.requests))
                print(f"round {r + 1} {s.name:12s} {rps:9.0f} req/s p50 {pct(lat, .5):.2f} ms "
                      f"p99 {pct(lat, .99):.2f} ms cpu {1e6 * cpu / args.requests:.1f} us/req "
                      f"switches {switches / args.requests:.2f}/req errored {errored}",
                      file=sys.stderr)
        print(core_speeds(args.build), file=sys.stderr)
        single = {}
        for s in servers:
            _, _, lat, cpu, _ = h2load(s, args.single, 1, os.path.join(work, "h2load.log"))
            single[s.name] = (pct(lat, 0.5), 1e6 * cpu / args.single)
    finally:
        for s in servers:
            s.stop()
    base = None
    print(f"\nCheckAccess (envoy+log: Check; cerbos: CheckResources), {args.connections} connections x 1 stream, {args.requests} requests x "
          f"{args.rounds} rounds (median), h2load and servers on the same {os.cpu_count()} cores\n")
    print("| server | req/s | of no-op | p50 ms | p99 ms | server CPU µs/req "
          "| thread switches/req | RSS MiB | 1 conn p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in servers:
        med = lambda i: statistics.median(run[i] for run in s.runs)
        rps = med(0)
        if s.name == "noop":
            base = rps
        share = f"{100 * rps / base:.0f}%" if base else "-"
        print(f"| {s.label} | {rps:,.0f} | {share} | {med(2):.2f} | {med(3):.2f} | "
              f"{1e6 * med(4):.1f} | {med(6):.2f} | {max(run[5] for run in s.runs):.0f} | "
              f"{single[s.name][0]:.3f} |")
        errs = sum(run[1] or 0 for run in s.runs)
        if errs:
            print(f"  ({s.name}: {errs} requests errored)")
    for prefix, what in (("shipped_log.jsonl", "decision log"),
                         ("cerbos_audit.jsonl", "Cerbos's decision log")):
        logs = [os.path.join(work, f) for f in os.listdir(work) if f.startswith(prefix)]
        if not logs:
            continue
        lines = size = 0
        for path in logs:  # rotated files included
            with open(path, "rb") as f:
                lines += sum(1 for _ in f)
            size += os.path.getsize(path)
        print(f"\n{what}: {lines} lines (warm-up included), {size / max(lines, 1):.0f} "
              "bytes per line")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
