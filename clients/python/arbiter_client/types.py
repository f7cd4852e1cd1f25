"""Plain dataclasses for what Arbiter answers, so that callers need not touch protobuf.

Each type has a ``from_proto`` constructor; the original message stays available as ``proto``
for anything this layer does not surface.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from google.protobuf import json_format

from ._stubs import policy_pb2, types_pb2
from .errors import DeniedError

_EFFECTS = {types_pb2.EFFECT_ALLOW: "allow", types_pb2.EFFECT_DENY: "deny"}
_SEVERITIES = {types_pb2.SEVERITY_ERROR: "error", types_pb2.SEVERITY_WARNING: "warning"}


@dataclass(frozen=True)
class Principal:
    """Who is asking (access checks) or who submits a change (product, deployment)."""

    id: str
    roles: List[str] = field(default_factory=list)
    groups: List[str] = field(default_factory=list)
    domain: str = ""
    attributes: Dict[str, str] = field(default_factory=dict)

    def to_proto(self) -> types_pb2.Principal:
        return types_pb2.Principal(id=self.id, roles=list(self.roles), groups=list(self.groups),
                                   domain=self.domain, attributes=dict(self.attributes))


@dataclass(frozen=True)
class Reason:
    """One finding of one policy. ``message`` is safe to show to the requester; ``detail`` is
    for governance and audit (it may name columns and values)."""

    policy_id: str
    origin: str  # "global" or "domain:<name>"
    effect: str  # "allow" or "deny" (warnings are deny findings of severity "warning")
    severity: str  # "error", "warning", or "" for allows
    message: str
    detail: str = ""
    mode: str = ""
    waiver: str = ""  # the waiver that turned this deny into a warning (docs/waivers.md)

    @classmethod
    def from_proto(cls, r: types_pb2.Reason) -> "Reason":
        return cls(policy_id=r.policy_id, origin=r.origin, effect=_EFFECTS.get(r.effect, ""),
                   severity=_SEVERITIES.get(r.severity, ""), message=r.message,
                   detail=r.detail, mode=r.mode, waiver=r.waiver)


@dataclass(frozen=True)
class Obligations:
    """What the caller must enforce when access is allowed: column masks (column -> SQL
    expression) and row filters (SQL boolean expressions, all ANDed)."""

    masks: Dict[str, str] = field(default_factory=dict)
    row_filters: List[str] = field(default_factory=list)

    @classmethod
    def from_proto(cls, o: types_pb2.Obligations) -> "Obligations":
        return cls(masks={m.column: m.expression for m in o.column_masks},
                   row_filters=[f.expression for f in o.row_filters])


@dataclass(frozen=True)
class Decision:
    """Arbiter's answer: ``allowed`` is True only for an ALLOW. A deny is a normal return value
    (use :meth:`raise_for_deny` for an exception); could-not-decide is an ArbiterError."""

    allowed: bool
    effect: str  # "allow" or "deny"
    reasons: List[Reason]
    obligations: Obligations
    decision_id: str
    bundle_revision: str
    evaluated_policies: List[str] = field(default_factory=list)
    overridden_policies: List[str] = field(default_factory=list)
    domain: str = ""
    # Deployments: the classified schema diff and version deltas the policies saw
    # (keys breaking, warnings, info, version, contract_versions, first_deployment).
    change: Dict[str, Any] = field(default_factory=dict)
    defaulted: bool = False
    proto: Optional[types_pb2.Decision] = field(default=None, repr=False, compare=False)

    @property
    def errors(self) -> List[Reason]:
        """Deny findings that counted."""
        return [r for r in self.reasons if r.effect == "deny" and r.severity == "error"]

    @property
    def warnings(self) -> List[Reason]:
        """Findings reported without changing the effect."""
        return [r for r in self.reasons if r.severity == "warning"]

    def raise_for_deny(self) -> "Decision":
        """Raises DeniedError when denied; returns self otherwise (for chaining)."""
        if not self.allowed:
            raise DeniedError(self)
        return self

    @classmethod
    def from_proto(cls, d: types_pb2.Decision) -> "Decision":
        change = json_format.MessageToDict(d.change) if d.HasField("change") else {}
        return cls(allowed=d.effect == types_pb2.EFFECT_ALLOW,
                   effect=_EFFECTS.get(d.effect, "unspecified"),
                   reasons=[Reason.from_proto(r) for r in d.reasons],
                   obligations=Obligations.from_proto(d.obligations),
                   decision_id=d.decision_id, bundle_revision=d.bundle_revision,
                   evaluated_policies=list(d.evaluated_policies),
                   overridden_policies=list(d.overridden_policies), domain=d.domain,
                   change=change, defaulted=d.defaulted, proto=d)


@dataclass(frozen=True)
class BundleStatus:
    """The active bundle of a server (PolicyService.GetStatus)."""

    bundle_revision: str
    bundle_path: str
    loaded_at: Optional[_dt.datetime]
    policies: Dict[str, int]  # domain ("global" for global policies) -> policy count
    last_load_error: str
    reloads_succeeded: int
    reloads_failed: int
    catalog_products: int
    catalog_contracts: int

    @classmethod
    def from_proto(cls, s: policy_pb2.GetStatusResponse) -> "BundleStatus":
        loaded = (s.loaded_at.ToDatetime(tzinfo=_dt.timezone.utc)
                  if s.HasField("loaded_at") else None)
        return cls(bundle_revision=s.bundle_revision, bundle_path=s.bundle_path,
                   loaded_at=loaded, policies={p.domain: p.policy_count for p in s.policies},
                   last_load_error=s.last_load_error, reloads_succeeded=s.reloads_succeeded,
                   reloads_failed=s.reloads_failed, catalog_products=s.catalog_products,
                   catalog_contracts=s.catalog_contracts)


@dataclass(frozen=True)
class DryRunResult:
    """One request evaluated on the active and the candidate bundle."""

    index: int
    kind: str
    domain: str
    change: str  # allow_to_deny, deny_to_allow, unchanged, reasons_changed, failed
    active: Optional[Decision]
    candidate: Optional[Decision]
    error: str = ""
    source_decision_id: str = ""


@dataclass(frozen=True)
class DryRunReport:
    """What a candidate bundle would change (PolicyService.DryRun). ``summary`` is the proto3
    JSON mapping of DryRunSummary (total, changed, allowToDeny, denyToAllow, byPolicy, ...)."""

    active_revision: str
    candidate_revision: str
    summary: Dict[str, Any]
    results: List[DryRunResult]
    candidate_errors: List[str]

    @classmethod
    def from_proto(cls, r: policy_pb2.DryRunResponse) -> "DryRunReport":
        results = [
            DryRunResult(index=x.index, kind=x.kind, domain=x.domain, change=x.change,
                         active=Decision.from_proto(x.active) if x.HasField("active") else None,
                         candidate=(Decision.from_proto(x.candidate)
                                    if x.HasField("candidate") else None),
                         error=x.error, source_decision_id=x.source_decision_id)
            for x in r.results
        ]
        return cls(active_revision=r.active_revision, candidate_revision=r.candidate_revision,
                   summary=json_format.MessageToDict(r.summary, including_default_value_fields=True),
                   results=results, candidate_errors=list(r.candidate_errors))
