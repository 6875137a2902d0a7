"""One endpoint of a fleet scan: what it is, what its logs say, and what that makes it.

The facts are diagnose's (:func:`diagnose.endpoint_facts`), the log evidence is the log catalogue's
(:func:`logs.read_endpoint_logs` bounded in time, events and bytes, then :func:`logs.analyze`), the backlog is
``backlog``'s. What is added here is only the judgement across them, as a stable code and a rank:

    in-service-crash-loop   critical  InService, and its logs show workers dying (the case nobody sees)
    in-service-failing      critical  InService, and its logs name a failure without a crash loop
    endpoint-failed         error     Failed (its FailureReason, and the cause its logs name)
    backlog-without-capacity warning  async requests queued with no instance to serve them
    invocation-errors       warning   requests failed in the window (Invocation5XXErrors, InvocationModelErrors)
    update-failed           warning   InService on its previous config after an update failed
    logs-unreadable         info      the logs could not be read (e.g. AccessDenied): nothing can be said
    unreadable              info      the endpoint could not be described
    in-progress             info      Creating, Updating, Deleting
    healthy                 ok        nothing wrong seen
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass, field
from typing import Any

from .. import logs
from ..endpoint.backlog import Backlog
from ..step_records import EndpointFacts

__all__ = ["SEVERITY_ORDER", "EndpointScan", "BoundedLogs", "judge", "endpoint_kind"]

SEVERITY_ORDER = ("critical", "error", "warning", "info", "ok")
_SERVING = ("InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed")
_IN_PROGRESS = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


class BoundedLogs:
    """A CloudWatch Logs client that stops handing out events past ``max_bytes`` of messages: the scan's byte
    bound per endpoint, around the log catalogue's own reader (which bounds time and events). Once the budget
    is spent, the page is cut there and no further page is offered (``truncated`` then says so)."""

    def __init__(self, client: Any, max_bytes: int):
        self._client, self.max_bytes = client, max_bytes
        self.bytes_read = 0
        self.truncated = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def filter_log_events(self, **kwargs: Any) -> dict[str, Any]:
        page = dict(self._client.filter_log_events(**kwargs))
        kept = []
        for ev in page.get("events", []):
            size = len(ev.get("message", "").encode("utf-8", "replace"))
            if self.bytes_read + size > self.max_bytes:
                self.truncated = True
                break
            self.bytes_read += size
            kept.append(ev)
        page["events"] = kept
        if self.truncated:
            page.pop("nextToken", None)
        return page


def endpoint_kind(facts: EndpointFacts) -> str:
    """async, real-time or serverless: its config's, as diagnose reads it (``endpoint_kind.kind_of``)."""
    return facts.kind


