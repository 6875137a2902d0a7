"""Step 4 — verify: real requests through the same path the users' clients use, for the endpoint's kind.

Real-time and serverless endpoints get synchronous requests (``InvokeEndpoint`` with each input's bytes, the
model's answer read from the response: :func:`endpoint_runbook.invocation.invoke.invoke_sync`), cold then warm, and since a
failed synchronous request cannot be sent again (its caller got the error), the outage's request errors are read
from the endpoint's CloudWatch metrics instead (``Invocation4XXErrors``, ``Invocation5XXErrors``, ``ModelLatency``
per minute over the window, split at the moment the fix began serving: :mod:`endpoint_runbook.invocation.metrics`).
Async endpoints get async requests, as follows.

``run`` sends one cold request and then N warm ones (sequentially, so each latency is a clean round trip),
reads ``OutputLocation``/``FailureLocation`` from each response (never builds them), and waits with one
overall deadline on both S3 (the output or the failure object) and an SQS queue subscribed to the endpoint
config's SNS success/error topics. The queue is the one given, else an existing queue subscribed to every
topic, else a temporary queue + subscription that is removed afterwards (also on failure). Notifications
are matched to the requests by inference id; other messages on a shared queue are left there.

The record (``04-verify.json``) holds a row per request (input, inference id, status, latency, output
location, a summary of the output or the failure reason, the notification), the latency figures (cold vs
warm p50/p95, failures), and the log health lines found or missing. The step fails, after writing its
record, when any request fails, times out, or its notification never comes.

The request itself is :mod:`endpoint_runbook.invocation.invoke`; the notifications :mod:`endpoint_runbook.invocation.notifications`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from .. import logs as logs_mod
from .. import records
from ..aws import AccessDenied, Aws, error_code, error_entry, is_error
from ..endpoint.inplace import read_fleet_logs
from ..endpoint.kind import ASYNC, kind_of
from ..errors import CheckFailed, InputError, NotFoundError
from ..findings import Finding
from ..invocation import replay as replay_mod
from ..invocation.invoke import (
    SYNC_READ_TIMEOUT,
    RequestResult,
    guess_content_type,
    invoke_and_wait,
    invoke_sync,
    now_iso,
    payload_limit,
)
from ..invocation.metrics import read_outage
from ..invocation.notifications import TEMPORARY_QUEUE, NotificationWatcher
from ..progress import Progress
from ..s3 import parse_s3_uri
from ..step_records import DeployRecord, DiagnoseRecord, EndpointFacts, variant_names

__all__ = [
    "DEFAULT_HEALTH_PATTERNS",
    "TEMPORARY_QUEUE",
    "VerifyResult",
    "find_health_lines",
    "latency_figures",
    "percentile",
    "run",
]

#: Lines a healthy start-up logs when no ``health_patterns`` are given: a worker finished loading the model.
#: TorchServe (0.6 → 0.12) reports its ``WorkerLoadTime`` metric at INFO only after ``model_fn`` returned (the
#: SageMaker PyTorch toolkit logs ``org.pytorch.serve`` at INFO, so the DEBUG state change
#: ``WORKER_STARTED -> WORKER_MODEL_LOADED`` shows only where debug logging is on, as in Multi Model Server's
#: containers). A model's own lines (e.g. "index loaded") go in the params file's ``verify.health_patterns``.
DEFAULT_HEALTH_PATTERNS = ({"a worker loaded the model": r"WorkerLoadTime\.Milliseconds|-> WORKER_MODEL_LOADED"},)



def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) with linear interpolation between closest ranks; None if empty."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_figures(requests: list[RequestResult]) -> dict[str, Any]:
    """Cold (first request) vs warm (the others) round-trip latency, and the counts by status."""
    cold = [r for r in requests if r.kind == "cold"]
    warm = [r.latency_s for r in requests if r.kind == "warm" and r.status == "completed" and r.latency_s is not None]
    counts: dict[str, int] = {}
    for r in requests:
        counts[r.status] = counts.get(r.status, 0) + 1

    def rnd(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    return {
        "requests": len(requests),
        "completed": counts.get("completed", 0),
        "failed": counts.get("failed", 0),
        "timeouts": counts.get("timeout", 0),
        "invoke_errors": counts.get("invoke-error", 0),
        "skipped": counts.get("skipped", 0),
        "not_ok": sum(1 for r in requests if not r.ok and r.status != "skipped"),
        "cold_s": rnd(cold[0].latency_s) if cold and cold[0].status == "completed" else None,
        "cold_status": cold[0].status if cold else None,
        "warm": {"n": len(warm), "p50_s": rnd(percentile(warm, 50)), "p95_s": rnd(percentile(warm, 95)),
                 "min_s": rnd(min(warm)) if warm else None, "max_s": rnd(max(warm)) if warm else None},
    }


# ---------------------------------------------------------------------------------------------- health


def _named(pattern: str | dict[str, str]) -> tuple[str | None, str]:
    """A health pattern is a regex, or ``{label: regex}`` (the label is what a reader sees)."""
    if isinstance(pattern, dict):
        if len(pattern) != 1:
            raise InputError(f"a named health pattern is one {{label: regex}}, not {pattern!r}.",
                             code="bad-health-pattern")
        name, pat = next(iter(pattern.items()))
        return str(name), str(pat)
    return None, pattern


def find_health_lines(read: logs_mod.LogRead, patterns: Iterable[str | dict[str, str]]) -> list[dict[str, Any]]:
    """For each pattern (a regex or ``{label: regex}``): found or not, how many lines, the first matching line."""
    out = []
    for entry in patterns:
        name, pat = _named(entry)
        rx = re.compile(pat)
        hits = [e for e in read.events if rx.search(e.message)]
        out.append({"pattern": pat, "name": name, "found": bool(hits), "count": len(hits),
                    "first_line": hits[0].message if hits else None,
                    "stream": hits[0].stream if hits else None})
    return out


# ---------------------------------------------------------------------------------------------- the step


@dataclass
class VerifyResult:
    ok: bool = False
    endpoint_name: str | None = None
    kind: str | None = None  # async | real-time | serverless
    endpoint_status: str | None = None
    endpoint_config_name: str | None = None
    output_path: str | None = None
    failure_path: str | None = None
    inputs: list[str] = field(default_factory=list)
    requests: list[RequestResult] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    health: list[dict[str, Any]] = field(default_factory=list)
    health_logs: dict[str, Any] | None = None
    notifications: dict[str, Any] = field(default_factory=dict)
    log_evidence: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    deadline_seconds: float | None = None
    invocation_timeout_seconds: int | None = None
    started_at: str | None = None
    duration_s: float | None = None
    error: dict[str, Any] | None = None
    replay: dict[str, Any] | None = None  # replay_failed: ReplayReport.to_dict()
    outage: dict[str, Any] | None = None  # real-time/serverless: the request metrics (invocation.metrics.OutageMetrics)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["requests"] = [r.to_dict() for r in self.requests]
        d["findings"] = [f.to_dict() for f in self.findings]
        return records.to_jsonable({"step": "verify", **d})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VerifyResult:
        kw = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        kw["requests"] = [RequestResult.from_dict(r) for r in d.get("requests", [])]
        kw["findings"] = [Finding.from_dict(f) for f in d.get("findings", [])]
        return cls(**kw)


def _default_inputs(run_dir: str | None) -> list[str]:
    dep = DeployRecord.read(run_dir)
    if dep is not None and dep.smoke_input:
        return [dep.smoke_input]
    raise InputError("inputs are not set, and no deploy record names the smoke request's input.",
                     code="missing-input", hint="Pass inputs=['s3://bucket/key', ...] (inputs the model accepts).")


def run(
    aws: Aws,
    *,
    run_dir: str,
    endpoint_name: str | None = None,
    inputs: list[str] | str | None = None,
    content_type: str | None = None,
    count: int | None = None,
    deadline_seconds: float = 300,
    invocation_timeout: int | None = None,
    queue_url: str | None = None,
    notification_grace: float = 30.0,
    health_patterns: Iterable[str] | None = None,
    poll_seconds: float = 0.25,
    replay_failed: bool = False,
    replay_window_minutes: float = 180,
    replay_concurrency: int = 4,
    replay_queue_url: str | None = None,
    outage_endpoint: str | None = None,
    accept: str | None = None,
    outage_window_minutes: float | None = None,
    progress: Callable[[str], Any] | None = None,
) -> VerifyResult:
    """Verify an endpoint with real requests of its kind; write ``04-verify.json``; CheckFailed if any failed.

    endpoint_name: default the deploy record's endpoint. inputs: S3 URIs (default the deploy record's smoke
    input). content_type: for every input (default from each
    key's extension). count: warm requests after the cold one, cycling through the inputs (default
    ``max(3, len(inputs) - 1)``; 0 = cold only). deadline_seconds: for the whole run. invocation_timeout:
    InvocationTimeoutSeconds (default 80 % of the deadline, ≤ 3600). queue_url: a queue subscribed to the
    topics, ``"temporary"`` to force a temporary one, None to find one or create a temporary one.
    replay_failed: once the requests pass, send again to this endpoint every request that failed in the last
    ``replay_window_minutes`` on the endpoint that had the outage (``endpoint_runbook.invocation.replay``; at most
    ``replay_concurrency`` at once; never twice): ``outage_endpoint``, else the endpoint step 1 diagnosed, else
    this one; its failures are looked for under its own config's S3FailurePath and error topic, whatever the
    deploy mode (in place they are this endpoint's, after a new-endpoint deploy the broken one's).
    Real-time and serverless: ``accept`` is each request's Accept header (None: the model's default); the request
    metrics of the last ``outage_window_minutes`` (default ``replay_window_minutes``) are read and shown, of the
    same endpoint that had the outage (``outage_endpoint``, else step 1's, else this one); nothing is replayed (the
    caller got the error).
    """
    t0 = time.monotonic()
    deadline = t0 + deadline_seconds
    result = VerifyResult(started_at=now_iso(), deadline_seconds=deadline_seconds)
    watcher: NotificationWatcher | None = None
    try:
        if not endpoint_name:
            endpoint_name = (DeployRecord.read(run_dir) or DeployRecord()).endpoint_name
        if not endpoint_name:
            raise InputError("endpoint_name is not set and there is no deploy record naming one.",
                             code="missing-input", hint="Pass endpoint_name, or run the deploy step first with "
                             "the same run_dir.")
        result.endpoint_name = endpoint_name
        sm, s3 = aws.client("sagemaker"), aws.client("s3")
        try:
            ep = sm.describe_endpoint(EndpointName=endpoint_name)
        except botocore.exceptions.ClientError as e:
            if is_error(e, "ValidationException", "ResourceNotFound"):
                raise NotFoundError(f"endpoint {endpoint_name!r} does not exist in {aws.region}.",
                                    code="endpoint-not-found",
                                    hint="Check the name (and region), or run the deploy step.") from e
            raise
        result.endpoint_status = ep["EndpointStatus"]
        result.endpoint_config_name = ep["EndpointConfigName"]
        if ep["EndpointStatus"] != "InService":
            raise InputError(f"endpoint {endpoint_name} is {ep['EndpointStatus']}, not InService.",
                             code="endpoint-not-in-service",
                             hint=f"FailureReason: {ep.get('FailureReason')}" if ep.get("FailureReason")
                             else "Wait for it (deploy step), then rerun verify.")
        cfg = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
        result.kind = ep_kind = kind_of(cfg)
        aic = cfg.get("AsyncInferenceConfig") or {}
        out_cfg = aic.get("OutputConfig") or {}
        result.output_path, result.failure_path = out_cfg.get("S3OutputPath"), out_cfg.get("S3FailurePath")
        note_cfg = out_cfg.get("NotificationConfig") or {}
        topics = [note_cfg.get("SuccessTopic"), note_cfg.get("ErrorTopic")]
        if ep_kind == ASYNC and not result.failure_path:
            result.findings.append(Finding(
                "no-failure-path", "warning",
                "The endpoint config has no S3FailurePath: failures show only in notifications and logs. "
                "Redeploy with S3FailurePath set.", [ep["EndpointConfigName"]]))

        if isinstance(inputs, str):
            inputs = [inputs]
        inputs = list(inputs or _default_inputs(run_dir))
        result.inputs = inputs
        _check_inputs(s3, inputs, result.findings)
        warm_n = max(3, len(inputs) - 1) if count is None else int(count)
        if warm_n < 0:
            raise InputError(f"count must be ≥ 0, got {count}.", code="bad-count")
        plan = [(inputs[0], "cold")] + [(inputs[(i + 1) % len(inputs)], "warm") for i in range(warm_n)]
        inv_timeout = invocation_timeout or max(1, min(3600, int(deadline_seconds * 0.8)))
        result.invocation_timeout_seconds = inv_timeout

        watcher = NotificationWatcher(aws.client("sns"), aws.client("sqs"), [t for t in topics if t],
                                      queue_url=queue_url)
        try:
            watcher.open()
            result.findings.extend(watcher.findings)
            bar = Progress(progress, total=len(plan), desc=f"verify {endpoint_name}", unit="req")
            runtime = (aws.client("sagemaker-runtime") if ep_kind == ASYNC else
                       aws.client("sagemaker-runtime", read_timeout=SYNC_READ_TIMEOUT, max_attempts=1))
            try:
                for i, (uri, kind) in enumerate(plan, start=1):
                    if kind == "warm" and result.requests and result.requests[0].status not in ("completed",):
                        result.requests.append(RequestResult(
                            index=i, kind=kind, input=uri, status="skipped",
                            failure_reason="not sent: the cold request did not complete"))
                        continue
                    if time.monotonic() > deadline:
                        result.requests.append(RequestResult(index=i, kind=kind, input=uri, status="skipped",
                                                             failure_reason="not sent: the deadline had passed"))
                        continue
                    try:
                        if ep_kind != ASYNC:
                            rr = invoke_sync(runtime, s3, endpoint_name=endpoint_name, input_uri=uri,
                                             content_type=content_type or guess_content_type(uri), accept=accept,
                                             deadline=deadline, max_payload=payload_limit(ep_kind), index=i,
                                             kind=kind)
                        else:
                            rr = invoke_and_wait(
                                runtime, s3, endpoint_name=endpoint_name, input_uri=uri,
                                content_type=content_type or guess_content_type(uri), deadline=deadline,
                                invocation_timeout=inv_timeout, watcher=watcher, notification_grace=notification_grace,
                                poll_seconds=poll_seconds, index=i, kind=kind,
                                tick=lambda msg, i=i: bar.update(i - 1, msg))
                    except AccessDenied as e:  # refused while waiting: the request itself was sent
                        if ep_kind == ASYNC and e.operation != "InvokeEndpointAsync":
                            result.requests.append(RequestResult(
                                index=i, kind=kind, input=uri, status="interrupted",
                                failure_reason=f"sent; the wait for it stopped: {e.code} ({e.operation})"))
                        raise
                    result.requests.append(rr)
                    bar.update(i, f"{kind} {i}: {rr.status} {rr.latency_s or 0:.2f}s")
            finally:
                bar.close()
        finally:
            result.notifications = watcher.to_dict()
            result.notifications["cleanup"] = watcher.close()
        for f in watcher.findings:
            if f not in result.findings:
                result.findings.append(f)

        result.figures = latency_figures(result.requests)
        result.problems = [p for r in result.requests if (p := r.problem()) and r.status != "skipped"]
        skipped = [r for r in result.requests if r.status == "skipped"]
        if skipped:
            result.problems.append(f"{len(skipped)} request(s) not sent: {skipped[0].failure_reason}")
        if ep_kind != ASYNC:  # a failed synchronous request cannot be sent again: its metrics are the record
            result.outage = _outage_metrics(aws, run_dir, endpoint_name, ep,
                                            outage_window_minutes or replay_window_minutes, result.findings,
                                            named=outage_endpoint)
            if replay_failed:
                result.findings.append(Finding(
                    "replay-not-possible", "info", f"{endpoint_name} is {ep_kind}: a request that failed cannot be "
                    "sent again (its caller got the error). The outage's request errors are read from the endpoint's "
                    "CloudWatch metrics instead (outage).", [ep_kind]))
        if replay_failed and ep_kind == ASYNC and not result.problems:
            rep = replay_mod.replay_failed(
                aws, endpoint_name, output_path=result.output_path or "", failure_path=result.failure_path,
                error_topic=note_cfg.get("ErrorTopic"), run_dir=run_dir, queue_url=replay_queue_url,
                outage=_outage(sm, run_dir, outage_endpoint, endpoint_name, aic),
                start=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=replay_window_minutes),
                end=dt.datetime.now(dt.timezone.utc), concurrency=replay_concurrency,
                deadline_seconds=max(60.0, deadline - time.monotonic()), progress=progress)
            result.replay = rep.to_dict()
            result.findings.extend(rep.findings)
            if not rep.ok:
                c = rep.counts
                result.problems.append(f"replay: {c['failed_again']} of {c['failed']} failed request(s) were not "
                                       "served on replay (see replay.rows)")
        read = _health(aws, result, ep, health_patterns, window=_fixed_in_place(run_dir, endpoint_name, ep))
        result.ok = not result.problems
        if not result.ok:
            result.log_evidence = {**logs_mod.analyze(read).to_dict(), "read": read.to_dict()}
    except Exception as e:
        result.ok = False
        if isinstance(e, AccessDenied):
            sent = [r for r in result.requests if r.status != "skipped"]
            e.with_done(*([f"{len(sent)} request(s) sent to {result.endpoint_name}" + (
                               f" (their results are in {result.output_path})" if result.output_path else "")]
                          if sent else []),
                        *([f"{len(result.replay.get('rows') or [])} failed request(s) replayed (never twice: a rerun "
                           "sends the rest)"] if result.replay else []))
        result.error = error_entry(e)
        result.duration_s = round(time.monotonic() - t0, 3)
        records.write_record(run_dir, "verify", result.to_dict())
        raise
    result.duration_s = round(time.monotonic() - t0, 3)
    records.write_record(run_dir, "verify", result.to_dict())
    if not result.ok:
        cause = ((result.log_evidence or {}).get("cause") or {}).get("summary")
        raise CheckFailed("verify failed: " + "; ".join(result.problems)
                          + (f". Log evidence: {cause}." if cause else "."), code="verify-failed",
                          hint="See 04-verify.json for every request, its failure object and notification.")
    return result


def _outage_endpoint(run_dir: str | None, named: str | None, fixed: str) -> tuple[str, EndpointFacts]:
    """The endpoint that had the outage: ``outage_endpoint`` as named, else the one step 1 diagnosed, else the
    fixed one; with step 1's facts (replay and the request metrics both ask this)."""
    diag = (DiagnoseRecord.read(run_dir) or DiagnoseRecord()).endpoint
    return named or diag.name or fixed, diag


