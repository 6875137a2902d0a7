"""Recover an outage: find the async requests that failed on the endpoint that had the outage (the broken one,
:class:`Outage`) in a time window and send each input again to the fixed endpoint: the same endpoint after an
in-place fix, another one after a new-endpoint deploy.

Failed requests are found in two places: the error topic's ``InferenceResult`` notifications (their JSON names
the inference id, ``requestParameters.inputLocation`` and ``failureReason``), read through an existing queue
subscribed to the topic (read, never consumed: the messages are made visible again), and the failure objects
under ``S3FailurePath`` (``<inference-id>-error.out``; the reason only, so a failure whose notification is gone
is reported as ``input-unknown``). Both are the broken endpoint's config's; a failure object whose notification
names another endpoint (a path the fixed endpoint shares) is not the outage's.

A replay's inference id is derived from the original's (``replay-<id>``), so its output or failure object says
it was already replayed: a rerun — from any run dir — never sends it twice. The run dir's ledger
(``replay-ledger.json``) records original id → replay id → status.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions

from ..aws import Aws
from ..findings import Finding
from ..progress import Progress
from ..records import parse_iso
from ..s3 import object_exists, parse_s3_prefix
from .invoke import guess_content_type, invoke_and_wait
from .notifications import NotificationWatcher, parse_notification

__all__ = ["LEDGER", "REPLAY_PREFIX", "FailedRequest", "Outage", "ReplayReport", "collect_failed", "replay_failed",
           "replay_id"]

REPLAY_PREFIX = "replay-"
LEDGER = "replay-ledger.json"
_FAILURE_SUFFIX = "-error.out"


def replay_id(original: str) -> str:
    """The inference id of ``original``'s replay (≤ 64 characters, as InvokeEndpointAsync allows)."""
    return (REPLAY_PREFIX + original)[:64]


@dataclass(frozen=True)
class Outage:
    """Where the failed requests are found: the endpoint they failed on, and its async config's S3FailurePath and
    error topic. ``source``: where those came from (the diagnose record, the endpoint's config, ...)."""

    endpoint: str
    failure_path: str | None = None
    error_topic: str | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class FailedRequest:
    inference_id: str
    input_location: str | None = None
    content_type: str | None = None
    failure_reason: str | None = None
    failed_at: str | None = None
    failure_location: str | None = None
    sources: list[str] = field(default_factory=list)  # notification, failure-object

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _in_window(t: dt.datetime | None, start: dt.datetime, end: dt.datetime) -> bool:
    return t is not None and start <= t <= end


def _from_notifications(sqs: Any, queue_url: str, endpoint: str, start: dt.datetime, end: dt.datetime,
                        found: dict[str, FailedRequest], elsewhere: set[str], *, max_messages: int = 10000,
                        hold: int = 60) -> int:
    """Read (never consume) the queue; keep the Failed notifications of ``endpoint`` in the window, and put the
    inference ids the notifications give to other endpoints in ``elsewhere``. Returns how many messages were read."""
    handles: dict[str, str] = {}
    try:
        while len(handles) < max_messages:
            msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=hold).get("Messages", [])
            if not msgs:
                break
            for m in msgs:
                handles[m["MessageId"]] = m["ReceiptHandle"]
                doc = parse_notification(m.get("Body", ""))
                if not doc:
                    continue
                req = doc.get("requestParameters") or {}
                iid = doc.get("inferenceId", "")
                if req.get("endpointName") not in (None, endpoint):
                    elsewhere.add(iid)
                if doc.get("invocationStatus") != "Failed":
                    continue
                when = parse_iso(doc.get("receivedTime")) or parse_iso(doc.get("eventTime"))
                if req.get("endpointName") != endpoint or iid.startswith(REPLAY_PREFIX) \
                        or not _in_window(when, start, end):
                    continue
                fr = found.setdefault(iid, FailedRequest(iid))
                fr.input_location = req.get("inputLocation") or fr.input_location
                fr.content_type = req.get("contentType") or fr.content_type
                fr.failure_reason = doc.get("failureReason") or fr.failure_reason
                fr.failed_at = doc.get("eventTime") or fr.failed_at
                fr.failure_location = (doc.get("responseParameters") or {}).get("failureLocation") or fr.failure_location
                if "notification" not in fr.sources:
                    fr.sources.append("notification")
    finally:
        for handle in handles.values():  # not ours to consume: visible again at once
            try:
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
            except botocore.exceptions.ClientError:
                pass
    return len(handles)


