"""A typed Python client for arbiterd's gRPC API (arbiter.v1).

    from arbiter_client import Client, ArbiterError

    with Client("127.0.0.1:50051", timeout=2.0) as arbiter:
        d = arbiter.check_access(principal="ana", roles=["marketing-analytics"], action="read",
                                 table="sales_analytics.customer_transactions.transactions")
        if d.allowed:
            apply(d.obligations.masks, d.obligations.row_filters)

A deny is a Decision with ``allowed == False``; :class:`ArbiterError` means Arbiter could not
decide (its ``code`` says why) and is never raised for a deny. A Client may be shared by threads
(gRPC channels are thread-safe).
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, TypeVar,
                    Union)

import grpc
from google.protobuf import json_format, struct_pb2

from ._stubs import decision_grpc, decision_pb2, policy_grpc, policy_pb2, types_pb2
from .errors import ArbiterError
from .types import BundleStatus, Decision, DryRunReport, Principal

# A document: YAML text, a path to a YAML file, or an already-parsed mapping.
DocumentInput = Union[str, "os.PathLike[str]", Mapping[str, Any]]
PrincipalInput = Union[str, Principal, Mapping[str, Any]]

_T = TypeVar("_T")


@dataclass(frozen=True)
class AccessCheck:
    """One access question, for :meth:`Client.check_batch` (the arguments of check_access)."""

    principal: PrincipalInput
    action: str
    table: str = ""
    product: str = ""
    domain: str = ""
    columns: Sequence[str] = ()
    roles: Sequence[str] = ()
    groups: Sequence[str] = ()
    context: Mapping[str, str] = field(default_factory=dict)


def _jsonable(v: Any) -> Any:
    """YAML loaders produce dates and other types a Struct cannot hold; keep them as text."""
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v.isoformat()
    return str(v)


def _document(doc: DocumentInput, what: str) -> types_pb2.Document:
    """A Document from YAML text, a file path (Path, or a str naming an existing file without
    newlines) or a mapping (sent as a Struct)."""
    if isinstance(doc, Mapping):
        s = struct_pb2.Struct()
        s.update(_jsonable(doc))
        return types_pb2.Document(struct=s)
    if isinstance(doc, os.PathLike) or (isinstance(doc, str) and "\n" not in doc
                                        and os.path.isfile(doc)):
        path = Path(doc)
        return types_pb2.Document(yaml=path.read_text(encoding="utf-8"), source=str(path))
    if isinstance(doc, str):
        return types_pb2.Document(yaml=doc)
    raise TypeError(f"{what}: expected YAML text, a path or a mapping, not {type(doc).__name__}")


def _principal(p: Optional[PrincipalInput], roles: Sequence[str] = (),
               groups: Sequence[str] = ()) -> types_pb2.Principal:
    if p is None:
        out = types_pb2.Principal()
    elif isinstance(p, Principal):
        out = p.to_proto()
    elif isinstance(p, str):
        out = types_pb2.Principal(id=p)
    elif isinstance(p, Mapping):
        out = types_pb2.Principal()
        json_format.ParseDict(dict(p), out)
    else:
        raise TypeError(f"principal: expected an id, a Principal or a mapping, "
                        f"not {type(p).__name__}")
    out.roles.extend(roles)
    out.groups.extend(groups)
    return out


def _access_request(c: AccessCheck) -> types_pb2.AccessRequest:
    return types_pb2.AccessRequest(
        principal=_principal(c.principal, c.roles, c.groups), action=c.action,
        resource=types_pb2.ResourceRef(domain=c.domain, product=c.product, table=c.table,
                                       columns=list(c.columns)),
        context=dict(c.context))


def _read_bundle_dir(path: Union[str, "os.PathLike[str]"]) -> Dict[str, str]:
    root = Path(path)
    files: Dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".yaml", ".yml", ".lua"):
            files[p.relative_to(root).as_posix()] = p.read_text(encoding="utf-8")
    if not files:
        raise ValueError(f"{root}: no bundle files (bundle.yaml, *.lua, *.yaml)")
    return files


def _tls_credentials(ca: Optional[str], cert: Optional[str],
                     key: Optional[str]) -> Optional[grpc.ChannelCredentials]:
    """TLS channel credentials from PEM files (arguments, else ARBITER_TLS_* variables), or None
    for plaintext when none is given."""
    ca = ca or os.environ.get("ARBITER_TLS_CA") or None
    cert = cert or os.environ.get("ARBITER_TLS_CERT") or None
    key = key or os.environ.get("ARBITER_TLS_KEY") or None
    if not (ca or cert or key):
        return None
    if bool(cert) != bool(key):
        raise ValueError("tls_cert and tls_key go together (a client certificate needs its key)")
    read = lambda p: Path(p).read_bytes() if p else None  # noqa: E731
    return grpc.ssl_channel_credentials(root_certificates=read(ca), private_key=read(key),
                                        certificate_chain=read(cert))


class Client:
    """A connection to arbiterd.

    Args:
        target: "host:port" or any gRPC target URI.
        timeout: deadline of each call, in seconds (the server caps it too).
        caller: sent as ``x-arbiter-caller``; the decision log records it as a *claimed* name
            beside the identity the server authenticated (it never sets the identity).
        channel: an existing channel (custom options); ``target`` is then ignored.
        credentials: channel credentials for a secure channel to ``target``.
        tls_ca, tls_cert, tls_key: PEM file paths for TLS (the CA that signed arbiterd's
            certificate; the client's certificate and key for mutual TLS: arbiterd authorizes
            the certificate's identity). Default to $ARBITER_TLS_CA, $ARBITER_TLS_CERT and
            $ARBITER_TLS_KEY, like the CLI.
        tls_server_name: the name arbiterd's certificate carries, when the target's host differs.
    """

    def __init__(self, target: str, timeout: float = 5.0, *, caller: str = "arbiter-python",
                 channel: Optional[grpc.Channel] = None,
                 credentials: Optional[grpc.ChannelCredentials] = None,
                 tls_ca: Optional[str] = None, tls_cert: Optional[str] = None,
                 tls_key: Optional[str] = None, tls_server_name: Optional[str] = None) -> None:
        self.target = target
        self.timeout = timeout
        self._metadata = (("x-arbiter-caller", caller),) if caller else ()
        options = [("grpc.max_receive_message_length", 64 << 20)]
        if credentials is None and channel is None:
            credentials = _tls_credentials(tls_ca, tls_cert, tls_key)
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
        if channel is not None:
            self._channel = channel
        elif credentials is not None:
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._decisions = decision_grpc.DecisionServiceStub(self._channel)
        self._policies = policy_grpc.PolicyServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _call(self, method: Callable[..., _T], request: Any, name: str) -> _T:
        try:
            return method(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as e:  # a grpc.Call: code() and details()
            code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
            details = e.details() if hasattr(e, "details") else str(e)
            raise ArbiterError(code, details or "", name) from None

    # ---- DecisionService ---------------------------------------------------------------

    def check_access(self, principal: PrincipalInput, action: str, *, table: str = "",
                     product: str = "", domain: str = "", columns: Sequence[str] = (),
                     roles: Sequence[str] = (), groups: Sequence[str] = (),
                     context: Optional[Mapping[str, str]] = None) -> Decision:
        """May ``principal`` do ``action`` on a table ("catalog.schema.table", resolved through
        the catalog) or a product (``product`` + ``domain``)? ``roles``/``groups`` are added to
        the principal's."""
        req = _access_request(AccessCheck(principal, action, table, product, domain, columns,
                                          roles, groups, context or {}))
        return Decision.from_proto(self._call(self._decisions.CheckAccess, req, "CheckAccess"))

    def check_product(self, product: DocumentInput, *, operation: str = "register",
                      requester: Optional[PrincipalInput] = None) -> Decision:
        """Does a data product descriptor (YAML text, path or mapping) meet the mesh's
        standards? ``operation``: register, update or deprecate."""
        req = types_pb2.ProductRequest(product=_document(product, "product"),
                                       operation=operation, requester=_principal(requester))
        return Decision.from_proto(self._call(self._decisions.CheckProduct, req, "CheckProduct"))

    def check_deployment(self, product: DocumentInput, *, environment: str,
                         contracts: Sequence[DocumentInput] = (),
                         previous: Optional[DocumentInput] = None,
                         previous_contracts: Sequence[DocumentInput] = (),
                         pipeline: Optional[Mapping[str, str]] = None,
                         requester: Optional[PrincipalInput] = None) -> Decision:
        """May this version of a product and its contracts go to ``environment``? The decision's
        ``change`` holds the classified schema diff against ``previous``/``previous_contracts``
        (absent ``previous``: a first deployment)."""
        req = types_pb2.DeploymentRequest(
            product=_document(product, "product"),
            contracts=[_document(c, f"contracts[{i}]") for i, c in enumerate(contracts)],
            previous_contracts=[_document(c, f"previous_contracts[{i}]")
                                for i, c in enumerate(previous_contracts)],
            environment=environment, pipeline=dict(pipeline or {}),
            requester=_principal(requester))
        if previous is not None:
            req.previous.CopyFrom(_document(previous, "previous"))
        return Decision.from_proto(
            self._call(self._decisions.CheckDeployment, req, "CheckDeployment"))

    def check_batch(self, checks: Iterable[Union[AccessCheck, Mapping[str, Any]]]
                    ) -> List[Union[Decision, ArbiterError]]:
        """Many access checks in one call, on one bundle snapshot. Returns one item per check,
        in order: a Decision, or an ArbiterError for a check that could not be decided (the
        others are still answered). A mapping holds check_access's keyword arguments. The whole
        call failing raises ArbiterError."""
        reqs = [_access_request(c if isinstance(c, AccessCheck) else AccessCheck(**c))
                for c in checks]
        resp = self._call(self._decisions.CheckBatch,
                          decision_pb2.CheckBatchRequest(requests=reqs), "CheckBatch")
        out: List[Union[Decision, ArbiterError]] = [Decision.from_proto(d) for d in resp.decisions]
        for e in resp.errors:
            out[e.index] = ArbiterError(_status_code(e.error.code),
                                        e.error.message, f"CheckBatch[{e.index}]")
        return out

    # ---- PolicyService -----------------------------------------------------------------

    def status(self) -> BundleStatus:
        """The server's active bundle: revision, load time, policies per domain, last error."""
        return BundleStatus.from_proto(
            self._call(self._policies.GetStatus, policy_pb2.GetStatusRequest(), "GetStatus"))

    def reload(self) -> List[str]:
        """Asks the server to load its bundle directory now (role governance). Returns the load
        errors ("file:line: message"); empty when the new bundle is active."""
        r = self._call(self._policies.Reload, policy_pb2.ReloadRequest(), "Reload")
        return list(r.errors)

    def dry_run(self, candidate: Union[str, "os.PathLike[str]", Mapping[str, str]], *,
                requests: Optional[Sequence[Mapping[str, Any]]] = None,
                recent: Optional[int] = None, max_examples: int = 0,
                server_path: bool = False) -> DryRunReport:
        """Evaluates a candidate bundle beside the active one; nothing is enforced.

        ``candidate``: a local bundle directory (its files are sent inline), a mapping of
        bundle path -> content, or, with ``server_path=True``, a directory on the server.
        ``requests``: cases in the proto3 JSON mapping of DryRunCase, e.g.
        ``{"access": {"principal": {"id": "ana"}, "action": "read", ...}}``; without them the
        server replays its decision log (the last ``recent`` decisions)."""
        req = policy_pb2.DryRunRequest(max_examples=max_examples)
        if server_path:
            req.candidate_path = os.fspath(candidate)  # type: ignore[arg-type]
        elif isinstance(candidate, Mapping):
            req.candidate.files.update(dict(candidate))
        else:
            req.candidate.files.update(_read_bundle_dir(candidate))
        for case in requests or ():
            json_format.ParseDict(dict(case), req.cases.add())
        if recent is not None:
            req.recent = recent
        return DryRunReport.from_proto(self._call(self._policies.DryRun, req, "DryRun"))


def _status_code(value: int) -> grpc.StatusCode:
    """The grpc.StatusCode of a google.rpc.Code number (members hold (int, name) tuples)."""
    for c in grpc.StatusCode:
        if c.value[0] == value:
            return c
    return grpc.StatusCode.UNKNOWN
