#!/bin/sh
# Generates the stubs and runs the Python client's tests against a real arbiterd, which the tests
# start themselves. The binary comes from $ARBITERD (ctest sets it), else build/service/server/.
# Uses Debian's python3 (python3-grpcio, python3-protobuf, python3-yaml, python3-pytest).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ -z "${ARBITERD:-}" ]; then
  for candidate in "$repo/build/service/server/arbiterd" "$repo"/build*/service/server/arbiterd; do
    if [ -x "$candidate" ]; then ARBITERD=$candidate; break; fi
  done
fi
if [ -z "${ARBITERD:-}" ] || [ ! -x "$ARBITERD" ]; then
  echo "run_tests.sh: no arbiterd binary; build it or set ARBITERD" >&2
  exit 2
fi
export ARBITERD
python=${PYTHON:-/usr/bin/python3}
sh "$here/generate.sh" >/dev/null
cd "$here"
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
  exec "$python" -m pytest -p no:cacheprovider -q tests "$@"
