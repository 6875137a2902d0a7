"""The fleet scan: every endpoint of the accounts and regions asked, read in bounded parallel, judged, ranked.

Polite at scale: one thread pool per account and region (``concurrency`` endpoints at once: SageMaker's and
CloudWatch's rate limits are per account and region), botocore's adaptive retries (a client-side rate
limiter that backs off when the service throttles), log reads bounded per endpoint in time, events and bytes,
metrics batched (GetMetricData, 500 queries a call). An account that cannot be assumed or a region that
refuses is a :class:`ScopeFailure` in the result, named with its error code; the others are still scanned.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import botocore.exceptions

from .. import logs
from ..aws import Aws, AwsParams, CredentialsError, error_code
from ..endpoint.facts import endpoint_facts
from ..errors import InputError, NotFoundError
from ..progress import Progress
from ..records import iso_time
from .endpoint import BoundedLogs, Counter, EndpointScan, diagnose_hint, endpoint_kind, judge, log_view
from .metrics import MetricTarget, read_fleet_metrics

__all__ = ["ScanBounds", "ScopeFailure", "FleetScan", "scan", "account_of"]

_AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


@dataclass(frozen=True)
class ScanBounds:
    log_window_minutes: float = 60.0
    max_log_bytes: int = 256 << 10
    max_log_events: int = 2000
    concurrency: int = 8
    max_scopes: int = 8  # accounts × regions scanned at once

    def check(self) -> None:
        for name in ("log_window_minutes", "max_log_bytes", "max_log_events", "concurrency", "max_scopes"):
            if not getattr(self, name) or getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive, not {getattr(self, name)!r}.", code="bad-input",
                                 hint="Pass a positive bound.")

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class ScopeFailure:
    """An account or region that could not be scanned (its endpoints are not in the result)."""

    account: str
    region: str | None  # None: the whole account (its role could not be assumed)
    role_arn: str | None
    code: str
    message: str
    what: str  # what the scan was doing

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class FleetScan:
    started: str
    seconds: float
    regions: list[str]
    accounts: list[str]
    bounds: dict[str, Any]
    endpoints: list[EndpointScan] = field(default_factory=list)  # ranked: the worst first
    failures: list[ScopeFailure] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)

    @property
    def broken(self) -> list[EndpointScan]:
        return [e for e in self.endpoints if e.broken]

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.endpoints:
            out[e.code] = out.get(e.code, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"started": self.started, "seconds": self.seconds, "regions": self.regions, "accounts": self.accounts,
                "bounds": self.bounds, "scanned": len(self.endpoints), "broken": len(self.broken),
                "counts": self.counts, "api_calls": dict(sorted(self.api_calls.items())),
                "api_calls_total": sum(self.api_calls.values()),
                "failures": [f.to_dict() for f in self.failures], "endpoints": [e.to_dict() for e in self.endpoints]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FleetScan":
        return cls(started=d["started"], seconds=d["seconds"], regions=list(d["regions"]),
                   accounts=list(d["accounts"]), bounds=dict(d["bounds"]),
                   endpoints=[EndpointScan.from_dict(e) for e in d["endpoints"]],
                   failures=[ScopeFailure(**f) for f in d["failures"]], api_calls=dict(d["api_calls"]))


def account_of(role_arn: str) -> str:
    """The account id in a role ARN (``arn:aws:iam::<account>:role/<name>``); a bad ARN is bad input."""
    parts = role_arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[4].isdigit() or \
            not parts[5].startswith("role/"):
        raise InputError(f"{role_arn!r} is not a role ARN.", code="bad-role-arn",
                         hint="Give each account as arn:aws:iam::<account-id>:role/<role-name>.")
    return parts[4]


@dataclass
class _Scope:
    account: str
    region: str
    role_arn: str | None
    aws: Aws
    summaries: list[dict[str, Any]] = field(default_factory=list)
    clients: dict[str, Any] = field(default_factory=dict)

    def connect(self, counter: Counter) -> "_Scope":
        """The scope's clients, built here in the calling thread (a boto3 session is not thread-safe), counted."""
        for service in ("sagemaker", "logs", "cloudwatch"):
            self.clients[service] = counter.watch(self.aws.client(service))
        return self


