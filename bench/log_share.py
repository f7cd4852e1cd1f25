#!/usr/bin/env python3
"""The decision log's share of the server's cost (issue 12: <= 15% of throughput).

Runs bench/grpc_load.sh with the decision log off and on (to a file, overflow: drop) in
alternating pairs, so that the machine's phase, which moves one binary's throughput by up to 60%
between runs, moves both sides of a pair alike, and prints for each stream count the share of
every pair and their median:

  throughput share = 1 - (decisions/s with the log) / (decisions/s without it)
  CPU share        = 1 - (server CPU us per decision without the log) / (the same with it)

The CPU share counts arbiterd's own threads (the log writer's system time included); the
kernel's later writeback of the file's pages runs in kernel threads and is in neither figure.

  bench/log_share.py [BUILD_DIR] [--pairs 5] [--requests 2000] [--batch 100]

--batch 0 measures CheckAccess (one decision per call) instead of CheckBatch. ARBITERD and
POLICIES are passed on to grpc_load.sh. Each run's core speeds before and after it
(bench/core_speeds.sh) are printed under its pair: a pair whose runs saw different speeds
compares the cores, not the log.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(r"streams=\s*(\d+).*?([\d.]+) req/s.*?(?:([\d,]+) decisions/s)?"
                  r"\s+server CPU ([\d.]+) us/")


def run(build, requests, batch, log):
    """{streams: (decisions per second, server CPU us per decision)} of one grpc_load.sh run."""
    env = dict(os.environ, LOG=str(log), BATCH=str(batch))
    out = subprocess.run(["bash", os.path.join(REPO, "bench", "grpc_load.sh"), build,
                          str(requests)], env=env, capture_output=True, text=True, check=True)
    rows = {}
    speeds = [l for l in out.stdout.splitlines() if l.startswith("core speeds")]
    if speeds:
        print(f"  log {'on' if log else 'off'}: " + " -> ".join(
            l.split(": ", 1)[1] for l in speeds), flush=True)
    for line in out.stdout.splitlines():
        m = LINE.search(line)
        if m:
            rate = float(m.group(3).replace(",", "")) if m.group(3) else float(m.group(2))
            rows[int(m.group(1))] = (rate, float(m.group(4)))
    if not rows:
        sys.exit(f"grpc_load.sh printed no measurement:\n{out.stdout}\n{out.stderr}")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default=os.path.join(REPO, "build"))
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    what = f"CheckBatch of {args.batch}" if args.batch else "CheckAccess"
    print(f"decision log's share, {what}, {args.pairs} alternating pairs (off, then on)")
    shares = {}  # streams -> [(throughput share, CPU share)]
    for pair in range(1, args.pairs + 1):
        off = run(args.build, args.requests, args.batch, 0)
        on = run(args.build, args.requests, args.batch, 1)
        for streams in sorted(off):
            if streams not in on:
                continue
            (r0, c0), (r1, c1) = off[streams], on[streams]
            t, c = 1 - r1 / r0, 1 - c0 / c1
            shares.setdefault(streams, []).append((t, c))
            print(f"pair {pair} streams={streams:>3}: off {r0:,.0f}/s {c0:.1f} us, "
                  f"on {r1:,.0f}/s {c1:.1f} us: throughput share {t:.0%}, CPU share {c:.0%}")
    for streams, rows in sorted(shares.items()):
        print(f"median streams={streams:>3}: throughput share "
              f"{statistics.median(t for t, _ in rows):.0%}, CPU share "
              f"{statistics.median(c for _, c in rows):.0%} ({len(rows)} pairs)")


if __name__ == "__main__":
    main()
