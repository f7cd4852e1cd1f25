"""Python client for Arbiter, the data mesh's policy decision service (arbiter.v1 over gRPC).

See clients/python/README.md. The public names are re-exported here.
"""

from .client import AccessCheck, Client
from .errors import ArbiterError, DeniedError
from .types import (BundleStatus, Decision, DryRunReport, DryRunResult, Obligations, Principal,
                    Reason)

__all__ = [
    "AccessCheck", "ArbiterError", "BundleStatus", "Client", "Decision", "DeniedError",
    "DryRunReport", "DryRunResult", "Obligations", "Principal", "Reason",
]
__version__ = "0.1.0"
