"""Guards that refuse a delete: recent successful traffic (metrics, then, async, data-log), queued requests (async),
the verified endpoint, and the diagnosed endpoint while no verified fix serves in its place. Per kind: a real-time
or serverless endpoint has no queue and no data-log; its recent traffic is its ``Invocations`` less its
``InvocationModelErrors``."""


from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection
from typing import Any

from ..aws import Aws, error_code, is_error
from ..endpoint.backlog import read_backlog
from ..endpoint.kind import is_sync
from ..logs import log_group_name
from ..records import read_record
from ..step_records import DeployRecord, DiagnoseRecord, VerifyRecord
from .model import _AWS_ERRORS, _SUCCESS_LINE, IN_TRANSITION, Guard
from .scan import _describe_endpoint

# ---------------------------------------------------------------------------------------------- guards


def _name_of(record: dict[str, Any] | None) -> str | None:
    if not record:
        return None
    ep = record.get("endpoint")
    if isinstance(ep, dict) and isinstance(ep.get("name"), str):
        return ep["name"]
    if isinstance(ep, str):
        return ep
    name = record.get("endpoint_name")
    return name if isinstance(name, str) else None


def verified_endpoints(run_dir: str | None) -> dict[str, str]:
    """Endpoints steps 3/4 deployed and verified in this run dir → which record says so. Guarded whatever the
    record's outcome (a failed verification still names the endpoint meant to replace the broken one)."""
    out: dict[str, str] = {}
    for step, file in (("deploy", "03-deploy.json"), ("verify", "04-verify.json")):
        rec = read_record(run_dir, step)
        name = _name_of(rec)
        if name and name not in out:
            ok = rec.get("ok") if isinstance(rec, dict) else None
            out[name] = file + (f" (ok: {str(ok).lower()})" if isinstance(ok, bool) else "")
    return out


def no_fix_guard(sm: Any, name: str, run_dir: str | None, *, deleting: Collection[str] = ()) -> Guard | None:
    """Refuse deleting the endpoint step 1 diagnosed in ``run_dir`` while this run has no fixed endpoint that
    step 4 verified and that is InService now (and not among ``deleting``): it would leave nothing to answer the
    endpoint's requests. None for any other endpoint, or without a diagnose record (a cleanup run alone)."""
    diag = DiagnoseRecord.read(run_dir)
    if diag is None or diag.endpoint.name != name:
        return None
    dep, ver = DeployRecord.read(run_dir), VerifyRecord.read(run_dir)
    fixed = ver.endpoint_name if ver is not None and ver.ok else None
    if fixed == name:
        return None  # verified under its own name: the verified-endpoint guard speaks for it
    evidence = [f"01-diagnose.json diagnosed {name}",
                "03-deploy.json: none (step 3 did not run in this run dir)" if dep is None else
                f"03-deploy.json: {dep.mode or 'deploy'} of {dep.endpoint_name or '(no endpoint)'}, status "
                f"{dep.status or 'unknown'}" + ("" if dep.ok is None else f" (ok: {str(dep.ok).lower()})"),
                "04-verify.json: none (step 4 did not run in this run dir)" if ver is None else
                f"04-verify.json: {ver.endpoint_name or '(no endpoint)'} (ok: {str(bool(ver.ok)).lower()})"]
    if fixed and fixed in deleting:
        evidence.append(f"the verified endpoint {fixed} is named for this cleanup too")
    elif fixed:
        ep = _describe_endpoint(sm, fixed)
        if ep is not None and ep["status"] == "InService":
            return None
        evidence.append(f"the verified endpoint {fixed} is {ep['status'] if ep else 'gone'} now")
    return Guard("no-fix-serving", f"refuse: {name} is the endpoint step 1 diagnosed and no fix serves in its place "
                 "(no endpoint of this run was deployed, verified and is InService): deleting it leaves nothing to "
                 "answer its requests. Deploy and verify the fix first (steps 3 and 4), then rerun the cleanup; "
                 "set force=True only to take it down with no replacement", evidence)


def _metric_sum(cw: Any, metric: str, endpoint: str, variant: str, start: dt.datetime, end: dt.datetime) -> float:
    minutes = max(1.0, (end - start).total_seconds() / 60)
    period = 60 * max(1, math.ceil(minutes / 1440))
    r = cw.get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName=metric, StartTime=start, EndTime=end, Period=period,
        Statistics=["Sum"],
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}])
    return float(sum(d.get("Sum", 0.0) for d in r.get("Datapoints", [])))


def _metric_guard(cw: Any, endpoint: str, variants: list[str], minutes: float, now: dt.datetime) -> Guard | None:
    start = now - dt.timedelta(minutes=minutes)
    evidence = []
    for v in variants:
        inv = _metric_sum(cw, "Invocations", endpoint, v, start, now + dt.timedelta(minutes=1))
        if inv <= 0:
            continue
        err = _metric_sum(cw, "InvocationModelErrors", endpoint, v, start, now + dt.timedelta(minutes=1))
        if inv - err > 0:
            evidence.append(f"CloudWatch AWS/SageMaker variant {v}: Invocations {inv:g} - InvocationModelErrors "
                            f"{err:g} = {inv - err:g} successful in the last {minutes:g} min")
    if evidence:
        return Guard("recent-traffic", f"refuse: endpoint served successful requests in the last {minutes:g} min "
                     "(CloudWatch metrics)", evidence)
    return None


