#!/usr/bin/env bash
# Fetches Cerbos's server binary from the npm registry (Cerbos publishes one package per
# platform, @cerbos/cerbos-linux-x64 and -arm64) into a cache directory, and prints its path:
# the optional Cerbos row of bench/side_by_side.py. Needs npm (Debian's `npm` package) and the
# registry; nothing is installed system-wide.
#
#   bench/side_by_side.py build --cerbos "$(bench/fetch_cerbos.sh)"
#   CERBOS_VERSION=0.55.0 (the default: the version issue 12 measured)
#   CACHE=DIR (default: ${XDG_CACHE_HOME:-$HOME/.cache}/arbiter-bench)
set -euo pipefail
version="${CERBOS_VERSION:-0.55.0}"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "fetch_cerbos: no Cerbos package for $(uname -m)" >&2; exit 1 ;;
esac
dir="${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/arbiter-bench}/cerbos-$version-linux-$arch"
bin="$dir/package/cerbos-linux-$arch"
if [ ! -x "$bin" ]; then
  command -v npm >/dev/null || { echo "fetch_cerbos: npm missing: apt-get install npm" >&2; exit 1; }
  mkdir -p "$dir"
  tgz="$(cd "$dir" && npm pack --silent "@cerbos/cerbos-linux-$arch@$version")"
  tar -xzf "$dir/$tgz" -C "$dir"
  chmod +x "$bin"
fi
"$bin" --version >/dev/null || { echo "fetch_cerbos: $bin does not run" >&2; exit 1; }
echo "$bin"