def _from_failure_objects(s3: Any, failure_path: str, start: dt.datetime, end: dt.datetime,
                          found: dict[str, FailedRequest], elsewhere: Collection[str] = ()) -> int:
    """The ``<id>-error.out`` objects written in the window (but not those of ``elsewhere``: other endpoints').
    Returns how many."""
    bucket, prefix = parse_s3_prefix(failure_path if failure_path.endswith("/") else failure_path + "/")
    n = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            name = o["Key"].rsplit("/", 1)[-1]
            if not name.endswith(_FAILURE_SUFFIX) or not _in_window(o["LastModified"], start, end):
                continue
            iid = name[: -len(_FAILURE_SUFFIX)]
            if iid.startswith(REPLAY_PREFIX) or iid in elsewhere:
                continue
            n += 1
            fr = found.setdefault(iid, FailedRequest(iid))
            fr.failure_location = fr.failure_location or f"s3://{bucket}/{o['Key']}"
            fr.failed_at = fr.failed_at or o["LastModified"].isoformat()
            if not fr.failure_reason:
                body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read(4096)
                fr.failure_reason = body.decode("utf-8", "replace").strip()
            if "failure-object" not in fr.sources:
                fr.sources.append("failure-object")
    return n


def collect_failed(aws: Aws, endpoint: str, *, start: dt.datetime, end: dt.datetime, failure_path: str | None,
                   error_topic: str | None, queue_url: str | None = None) -> tuple[list[FailedRequest], dict[str, Any],
                                                                                   list[Finding]]:
    """The requests that failed on ``endpoint`` between ``start`` and ``end`` (both sources merged by id)."""
    found: dict[str, FailedRequest] = {}
    elsewhere: set[str] = set()
    info: dict[str, Any] = {"endpoint": endpoint, "queue_url": None, "messages_read": 0, "failure_objects": 0,
                            "failure_path": failure_path, "error_topic": error_topic}
    findings: list[Finding] = []
    if error_topic:
        q = queue_url or NotificationWatcher(aws.client("sns"), aws.client("sqs"), [error_topic]).subscribed_queue()
        if q:
            info["queue_url"] = q
            info["messages_read"] = _from_notifications(aws.client("sqs"), q, endpoint, start, end, found, elsewhere)
        else:
            findings.append(Finding("no-subscribed-queue", "warning", f"No queue is subscribed to the error topic "
                                    f"{error_topic}: past failure notifications cannot be read, so failures are "
                                    "known only from S3FailurePath (without their inputs). Subscribe a queue to it.",
                                    [error_topic]))
    if failure_path:
        info["failure_objects"] = _from_failure_objects(aws.client("s3"), failure_path, start, end, found, elsewhere)
        info["other_endpoints_failures"] = len(elsewhere)
    rows = sorted(found.values(), key=lambda f: (f.failed_at or "", f.inference_id))
    return rows, info, findings


# ---------------------------------------------------------------------------------------------- replay


