"""The generated arbiter.v1 stubs, imported from ``arbiter_client/_gen`` (see generate.sh).

They are generated at build time (``pip install`` runs generate.sh) or by hand when running from
the source folder; a missing ``_gen`` gets an ImportError that says how to create it.
"""

from __future__ import annotations

try:
    from ._gen.arbiter.v1 import decision_service_pb2 as decision_pb2  # noqa: F401
    from ._gen.arbiter.v1 import decision_service_pb2_grpc as decision_grpc  # noqa: F401
    from ._gen.arbiter.v1 import policy_service_pb2 as policy_pb2  # noqa: F401
    from ._gen.arbiter.v1 import policy_service_pb2_grpc as policy_grpc  # noqa: F401
    from ._gen.arbiter.v1 import types_pb2  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the checkout
    raise ImportError(
        "arbiter_client: the generated arbiter.v1 stubs are missing; run "
        "clients/python/generate.sh (needs Debian's protobuf-compiler and "
        "protobuf-compiler-grpc) or install the package with pip") from e
