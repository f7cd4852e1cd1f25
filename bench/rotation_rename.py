#!/usr/bin/env python3
"""What a decision log rotation's renames cost on this filesystem, the two ways to discard the
oldest file: renaming the next one over it, or removing it first and renaming into the free
name (what DecisionLog::Rotate does since d0b4e93).

On ext4 (auto_da_alloc, the default) a rename that replaces an existing file starts writeback
of the renamed file's dirty pages in the renaming thread; removing the target first avoids it.
Both ways drop the discarded file's page cache (its truncation), which stays in either figure.

  bench/rotation_rename.py [--dir DIR] [--mib 100] [--rounds 4]

Writes two files of MIB MiB (not synced: dirty, as a log's newest files are) per round and
times the rotation's step from the moment both exist.
"""
import argparse
import os
import statistics
import tempfile
import time


def fill(path, mib):
    block = b"x" * (1 << 20)
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(block)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=None, help="where the files go (default: a new temp dir)")
    ap.add_argument("--mib", type=int, default=100, help="size of each file (max_file_bytes)")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        older, newer = os.path.join(d, "decisions.log.2"), os.path.join(d, "decisions.log.1")
        times = {"rename over the oldest": [], "remove, then rename": []}
        for _ in range(args.rounds):
            for way in times:  # alternating, so that a phase of the disk moves both alike
                fill(older, args.mib)
                fill(newer, args.mib)
                start = time.perf_counter()
                if way == "remove, then rename":
                    os.unlink(older)
                os.rename(newer, older)
                times[way].append((time.perf_counter() - start) * 1000)
                os.unlink(older)
        for way, ms in times.items():
            print(f"{way:24} {args.mib} MiB: median {statistics.median(ms):.1f} ms "
                  f"({', '.join(f'{t:.1f}' for t in ms)})")


if __name__ == "__main__":
    main()