def _outage(sm: Any, run_dir: str | None, named: str | None, fixed: str, fixed_async: dict[str, Any]) -> replay_mod.Outage:
    """The endpoint whose failed requests are replayed, and where its failures are: its async config as step 1
    recorded it, else as its config says now, else (gone, or the fixed endpoint itself) the fixed endpoint's."""
    name, diag = _outage_endpoint(run_dir, named, fixed)
    aic, source = None, None
    if name == diag.name and diag.async_config:
        aic, source = diag.async_config, "01-diagnose.json"
    elif name != fixed:
        try:
            ep = sm.describe_endpoint(EndpointName=name)
            aic = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"]).get("AsyncInferenceConfig")
            source = f"endpoint config {ep['EndpointConfigName']}"
        except botocore.exceptions.ClientError as e:
            if not is_error(e, "ValidationException", "ResourceNotFound"):
                raise
    if not aic:
        aic = fixed_async
        source = f"the config of {fixed}" + ("" if name == fixed else " (the outage endpoint's own is unknown)")
    out = (aic or {}).get("OutputConfig") or {}
    return replay_mod.Outage(name, out.get("S3FailurePath"), (out.get("NotificationConfig") or {}).get("ErrorTopic"),
                             source)
def _serving_since(run_dir: str | None, endpoint_name: str, ep: dict[str, Any]) -> dt.datetime | None:
    """When the fix began serving on ``endpoint_name``: the end of this run's in-place update (the endpoint's
    LastModifiedTime), or its creation when this run created it; None when no deploy record says."""
    dep = DeployRecord.read(run_dir) or DeployRecord()
    if dep.endpoint_name != endpoint_name:
        return None
    when = ep.get("LastModifiedTime") if dep.mode == "in-place" else ep.get("CreationTime")
    return when if isinstance(when, dt.datetime) else None