@dataclass
class ReplayReport:
    endpoint_name: str  # where the requests are sent again (the fixed endpoint)
    window_start: str
    window_end: str
    concurrency: int
    sources: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    seconds: float | None = None
    ledger: str | None = None
    outage: dict[str, Any] | None = None  # Outage.to_dict(): where the failed requests were looked for

    def count(self, *statuses: str) -> int:
        return sum(1 for r in self.rows if r["status"] in statuses)

    @property
    def counts(self) -> dict[str, Any]:
        sent = [r for r in self.rows if r.get("sent_now")]
        return {"failed": len(self.rows), "replayed": len(sent),
                "served": self.count("served"), "already_served": self.count("already-served"),
                "failed_again": self.count("failed", "timeout", "invoke-error", "already-failed"),
                "input_unknown": self.count("input-unknown"),
                "throughput_rps": round(len(sent) / self.seconds, 3) if sent and self.seconds else None}

    @property
    def ok(self) -> bool:
        """Every failed request with a known input has been served (now or by an earlier replay)."""
        return all(r["status"] in ("served", "already-served", "input-unknown") for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["findings"] = [f.to_dict() for f in self.findings]
        return {**d, "counts": self.counts, "ok": self.ok}


def _output_location(output_path: str, iid: str) -> str:
    return f"{output_path.rstrip('/')}/{iid}.out"


def _failure_location(failure_path: str | None, iid: str) -> str | None:
    return f"{failure_path.rstrip('/')}/{iid}{_FAILURE_SUFFIX}" if failure_path else None


def replay_failed(aws: Aws, endpoint: str, *, output_path: str, failure_path: str | None, error_topic: str | None,
                  start: dt.datetime, end: dt.datetime, outage: Outage | None = None, run_dir: str | None = None,
                  queue_url: str | None = None, concurrency: int = 4, deadline_seconds: float = 600,
                  invocation_timeout: int | None = None,
                  progress: Callable[[str], Any] | None = None) -> ReplayReport:
    """Collect the requests that failed on ``outage.endpoint`` in the window (under its failure path and error
    topic) and send each input again to ``endpoint`` (the fixed one, whose ``output_path``/``failure_path`` say
    whether a request was already replayed), at most ``concurrency`` at once; a request already replayed is not
    sent again. ``outage`` defaults to ``endpoint`` itself with its own paths (fixed in place). Writes the
    ledger into ``run_dir``. Never raises for a request's own failure."""
    t0 = time.monotonic()
    if concurrency < 1:
        from ..errors import InputError

        raise InputError(f"replay concurrency must be ≥ 1, got {concurrency}.", code="bad-concurrency")
    outage = outage or Outage(endpoint, failure_path, error_topic, "the fixed endpoint's own config")
    rep = ReplayReport(endpoint, start.isoformat(timespec="seconds"), end.isoformat(timespec="seconds"), concurrency,
                       outage=outage.to_dict())
    failed, rep.sources, rep.findings = collect_failed(aws, outage.endpoint, start=start, end=end,
                                                       failure_path=outage.failure_path,
                                                       error_topic=outage.error_topic, queue_url=queue_url)
    s3, runtime = aws.client("s3"), aws.client("sagemaker-runtime")
    todo: list[tuple[dict[str, Any], FailedRequest]] = []
    for fr in failed:
        rid = replay_id(fr.inference_id)
        row = {"original_id": fr.inference_id, "input": fr.input_location, "failure_reason": fr.failure_reason,
               "failed_at": fr.failed_at, "found_in": fr.sources, "replay_id": rid, "status": "pending",
               "output_location": _output_location(output_path, rid), "latency_s": None, "sent_now": False}
        rep.rows.append(row)
        if not fr.input_location:
            row["status"], row["replay_id"] = "input-unknown", None
        elif object_exists(s3, row["output_location"]):
            row["status"] = "already-served"
        elif object_exists(s3, _failure_location(failure_path, rid)):
            row["status"] = "already-failed"
        else:
            todo.append((row, fr))
    unknown = rep.count("input-unknown")
    if unknown:
        rep.findings.append(Finding("input-unknown", "warning", f"{unknown} failed request(s) have a failure "
                                    "object but no notification naming their input: they cannot be replayed. "
                                    "Find their inputs with the producers.",
                                    [r["original_id"] for r in rep.rows if r["status"] == "input-unknown"][:20]))
    deadline = time.monotonic() + deadline_seconds
    inv_timeout = invocation_timeout or max(1, min(3600, int(deadline_seconds * 0.8)))
    bar = Progress(progress, total=max(1, len(todo)), unit="req",
                   desc=f"replaying {len(todo)} request(s) that failed on {outage.endpoint} on {endpoint}")
    done = 0

    def one(item: tuple[dict[str, Any], FailedRequest]) -> None:
        nonlocal done
        row, fr = item
        rr = invoke_and_wait(runtime, s3, endpoint_name=endpoint, input_uri=fr.input_location or "",
                             content_type=fr.content_type or guess_content_type(fr.input_location or ""),
                             deadline=deadline, invocation_timeout=inv_timeout, poll_seconds=0.5,
                             kind="replay", inference_id=row["replay_id"])
        row.update(sent_now=True, latency_s=rr.latency_s, sent_at=rr.sent_at,
                   status={"completed": "served"}.get(rr.status, rr.status),
                   output_location=rr.output_location or row["output_location"],
                   replay_failure=rr.failure_reason if rr.status != "completed" else None)
        done += 1
        bar.update(done, f"{done}/{len(todo)}: {row['original_id']} → {row['status']}")

    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="replay") as pool:
            list(pool.map(one, todo))
    finally:
        bar.close()
        rep.seconds = round(time.monotonic() - t0, 3)
        if run_dir:
            rep.ledger = str(_write_ledger(Path(run_dir), rep))
    return rep


def _write_ledger(run_dir: Path, rep: ReplayReport) -> Path:
    """Merge this run's rows into the ledger (original id → replay id → status, latest wins)."""
    path = run_dir / LEDGER
    try:
        ledger = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        ledger = {"endpoint": rep.endpoint_name, "entries": {}}
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    for r in rep.rows:
        prev = ledger["entries"].get(r["original_id"], {})
        if r["sent_now"] or not prev:
            ledger["entries"][r["original_id"]] = {"replay_id": r["replay_id"], "status": r["status"],
                                                   "input": r["input"], "at": stamp}
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(ledger, indent=1, sort_keys=True))
    tmp.replace(path)
    return path