def _datalog_guard(logs: Any, endpoint: str, minutes: float, now: dt.datetime, *, max_streams: int = 100,
                   max_pages: int = 20) -> Guard | None:
    group = log_group_name(endpoint)
    start_ms = int((now - dt.timedelta(minutes=minutes)).timestamp() * 1000)
    streams: list[str] = []
    try:
        # Not filtered on lastEventTimestamp: CloudWatch updates it lazily; the event filter bounds the window.
        for page in logs.get_paginator("describe_log_streams").paginate(
                logGroupName=group, orderBy="LastEventTime", descending=True):
            streams += [s["logStreamName"] for s in page["logStreams"] if s["logStreamName"].endswith("/data-log")]
            if len(streams) >= max_streams:
                break
    except _AWS_ERRORS as e:
        if is_error(e, "ResourceNotFoundException"):
            return None
        raise
    streams = streams[:max_streams]
    if not streams:
        return None
    kwargs: dict[str, Any] = {"logGroupName": group, "logStreamNames": streams, "startTime": start_ms,
                              "filterPattern": f'"{_SUCCESS_LINE}"'}
    for _ in range(max_pages):
        r = logs.filter_log_events(**kwargs)
        hits = [e for e in r.get("events", []) if _SUCCESS_LINE in e.get("message", "")
                and e.get("timestamp", 0) >= start_ms]
        if hits:
            e = hits[-1]
            when = dt.datetime.fromtimestamp(e["timestamp"] / 1000, dt.timezone.utc).isoformat(timespec="seconds")
            return Guard("recent-traffic", f"refuse: endpoint served successful requests in the last {minutes:g} min "
                         "(data-log)", [f"{group} {e.get('logStreamName', '')} {when}: {e['message'].strip()[:300]}"])
        token = r.get("nextToken")
        if not token:
            break
        kwargs["nextToken"] = token
    return None


def endpoint_guards(aws: Aws, name: str, *, status: str | None, variants: list[str], recent_minutes: float,
                    verified: dict[str, str], now: dt.datetime | None = None, run_dir: str | None = None,
                    deleting: Collection[str] = (), kind: str | None = None) -> list[Guard]:
    """Why ``name`` must not be deleted (empty: nothing against it). A guard that cannot be read refuses too.
    ``run_dir``: the run whose diagnosed endpoint needs a verified fix serving first (``deleting``: the endpoints
    this cleanup deletes, which cannot be that fix). ``kind``: its config's (async, real-time, serverless); None
    (unknown) guards as async does."""
    now = now or dt.datetime.now(dt.timezone.utc)
    guards: list[Guard] = []
    try:
        unfixed = no_fix_guard(aws.client("sagemaker"), name, run_dir, deleting=deleting)
    except _AWS_ERRORS as e:
        unfixed = Guard("guard-unreadable", "refuse: could not check that the fix of this run serves "
                        f"({error_code(e) or type(e).__name__})", [str(e)[:300]])
    if unfixed:
        guards.append(unfixed)
    if status in IN_TRANSITION:
        guards.append(Guard("in-transition", f"refuse: endpoint is {status}; wait until it settles",
                            [f"EndpointStatus {status}"]))
    queued = not is_sync(kind)  # only an async endpoint queues requests and logs them to data-log
    try:  # queued requests: SageMaker drops them with the endpoint
        backlog = read_backlog(aws.client("cloudwatch"), name, now=now) if queued else None
        if backlog is not None and backlog.requests:
            guards.append(Guard("queued-requests", f"refuse: {backlog.requests} queued request(s) would be lost "
                                "(ApproximateBacklogSize); let them drain, or fix the endpoint in place",
                                [f"ApproximateBacklogSize {backlog.size:g} at {backlog.at}"]))
    except _AWS_ERRORS as e:
        guards.append(Guard("guard-unreadable", "refuse: could not read the backlog metrics to rule out queued "
                            f"requests ({error_code(e) or type(e).__name__})", [str(e)[:300]]))
    if name in verified:
        guards.append(Guard("verified-endpoint", "refuse: this is the endpoint steps 3/4 deployed and verified",
                            [f"{verified[name]} names {name}"]))
    if recent_minutes and recent_minutes > 0:
        checks = [("CloudWatch metrics", lambda: _metric_guard(aws.client("cloudwatch"), name, variants,
                                                              recent_minutes, now))]
        if queued:
            checks.append(("data-log", lambda: _datalog_guard(aws.client("logs"), name, recent_minutes, now)))
        for label, check in checks:
            try:
                g = check()
            except _AWS_ERRORS as e:
                g = Guard("guard-unreadable", f"refuse: could not read {label} to rule out recent traffic "
                          f"({error_code(e) or type(e).__name__})", [str(e)[:300]])
            if g:
                guards.append(g)
    return guards