def _outage_metrics(aws: Aws, run_dir: str | None, endpoint_name: str, ep: dict[str, Any], minutes: float,
                    findings: list[Finding], named: str | None = None) -> dict[str, Any]:
    """The request metrics of the endpoint that had the outage (:func:`_outage_endpoint`) over the last
    ``minutes``: this one (split at the moment the fix began serving), or another one (fixed beside it)."""
    name, diag = _outage_endpoint(run_dir, named, endpoint_name)
    fixed_at = None
    if name == endpoint_name:
        fixed_at = _serving_since(run_dir, endpoint_name, ep)
        variants = variant_names(ep.get("ProductionVariants"))
    elif name == diag.name:
        variants = list(diag.variant_names)
    else:  # named by the caller: its variants as its config says now (AllTraffic when it is gone)
        variants = _variants_now(aws.client("sagemaker"), name)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        om = read_outage(aws.client("cloudwatch"), name, variants or ["AllTraffic"],
                         start=now - dt.timedelta(minutes=minutes), end=now, fixed_at=fixed_at)
    except botocore.exceptions.ClientError as e:
        findings.append(Finding("outage-metrics-unreadable", "warning", f"Could not read the request metrics of {name} "
                                f"({error_code(e)}): the outage's failed requests are unknown. Check "
                                "cloudwatch:GetMetricData.", [str(e)]))
        return {"endpoint": name, "error": f"{error_code(e)}: {e}"}
    if fixed_at is not None and om.failed_after_fix:
        findings.append(Finding("requests-failed-after-fix", "warning",
                                f"{om.failed_after_fix:g} request(s) failed on {name} after the fix began serving "
                                f"({om.fixed_at}): see outage.series for when, and the endpoint's logs for why.",
                                [f"after the fix: {om.after_fix}"]))
    return om.to_dict()


