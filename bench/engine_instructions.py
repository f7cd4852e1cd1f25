#!/usr/bin/env python3
"""Instructions per engine decision, by callgrind: the stable figure for the engine's cost.

Time on a shared 2-core machine swings by 2-3x with the other load; instruction counts do not.
For each engine_bench benchmark named, runs it under callgrind collecting only inside
engine_bench's DecideAccess (the proto -> engine request conversion and Bundle::Evaluate: what
issue 12's engine target counts) or DecideAccessFromTrino (one check of a translated Trino batch
on a session: BM_TrinoFilterColumns, BM_TrinoFilterTables), and divides the collected
instructions by the number of evaluations made from it. Access benchmarks only (those that go
through either).

  bench/engine_instructions.py [BUILD_DIR] [--bench BM_Access,BM_AccessPii] [--keep DIR]
                               [--lua-symbols]

--lua-symbols relinks engine_bench against Debian's static liblua5.4.a (same code as the shared
library, whose local symbols are stripped) so that the table names Lua's own functions
(luaV_execute, luaG_traceexec, ...) instead of addresses. The figures are the same.

Prints one row per benchmark: Ir per decision, the decisions counted, the checks per decision
that ran twice (a hookless first run the sandbox could not certify within the instruction budget,
then the counted run: ~0 in a faithful figure; lua_sandbox.cc, FastRunStands), and the five
functions with the most exclusive instructions per decision.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A decision is one call of either (BM_Trino* decide on a session, as the server's batches do).
EVALUATE = ("arbiter::Bundle::Evaluate(", "arbiter::Bundle::Session::Evaluate(")


def parse(path):
    """Returns (collected Ir, evaluations (EVALUATE calls), {function: exclusive Ir})."""
    names = {}  # compressed id -> name, for fn= and cfn= lines
    total = 0
    evaluate_calls = 0
    exclusive = {}
    current = None
    pending_call = None  # the cfn of the last cfn= line, waiting for its calls= line
    in_call = False  # the line after calls= is the call's cost, inclusive: not exclusive Ir

    def name_of(spec):
        m = re.match(r"\((\d+)\)(?: (.*))?", spec)
        if not m:
            return spec
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), spec)

    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("summary:") or line.startswith("totals:"):
                total = max(total, int(line.split()[1]))
            elif line.startswith("fn="):
                current = name_of(line[3:])
            elif line.startswith("cfn="):
                pending_call = name_of(line[4:])
            elif line.startswith("calls="):
                if pending_call is not None and pending_call.startswith(EVALUATE):
                    evaluate_calls += int(line[6:].split()[0])
                in_call = True
            elif line and (line[0].isdigit() or line[0] in "+-*"):
                if in_call:
                    in_call = False
                    continue
                parts = line.split()
                if len(parts) >= 2 and current is not None:
                    exclusive[current] = exclusive.get(current, 0) + int(parts[1])
    return total, evaluate_calls, exclusive


STATIC_LUA = "/usr/lib/x86_64-linux-gnu/liblua5.4.a"


def relink_with_static_lua(build, out_dir):
    """engine_bench's own link command with liblua5.4.so replaced by liblua5.4.a."""
    if not os.path.exists(STATIC_LUA):
        sys.exit(f"{STATIC_LUA}: missing (Debian's liblua5.4-dev ships it)")
    commands = subprocess.run(["ninja", "-C", build, "-t", "commands", "bench/engine_bench"],
                              capture_output=True, text=True, check=True).stdout.splitlines()
    link = commands[-1]
    if "liblua5.4.so" not in link or "-o bench/engine_bench" not in link:
        sys.exit("cannot find engine_bench's link command (is the build configured with Ninja?)")
    out = os.path.abspath(os.path.join(out_dir, "engine_bench.static-lua"))
    link = re.sub(r"\S*liblua5\.4\.so", STATIC_LUA, link).replace("-o bench/engine_bench",
                                                                    f"-o {out}")
    subprocess.run(link, shell=True, cwd=build, check=True)
    return out


def short(name):
    """A function's name without namespaces, template arguments or parameters."""
    name = name.replace("(anonymous namespace)::", "")
    name = re.sub(r"[(<].*", "", name)
    return name.split("::")[-1] or name


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--bench", default="BM_Access,BM_AccessPii")
    ap.add_argument("--keep", help="keep the callgrind outputs in this directory")
    ap.add_argument("--lua-symbols", action="store_true",
                    help="relink engine_bench against liblua5.4.a to name Lua's functions")
    args = ap.parse_args()
    binary = os.path.join(args.build, "bench", "engine_bench")
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary}: not built (configure with -DARBITER_BUILD_BENCH=ON)")
    out_dir = args.keep or tempfile.mkdtemp(prefix="arbiter-cg-")
    os.makedirs(out_dir, exist_ok=True)
    if args.lua_symbols:
        binary = relink_with_static_lua(args.build, out_dir)
    print(f"{'benchmark':<16} {'Ir/decision':>12} {'decisions':>10} {'reruns':>7}  "
          "top functions (exclusive Ir/decision)")
    for bench in args.bench.split(","):
        out = os.path.join(out_dir, re.sub(r"[^A-Za-z0-9_.-]", "_", bench) + ".callgrind")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               "--toggle-collect=*DecideAccess*", binary,
               f"--benchmark_filter={bench}$", "--benchmark_min_time=0.2",
               "--benchmark_format=json"]
        run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if run.returncode != 0:
            sys.exit(f"{bench}: callgrind failed:\n{run.stderr[-2000:]}")
        total, calls, exclusive = parse(out)
        if calls == 0:
            sys.exit(f"{bench}: no evaluation was recorded")
        top = sorted(exclusive.items(), key=lambda kv: -kv[1])[:5]
        tops = "; ".join(f"{short(n)} {v / calls / 1000:.1f}k" for n, v in top)
        try:
            reruns = f"{json.loads(run.stdout)['benchmarks'][0]['reruns']:.2f}"
        except (ValueError, KeyError, IndexError):
            reruns = "?"
        print(f"{bench:<16} {total / calls:>12,.0f} {calls:>10} {reruns:>7}  {tops}")


if __name__ == "__main__":
    main()
