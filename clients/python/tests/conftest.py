"""Starts the real arbiterd for the tests: 127.0.0.1, port 0 (reported through --port-file), the
shipped bundle policies/. The binary is $ARBITERD (run_tests.sh and ctest set it)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from the source folder without installing

REPO = HERE.parents[2]
POLICIES = REPO / "policies"


def _arbiterd() -> str:
    env = os.environ.get("ARBITERD")
    if env:
        return env
    for candidate in [REPO / "build/service/server/arbiterd",
                      *sorted(REPO.glob("build*/service/server/arbiterd"))]:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.exit("no arbiterd binary: set ARBITERD or build build/service/server/arbiterd", 2)


@contextlib.contextmanager
def start_arbiterd(extra_args: Sequence[str] = ()) -> Iterator[str]:
    """Runs arbiterd on the shipped bundle (plus `extra_args`) and yields its gRPC target.
    Without a --config of the caller's, plaintext callers get the governance role, since the
    tests exercise the admin calls (dry-run, reload) too."""
    with tempfile.TemporaryDirectory(prefix="arbiter-py-") as work:
        port_file = Path(work) / "ports"
        if "--config" not in extra_args:
            config = Path(work) / "config.yaml"
            config.write_text("authz:\n  anonymous_role: governance\n")
            extra_args = [*extra_args, "--config", str(config)]
        stderr = open(Path(work) / "stderr", "w+b")
        proc = subprocess.Popen(
            [_arbiterd(), "--bundle", str(POLICIES), "--listen", "127.0.0.1:0",
             "--port-file", str(port_file), *extra_args],
            stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 20
            port = 0
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    stderr.seek(0)
                    pytest.fail(f"arbiterd exited {proc.returncode}: {stderr.read().decode()}")
                if port_file.exists():
                    for line in port_file.read_text().splitlines():
                        k, _, v = line.partition("=")
                        if k == "grpc" and v.isdigit():
                            port = int(v)
                    if port:
                        break
                time.sleep(0.02)  # polling the port file, as tests/support does
            if not port:
                stderr.seek(0)
                pytest.fail(f"arbiterd did not start: {stderr.read().decode()}")
            yield f"127.0.0.1:{port}"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            stderr.close()


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """The gRPC target of a running arbiterd on the shipped bundle."""
    with start_arbiterd() as target:
        yield target


@pytest.fixture()
def client(server: str):
    from arbiter_client import Client

    with Client(server, timeout=10.0, caller="arbiter-python-tests") as c:
        yield c


@pytest.fixture(scope="session")
def catalog() -> Path:
    return POLICIES / "catalog"
