#!/usr/bin/env python3
"""Checks that every relative link in the repository's Markdown (README.md, docs/*.md and every
other *.md outside build and hidden directories) points at a file or directory in the
repository, and that an #anchor into a Markdown file names one of its headings (GitHub's slugs).

usage: check_links.py REPO_ROOT
Exit 1 listing every broken link as file:line: link (reason).
"""

import os
import re
import subprocess
import sys

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"`", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    out, seen, fenced = set(), {}, False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if FENCE.match(line):
                fenced = not fenced
                continue
            m = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                s = slug(m.group(1))
                n = seen.get(s, 0)
                seen[s] = n + 1
                out.add(s if n == 0 else f"{s}-{n}")
    return out


def check(root, md):
    problems = []
    base = os.path.dirname(md)
    fenced = False
    with open(md, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if FENCE.match(line):
                fenced = not fenced
                continue
            if fenced:
                continue
            line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
            for m in LINK.finditer(line):
                target = m.group(1) or m.group(2)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                    continue  # http:, https:, mailto:
                path, _, anchor = target.partition("#")
                where = f"{os.path.relpath(md, root)}:{number}: {target}"
                resolved = md if not path else os.path.normpath(os.path.join(base, path))
                if not os.path.exists(resolved):
                    problems.append(f"{where} (no such file in the repository)")
                    continue
                if not os.path.realpath(resolved).startswith(os.path.realpath(root) + os.sep):
                    problems.append(f"{where} (outside the repository)")
                    continue
                if anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                    problems.append(f"{where} (no heading #{anchor} in {os.path.relpath(resolved, root)})")
    return problems


def main():
    root = os.path.abspath(sys.argv[1])
    # The repository's own Markdown: what git tracks (not the node_modules, build trees and
    # scratch files that test runs leave behind); outside a git work tree, a filtered walk.
    try:
        listed = subprocess.run(["git", "-C", root, "ls-files", "-z", "--", "*.md"],
                                capture_output=True, check=True).stdout.decode()
        files = sorted(os.path.join(root, f) for f in listed.split("\0") if f)
    except (OSError, subprocess.CalledProcessError):
        files = []
        for directory, subdirs, names in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs
                                if not d.startswith((".", "build")) and
                                d not in ("_gen", "Testing", "node_modules", "out"))
            files += [os.path.join(directory, n) for n in sorted(names) if n.endswith(".md")]
    for required in ("README.md", os.path.join("docs", "trino.md")):
        if os.path.join(root, required) not in files:
            print(f"{required}: missing")
            return 1
    problems = []
    for md in files:
        problems += check(root, md)
    for p in problems:
        print(p)
    print(f"{len(files)} files checked, {len(problems)} broken links")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