def _variants_now(sm: Any, name: str) -> list[str]:
    try:
        ep = sm.describe_endpoint(EndpointName=name)
    except botocore.exceptions.ClientError as e:
        if is_error(e, "ValidationException", "ResourceNotFound"):
            return []
        raise
    return variant_names(ep.get("ProductionVariants"))


def _check_inputs(s3: Any, inputs: list[str], findings: list[Finding]) -> None:
    missing: list[str] = []
    for uri in dict.fromkeys(inputs):
        bucket, key = parse_s3_uri(uri)
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except botocore.exceptions.ClientError as e:
            if is_error(e, "404", "NoSuchKey", "NotFound", "NoSuchBucket"):
                missing.append(uri)
            else:
                findings.append(Finding("input-unverifiable", "warning",
                                        f"Could not check {uri} ({error_code(e)}); sending it anyway.", [str(e)]))
    if missing:
        raise NotFoundError(f"input object(s) do not exist: {', '.join(missing)}.", code="input-not-found",
                            hint="Upload them, or pass inputs that exist (s3://bucket/key).")


def _fixed_in_place(run_dir: str | None, endpoint_name: str, ep: dict[str, Any]) -> dict[str, Any] | None:
    """The deploy record's update window when this run fixed ``endpoint_name`` in place to the config it serves."""
    dep = DeployRecord.read(run_dir) or DeployRecord()
    window = dep.update_window or {}
    if dep.mode == "in-place" and dep.endpoint_name == endpoint_name and window.get("config") == ep.get(
            "EndpointConfigName"):
        return window
    return None