@dataclass
class EndpointScan:
    """One row of the scan. ``code``/``severity``: what it is (see the module); ``cause``: one line."""

    account: str
    region: str
    name: str
    status: str
    kind: str = "unknown"
    failure_reason: str | None = None
    role_arn: str | None = None
    config_name: str | None = None
    model_name: str | None = None
    image: str | None = None
    last_modified: str | None = None
    variants: list[str] = field(default_factory=list)
    log: dict[str, Any] = field(default_factory=dict)
    backlog: dict[str, Any] | None = None
    errors: dict[str, float] = field(default_factory=dict)
    code: str = "healthy"
    severity: str = "ok"
    cause: str = ""
    notes: list[str] = field(default_factory=list)
    diagnose: dict[str, Any] = field(default_factory=dict)
    command: str = ""

    @property
    def broken(self) -> bool:
        return self.severity in ("critical", "error", "warning")

    @property
    def error_count(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def queued(self) -> float:
        return float((self.backlog or {}).get("size") or 0.0)

    def rank_key(self) -> tuple[Any, ...]:
        """Severity first; within it, the endpoints failing the most requests now, then the most queued, then
        the most crash evidence; then by place and name (a stable order)."""
        return (SEVERITY_ORDER.index(self.severity), -self.error_count, -self.queued,
                -int(self.log.get("events_matched") or 0), self.account, self.region, self.name)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EndpointScan":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def log_view(read: logs.LogRead, bounded: BoundedLogs | None) -> dict[str, Any]:
    """What the scan keeps of an endpoint's logs: the cause, its evidence lines, the counts per code, and how
    much was read (never the events themselves)."""
    ev = logs.analyze(read, samples=3)
    cause = ev.cause
    return {
        "cause": cause.code, "summary": cause.summary, "confidence": cause.confidence,
        "evidence": list(cause.evidence[:6]), "crash_loop": ev.crash_loop,
        "counts": {code: cs.count for code, cs in ev.codes.items()}, "events_matched": ev.events_matched,
        "events_read": len(read.events), "bytes_read": bounded.bytes_read if bounded else None,
        "truncated": read.truncated or bool(bounded and bounded.truncated), "error": read.error,
        "group_exists": read.group_exists,
    }


def judge(row: EndpointScan, backlog: Backlog | None) -> EndpointScan:
    """Set ``code``, ``severity``, ``cause`` and ``notes`` from what was read."""
    log = row.log
    log_cause = log.get("cause")
    failing_logs = bool(log) and log_cause not in logs.NOT_A_FAILURE
    said = f"{log_cause}: {log.get('summary')}" if failing_logs else None
    if backlog is not None:
        row.backlog = backlog.to_dict()
    nocap = bool(backlog and backlog.without_capacity and backlog.requests)
    notes = []
    if nocap:
        notes.append(f"{backlog.requests} queued request(s) and no instance to serve them")  # type: ignore[union-attr]
    elif backlog is not None and backlog.requests:
        notes.append(f"about {backlog.requests} queued request(s)")
    if row.error_count:
        notes.append("failed requests in the window: " + ", ".join(f"{k} {v:g}" for k, v in row.errors.items()))
    if row.status == "InService" and failing_logs:
        crash = bool(log.get("crash_loop"))
        row.code = "in-service-crash-loop" if crash else "in-service-failing"
        row.severity = "critical"
        row.cause = (f"InService, but {'its workers crash-loop' if crash else 'its logs show a failure'}: {said}")
    elif row.status == "Failed":
        row.code, row.severity = "endpoint-failed", "error"
        reason = (row.failure_reason or "no FailureReason").strip()
        row.cause = f"Failed: {said}" if said else f"Failed: {reason}"
        if said:
            notes.append(f"FailureReason: {reason}")
    elif row.status in _IN_PROGRESS and failing_logs:
        row.code, row.severity = "in-service-failing", "critical"
        row.cause = f"{row.status}, and its logs show a failure: {said}"
    elif nocap:
        row.code, row.severity = "backlog-without-capacity", "warning"
        row.cause = f"{notes[0]}: scale it out (its minimum capacity is 0, or its instances cannot start)"
    elif row.error_count:
        row.code, row.severity = "invocation-errors", "warning"
        row.cause = next(n for n in notes if n.startswith("failed requests"))
    elif row.status in _SERVING and row.failure_reason:
        row.code, row.severity = "update-failed", "warning"
        row.cause = f"serving its previous config: {row.failure_reason}"
    elif log_cause == "logs-unreadable":
        row.code, row.severity = "logs-unreadable", "info"
        row.cause = log.get("summary") or "the logs could not be read"
    elif row.status in _IN_PROGRESS:
        row.code, row.severity = "in-progress", "info"
        row.cause = row.status
    else:
        row.code, row.severity = "healthy", "ok"
        row.cause = "no failure seen" + (f" ({log_cause})" if log_cause else "")
    row.notes = notes
    return row


def diagnose_hint(row: EndpointScan, *, profile: str | None, endpoint_url: str | None,
                  external_id: str | None) -> EndpointScan:
    """The notebook parameters and the command that start diagnose (``01_diagnose``) on this endpoint."""
    params = {"endpoint_name": row.name, "region": row.region, "role_arn": row.role_arn,
              "external_id": external_id if row.role_arn else None, "profile": profile, "endpoint_url": endpoint_url}
    row.diagnose = {k: v for k, v in params.items() if v is not None}
    args = " ".join(f"-p {k} {shlex.quote(str(v))}" for k, v in row.diagnose.items())
    row.command = f"papermill notebooks/01_diagnose.ipynb runs/diagnose-{row.name}.ipynb {args}"
    return row


class Counter:
    """API calls made, per ``service:Operation`` (botocore's before-call event: one per call, not per retry)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self._watched: set[int] = set()

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.calls[key] = self.calls.get(key, 0) + n

    def watch(self, client: Any) -> Any:
        """``client``, its calls counted from now on (once, however often it is watched)."""
        with self._lock:
            if id(client) in self._watched:
                return client
            self._watched.add(id(client))
        service = client.meta.service_model.service_id.hyphenize()

        def on_call(model: Any, **_: Any) -> None:
            self.add(f"{service}:{model.name}")

        client.meta.events.register("before-call", on_call)
        return client