def _fail(account: str, region: str | None, role_arn: str | None, e: BaseException, what: str) -> ScopeFailure:
    code = error_code(e) or getattr(e, "code", None) or type(e).__name__
    return ScopeFailure(account, region, role_arn, str(code), str(e).splitlines()[0][:500], what)


def scan(params: AwsParams, *, regions: list[str] | None = None, role_arns: list[str] | None = None,
         external_id: str | None = None, name_contains: str | None = None, bounds: ScanBounds = ScanBounds(),
         progress: Callable[[str], Any] | None = None) -> FleetScan:
    """Scan every endpoint of ``regions`` (default: the profile's) in each account of ``role_arns`` (default: the
    account of the credentials found as usual). Raises only for bad input; AWS failures of an account or a
    region are in the result's ``failures``."""
    bounds.check()
    roles = list(dict.fromkeys(role_arns or []))
    accounts = {r: account_of(r) for r in roles}
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.monotonic()
    counter = Counter()
    base = Aws(dataclasses.replace(params, retry_mode="adaptive", role_arn=None, external_id=None))
    regions = list(dict.fromkeys(regions or [base.region]))
    failures: list[ScopeFailure] = []
    scopes: list[_Scope] = []
    say = progress or (lambda _m: None)

    # The accounts: one AssumeRole each (in order: cheap, and a failure is named once for all its regions).
    targets: list[tuple[str, str | None, Aws]] = []
    if not roles:
        try:
            base.session  # noqa: B018  (one session for every region: in_region shares it)
            ident = counter.watch(base.in_region(regions[0]).client("sts")).get_caller_identity()
            targets.append((ident["Account"], None, base))
        except (CredentialsError, *_AWS_ERRORS) as e:
            failures.append(_fail("?", None, None, e, "finding the caller's account (sts:GetCallerIdentity)"))
    for role in roles:
        acct = Aws(dataclasses.replace(base.params, region=regions[0], role_arn=role, external_id=external_id))
        try:
            acct.session  # noqa: B018  (assumes the role)
            counter.add("sts:AssumeRole")
            targets.append((accounts[role], role, acct))
        except CredentialsError as e:
            counter.add("sts:AssumeRole")
            failures.append(_fail(accounts[role], None, role, e, "assuming the role (sts:AssumeRole)"))
    for account, role, acct in targets:
        for region in regions:
            scope = _Scope(account, region, role, acct.in_region(region))
            try:
                scopes.append(scope.connect(counter))
            except (CredentialsError, *_AWS_ERRORS) as e:
                failures.append(_fail(account, region, role, e, "connecting"))
    say(f"listing endpoints in {len(scopes)} account/region pair(s)")

    # 1. List every scope's endpoints (in parallel across scopes).
    def list_scope(s: _Scope) -> None:
        sm = s.clients["sagemaker"]
        kwargs: dict[str, Any] = {"NameContains": name_contains} if name_contains else {}
        for page in sm.get_paginator("list_endpoints").paginate(**kwargs):
            s.summaries.extend(page.get("Endpoints", []))

    listed = [s for s, _ in _each_scope(scopes, list_scope, bounds.max_scopes, failures,
                                        "listing endpoints (sagemaker:ListEndpoints)")]

    # 2. Read each endpoint (bounded pools per scope), then the scope's metrics in batches; judge each.
    total = sum(len(s.summaries) for s in listed)
    bar = Progress(progress, total=total, desc="scanning endpoints", unit="endpoints")
    done = [0]
    lock = threading.Lock()

    step = max(1, total // 20)  # headless: a line every 5 %

    def tick() -> None:
        with lock:
            done[0] += 1
            if done[0] % step == 0 or done[0] == total:
                bar.update(done[0], f"{done[0]}/{total} endpoints read")

    def run_scope(s: _Scope) -> list[EndpointScan]:
        return _scan_scope(s, bounds, counter, tick, profile=params.profile, endpoint_url=params.endpoint_url,
                           external_id=external_id)

    rows = [r for _, got in _each_scope(listed, run_scope, bounds.max_scopes, failures, "reading endpoints")
            for r in got]
    rows.sort(key=EndpointScan.rank_key)
    broken = sum(r.broken for r in rows)
    bar.close(f"{len(rows)} endpoints, {broken} broken" + (f", {len(failures)} scope(s) failed" if failures else ""))
    failures.sort(key=lambda f: (f.account, f.region or ""))
    return FleetScan(started=started.isoformat(), seconds=round(time.monotonic() - t0, 2), regions=regions,
                     accounts=[t[0] for t in targets] + [f.account for f in failures if f.region is None],
                     bounds=bounds.to_dict(), endpoints=rows, failures=failures, api_calls=dict(counter.calls))


def _each_scope(scopes: list[_Scope], fn: Callable[[_Scope], Any], workers: int, failures: list[ScopeFailure],
                what: str) -> list[tuple[_Scope, Any]]:
    """``fn`` on each scope, ``workers`` at once: (scope, result) of those that worked; an AWS or credentials
    error of one scope is its :class:`ScopeFailure` (``what`` says what was being done), never a traceback."""
    done: list[tuple[_Scope, Any]] = []
    with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scan-scope") as pool:
        futures = {pool.submit(fn, s): s for s in scopes}
        for fut in cf.as_completed(futures):
            s = futures[fut]
            try:
                done.append((s, fut.result()))
            except (CredentialsError, *_AWS_ERRORS) as e:
                failures.append(_fail(s.account, s.region, s.role_arn, e, what))
    return done


def _scan_scope(s: _Scope, bounds: ScanBounds, counter: Counter, tick: Callable[[], None], *,
                profile: str | None, endpoint_url: str | None, external_id: str | None) -> list[EndpointScan]:
    sm, logs_client, cw = s.clients["sagemaker"], s.clients["logs"], s.clients["cloudwatch"]
    window = dt.timedelta(minutes=bounds.log_window_minutes)

    def read_one(summary: dict[str, Any]) -> EndpointScan | None:
        row = EndpointScan(account=s.account, region=s.region, name=summary["EndpointName"],
                           status=summary.get("EndpointStatus", "?"), role_arn=s.role_arn,
                           last_modified=iso_time(summary.get("LastModifiedTime")))
        try:
            facts = endpoint_facts(sm, row.name)
        except NotFoundError:
            return None  # deleted since it was listed
        except _AWS_ERRORS as e:
            row.code, row.severity = "unreadable", "info"
            row.cause = f"could not describe it: {error_code(e) or type(e).__name__}"
            tick()
            return row
        row.status, row.failure_reason, row.kind = facts.status, facts.failure_reason, endpoint_kind(facts)
        row.config_name, row.model_name, row.image = facts.config_name, facts.model_name, facts.image
        row.last_modified = facts.last_modified or row.last_modified
        row.variants = facts.variant_names
        bounded = BoundedLogs(logs_client, bounds.max_log_bytes)
        read = logs.read_endpoint_logs(bounded, row.name, start=window, max_events=bounds.max_log_events,
                                       page_size=min(bounds.max_log_events, 10_000))
        row.log = log_view(read, bounded)
        diagnose_hint(row, profile=profile, endpoint_url=endpoint_url, external_id=external_id)
        tick()
        return row

    with cf.ThreadPoolExecutor(max_workers=bounds.concurrency, thread_name_prefix=f"scan-{s.region}") as pool:
        rows = [r for r in pool.map(read_one, s.summaries) if r is not None]
    readable = [r for r in rows if r.code != "unreadable"]
    targets = [MetricTarget(r.name, tuple(r.variants), r.kind == "async") for r in readable]
    backlogs: dict[str, Any] = {}
    errors: dict[str, dict[str, float]] = {}
    metrics_note = None
    try:
        backlogs, errors = read_fleet_metrics(cw, targets, error_window_minutes=bounds.log_window_minutes)
    except _AWS_ERRORS as e:  # the logs still judge; say why backlog and errors are unknown
        metrics_note = f"metrics unreadable ({error_code(e) or type(e).__name__}): backlog and errors unknown"
    for r in readable:
        r.errors = errors.get(r.name, {})
        judge(r, backlogs.get(r.name))
        if metrics_note:
            r.notes.append(metrics_note)
    return rows
