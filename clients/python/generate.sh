#!/bin/sh
# Generates the arbiter.v1 Python stubs from proto/ into arbiter_client/_gen/ (gitignored) with
# Debian's protoc and grpc_python_plugin. The generated modules import each other as
# `arbiter.v1.*`; those imports are rewritten to `arbiter_client._gen.arbiter.v1.*` so that the
# stubs live inside the package and nothing is added to sys.path.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
proto_dir=${ARBITER_PROTO_DIR:-$here/../../proto}
[ -d "$proto_dir/arbiter/v1" ] || proto_dir=$here/proto   # an sdist carries a copy
out=$here/arbiter_client/_gen
plugin=${GRPC_PYTHON_PLUGIN:-$(command -v grpc_python_plugin || echo /usr/bin/grpc_python_plugin)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
protoc -I "$proto_dir" --python_out="$tmp" --grpc_out="$tmp" \
  --plugin=protoc-gen-grpc="$plugin" "$proto_dir"/arbiter/v1/*.proto
for f in "$tmp"/arbiter/v1/*.py; do
  sed -e 's/^from arbiter\.v1 import /from arbiter_client._gen.arbiter.v1 import /' "$f" > "$f.new"
  mv "$f.new" "$f"
done
touch "$tmp/__init__.py" "$tmp/arbiter/__init__.py" "$tmp/arbiter/v1/__init__.py"
rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -r "$tmp" "$out"
chmod -R u+rwX,go+rX "$out"
echo "generated $(ls "$out"/arbiter/v1/*_pb2*.py | wc -l) modules in $out"
