#!/usr/bin/env bash
# One command on a fresh Debian machine: installs the dependencies, builds, and runs arbiterd on
# the shipped policies/ bundle (gRPC on 127.0.0.1:50051, HTTP side port on 127.0.0.1:8181).
# Extra arguments go to arbiterd (e.g. --config deploy/arbiterd.yaml).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh --build-only
bash scripts/build.sh
exec build/service/server/arbiterd --bundle policies --listen "${ARBITER_LISTEN:-127.0.0.1:50051}" \
  --http-listen "${ARBITER_HTTP_LISTEN:-127.0.0.1:8181}" "$@"
