"""Exceptions of the Arbiter client.

Two different things can go wrong when asking Arbiter, and a caller must be able to tell them
apart: Arbiter *denied* (a policy outcome, returned as a normal :class:`~arbiter_client.Decision`
and raised only on request by :meth:`Decision.raise_for_deny`), or Arbiter *could not decide*
(unreachable, deadline, bad request, ...: :class:`ArbiterError`, never a deny or an allow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import grpc

if TYPE_CHECKING:  # pragma: no cover
    from .types import Decision


class ArbiterError(Exception):
    """Arbiter could not decide: a gRPC failure, with its status code.

    ``code`` is a :class:`grpc.StatusCode` (``INVALID_ARGUMENT`` names the bad field,
    ``UNAVAILABLE`` an unreachable or draining server, ``DEADLINE_EXCEEDED`` a timeout).
    Callers choose to fail closed on it; it is never raised for a deny.
    """

    def __init__(self, code: grpc.StatusCode, message: str, method: str = "") -> None:
        self.code = code
        self.message = message
        self.method = method
        prefix = f"{method}: " if method else ""
        super().__init__(f"{prefix}{code.name}: {message}")


class DeniedError(Exception):
    """Raised by :meth:`Decision.raise_for_deny` for callers that prefer an exception to a check
    of ``decision.allowed``. Carries the decision, so the reasons stay available."""

    def __init__(self, decision: "Decision") -> None:
        self.decision = decision
        first: Optional[str] = None
        for r in decision.reasons:
            if r.effect == "deny" and r.severity == "error":
                first = f"{r.policy_id}: {r.message}"
                break
        super().__init__(f"denied by Arbiter ({decision.decision_id})" +
                         (f": {first}" if first else ""))
