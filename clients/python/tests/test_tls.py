"""The Python client over mutual TLS: arbiterd with a certificate from a CA made at test time
(tests/support/make_test_pki.sh), the client's identity from its own certificate."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import grpc
import pytest

from arbiter_client import ArbiterError, Client
from conftest import REPO, start_arbiterd

CUSTOMERS = "customer_analytics.customer_360.customers"


@pytest.fixture(scope="module")
def pki() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="arbiter-py-pki-") as d:
        subprocess.run(["bash", str(REPO / "tests/support/make_test_pki.sh"), d], check=True)
        yield Path(d)


@pytest.fixture(scope="module")
def tls_server(pki: Path) -> Iterator[str]:
    config = pki / "arbiterd.yaml"
    config.write_text(f"""
tls:
  cert_file: {pki}/server.crt
  key_file: {pki}/server.key
  client_ca_file: {pki}/ca.crt
  client_auth: require
authz:
  identities:
    - {{match: "spiffe://mesh.example/ns/governance/*", role: governance}}
    - {{match: "spiffe://mesh.example/ns/sales/*", role: "domain:sales"}}
""")
    with start_arbiterd(["--config", str(config)]) as target:
        yield target


def test_mutual_tls_identity_is_authorized(pki: Path, tls_server: str) -> None:
    with Client(tls_server, timeout=10.0, tls_ca=str(pki / "ca.crt"),
                tls_cert=str(pki / "sales.crt"), tls_key=str(pki / "sales.key")) as c:
        d = c.check_access(principal="dana", roles=["data-scientists"], action="read",
                           table=CUSTOMERS)
        assert d.allowed
        # domain:sales may not reload the bundle: a PERMISSION_DENIED naming the role it lacks.
        with pytest.raises(ArbiterError) as e:
            c.reload()
        assert e.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert "governance" in str(e.value)


def test_no_client_certificate_is_refused(pki: Path, tls_server: str) -> None:
    with Client(tls_server, timeout=5.0, tls_ca=str(pki / "ca.crt")) as c:
        with pytest.raises(ArbiterError) as e:
            c.status()
        assert e.value.code == grpc.StatusCode.UNAVAILABLE


def test_cert_without_key_is_a_usage_error(pki: Path) -> None:
    with pytest.raises(ValueError):
        Client("127.0.0.1:1", tls_cert=str(pki / "sales.crt"))