def _health(aws: Aws, result: VerifyResult, ep: dict[str, Any], patterns: Iterable[str] | None, *,
            window: dict[str, Any] | None = None) -> logs_mod.LogRead:
    """Read the endpoint's logs since its creation (fixed in place: its new config's containers only, ``window``);
    record the health lines found or missing."""
    pats = list(DEFAULT_HEALTH_PATTERNS if patterns is None else patterns)
    created = ep.get("CreationTime")
    start: Any = created - dt.timedelta(minutes=5) if isinstance(created, dt.datetime) else dt.timedelta(hours=6)
    read = (read_fleet_logs(aws.client("logs"), result.endpoint_name, window) if window else
            logs_mod.read_endpoint_logs(aws.client("logs"), result.endpoint_name, start=start, max_events=20_000))
    result.health_logs = read.to_dict()
    result.health = find_health_lines(read, pats)
    missing = [h["name"] or h["pattern"] for h in result.health if not h["found"]]
    if not read.ok:
        result.findings.append(Finding(
            "health-logs-unreadable", "warning",
            f"Could not read {read.group} ({read.error or 'no log group'}): the health lines are unknown. "
            "Check logs:FilterLogEvents permission.", [read.error_message or read.group]))
    elif missing and pats:
        result.findings.append(Finding(
            "health-lines-missing", "warning",
            "Some start-up health lines are not in the endpoint's logs: check that the model loaded "
            "everything it should.", missing))
    return read
