"""Step 4 — verify: real async requests through the same S3 and SNS path the users' clients use.

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

``invoke_and_wait`` (one request, S3 and optionally SQS) is shared with the deploy step's smoke request.
"""

from __future__ import annotations

import datetime as dt
import json
import mimetypes
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import botocore.exceptions

from . import logs as logs_mod
from . import records
from .aws import Aws, error_code, is_error, parse_s3_uri
from .errors import CheckFailed, InputError, NotFoundError, RunbookError
from .findings import Finding

__all__ = [
    "DEFAULT_HEALTH_PATTERNS",
    "DEFAULT_INPUT_KEY",
    "TEMPORARY_QUEUE",
    "NotificationWatcher",
    "Progress",
    "RequestResult",
    "VerifyResult",
    "find_health_lines",
    "guess_content_type",
    "invoke_and_wait",
    "latency_figures",
    "parse_s3_uri",
    "percentile",
    "run",
    "summarize_output",
]

#: The seed's verification input, relative to the bucket (StyGig catalog image).
DEFAULT_INPUT_KEY = "train/upperwear/tshirt/upperwear_tshirt100.png"
#: Health lines the seed's verification steps look for after a good start (regular expressions).
DEFAULT_HEALTH_PATTERNS = (r"CLIP model loaded", r"All models initialized", r"Loaded metadata for \d+ categories")
#: ``queue_url=TEMPORARY_QUEUE`` always uses a temporary queue, even when a subscribed queue exists.
TEMPORARY_QUEUE = "temporary"

_MAX_OUTPUT_BYTES = 5 * 1024 * 1024
_MAX_FAILURE_BYTES = 64 * 1024
_TOP_ITEMS = 10


# ---------------------------------------------------------------------------------------------- helpers


def guess_content_type(uri: str) -> str | None:
    """The content type implied by the key's extension (``.png`` → ``image/png``), None when unknown."""
    return mimetypes.guess_type(uri.rsplit("/", 1)[-1])[0]


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _parse_iso(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class Progress:
    """Progress of a bounded wait: a ``tqdm.auto`` bar (a widget in Studio, text headless), or the caller's
    ``progress(msg)`` called when the message changes."""

    def __init__(self, progress: Callable[[str], Any] | None, *, total: float, desc: str, unit: str = "s"):
        self._cb = progress
        self._desc = desc
        self._last = ""
        self._bar = None
        if progress is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=True,
                             bar_format="{desc} {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} " + unit + " [{elapsed}]")
        else:
            self._say(desc)

    def _say(self, msg: str) -> None:
        if self._cb is not None and msg != self._last:
            self._last = msg
            self._cb(msg)

    def update(self, n: float, msg: str) -> None:
        if self._bar is not None:
            self._bar.n = min(n, self._bar.total)
            self._bar.set_description_str(f"{self._desc}: {msg}", refresh=False)
            self._bar.refresh()
        else:
            self._say(msg)

    def close(self, msg: str | None = None) -> None:
        if self._bar is not None:
            if msg:
                self._bar.set_description_str(f"{self._desc}: {msg}", refresh=False)
            self._bar.close()
        elif msg:
            self._say(msg)


# ---------------------------------------------------------------------------------------------- outputs


def summarize_output(body: bytes, content_type: str | None = None, *, top: int = _TOP_ITEMS) -> dict[str, Any]:
    """A small, model-agnostic summary of an output object for the record.

    A recommender-shaped JSON (``{"query": {...}, "recommendations": [...]}``) keeps the query's scalar
    fields and the top items (rank, key, score, category, type, color, …scalars); other JSON keeps its
    top-level keys and a preview; text keeps a preview; anything else only its size.
    """
    out: dict[str, Any] = {"bytes": len(body), "content_type": content_type}
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        try:
            out.update(kind="text", preview=body.decode("utf-8")[:300])
        except UnicodeDecodeError:
            out["kind"] = "binary"
        return out
    recs = doc.get("recommendations") if isinstance(doc, dict) else None
    if isinstance(recs, list):
        query = doc.get("query") if isinstance(doc.get("query"), dict) else {}
        out["kind"] = "recommendations"
        out["query"] = {k: v for k, v in query.items() if _small(v)}
        out["count"] = len(recs)
        out["top"] = [{k: v for k, v in item.items() if _scalar(v)} for item in recs[:top] if isinstance(item, dict)]
        return out
    out["kind"] = "json"
    if isinstance(doc, dict):
        out["keys"] = list(doc)[:20]
    out["preview"] = json.dumps(doc)[:300]
    return out


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _small(v: Any) -> bool:
    if _scalar(v):
        return True
    if isinstance(v, list):
        return len(v) <= 10 and all(_scalar(x) for x in v)
    if isinstance(v, dict):
        return len(v) <= 10 and all(_scalar(x) for x in v.values())
    return False


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


# ---------------------------------------------------------------------------------------------- requests


@dataclass
class RequestResult:
    """One async request: what was sent, what came back, how long it took.

    status: ``completed`` (output object), ``failed`` (failure object or Failed notification), ``timeout``
    (nothing by the deadline), ``invoke-error`` (InvokeEndpointAsync itself refused), ``skipped``.
    ``notification``: the matched SNS message's essentials, or ``{"received": False}``; None when no queue
    was watched. ``ok`` also needs the notification when one was expected.
    """

    index: int
    kind: str
    input: str
    content_type: str | None = None
    inference_id: str | None = None
    status: str = "pending"
    latency_s: float | None = None
    output_location: str | None = None
    failure_location: str | None = None
    summary: dict[str, Any] | None = None
    failure_reason: str | None = None
    notification: dict[str, Any] | None = None
    sent_at: str | None = None
    error_code: str | None = None
    notification_expected: bool = False

    @property
    def ok(self) -> bool:
        if self.status != "completed":
            return False
        if self.notification_expected:
            return bool(self.notification and self.notification.get("received")
                        and self.notification.get("status") == "Completed")
        return True

    def problem(self) -> str | None:
        """One line naming what went wrong (None when ok)."""
        if self.ok:
            return None
        where = f"request {self.index} ({self.kind}, {self.input}"
        where += f", inference id {self.inference_id})" if self.inference_id else ")"
        if self.status == "completed":
            n = self.notification or {}
            if not n.get("received"):
                return f"{where} completed, but no notification arrived on the queue"
            return f"{where} completed, but its notification says {n.get('status')}"
        if self.status == "timeout":
            return f"{where} timed out: {(self.failure_reason or '').rstrip('.')}"
        return f"{where} {self.status}: {(self.failure_reason or '').rstrip('.')}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RequestResult:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})


def _head(s3: Any, uri: str | None) -> bool:
    if not uri:
        return False
    bucket, key = parse_s3_uri(uri)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except botocore.exceptions.ClientError as e:
        if is_error(e, "404", "NoSuchKey", "NotFound"):
            return False
        raise


def _read(s3: Any, uri: str, limit: int) -> tuple[bytes, str | None]:
    bucket, key = parse_s3_uri(uri)
    obj = s3.get_object(Bucket=bucket, Key=key)
    body = obj["Body"].read(limit + 1)
    obj["Body"].close()
    return body, obj.get("ContentType")


def invoke_and_wait(
    runtime: Any,
    s3: Any,
    *,
    endpoint_name: str,
    input_uri: str,
    content_type: str | None,
    deadline: float,
    invocation_timeout: int | None = None,
    watcher: NotificationWatcher | None = None,
    notification_grace: float = 30.0,
    poll_seconds: float = 0.25,
    index: int = 0,
    kind: str = "request",
    tick: Callable[[str], Any] | None = None,
) -> RequestResult:
    """Send one async request and wait (until the monotonic ``deadline``) for its output or failure object;
    with a ``watcher``, also for its SNS notification (at most ``notification_grace`` seconds after the S3
    outcome). Never raises for the request's own failure: that is in the returned :class:`RequestResult`.
    """
    rr = RequestResult(index=index, kind=kind, input=input_uri, content_type=content_type)
    rr.inference_id = str(uuid.uuid4())
    if watcher is not None and watcher.active:
        watcher.watch(rr.inference_id)
        rr.notification_expected = True
        rr.notification = {"received": False}
    kwargs: dict[str, Any] = {"EndpointName": endpoint_name, "InputLocation": input_uri,
                              "InferenceId": rr.inference_id}
    if content_type:
        kwargs["ContentType"] = content_type
    if invocation_timeout:
        kwargs["InvocationTimeoutSeconds"] = int(invocation_timeout)
    rr.sent_at = _now_iso()
    started = time.monotonic()
    try:
        resp = runtime.invoke_endpoint_async(**kwargs)
    except botocore.exceptions.ClientError as e:
        rr.status, rr.error_code = "invoke-error", error_code(e)
        rr.failure_reason = f"InvokeEndpointAsync refused the request: {e}"
        rr.notification_expected = False
        return rr
    rr.inference_id = resp.get("InferenceId") or rr.inference_id
    rr.output_location = resp.get("OutputLocation")
    rr.failure_location = resp.get("FailureLocation")
    if watcher is not None and watcher.active:
        watcher.watch(rr.inference_id)

    s3_done_at: float | None = None
    while True:
        now = time.monotonic()
        if watcher is not None and watcher.active:
            watcher.poll()
            note = watcher.get(rr.inference_id)
            if note is not None:
                rr.notification = note
        if s3_done_at is None:
            if _head(s3, rr.output_location):
                rr.latency_s = round(time.monotonic() - started, 3)
                body, ctype = _read(s3, rr.output_location, _MAX_OUTPUT_BYTES)
                rr.status = "completed"
                rr.summary = summarize_output(body[:_MAX_OUTPUT_BYTES], ctype)
                if len(body) > _MAX_OUTPUT_BYTES:
                    rr.summary["truncated"] = True
                s3_done_at = time.monotonic()
            elif _head(s3, rr.failure_location):
                rr.latency_s = round(time.monotonic() - started, 3)
                body, _ = _read(s3, rr.failure_location, _MAX_FAILURE_BYTES)
                rr.status = "failed"
                rr.failure_reason = body[:_MAX_FAILURE_BYTES].decode("utf-8", "replace").strip()
                s3_done_at = time.monotonic()
        if s3_done_at is not None:
            if not rr.notification_expected or (rr.notification or {}).get("received"):
                break
            if now - s3_done_at > notification_grace or now > deadline:
                break
        elif now > deadline:
            note = rr.notification or {}
            if note.get("received") and note.get("status") == "Failed":
                # The notification came but no failure object (e.g. no S3FailurePath): still a failure.
                rr.status = "failed"
                rr.failure_reason = note.get("failure_reason") or "Failed notification without a reason"
            else:
                rr.status = "timeout"
                rr.failure_reason = (f"neither {rr.output_location} nor {rr.failure_location} appeared within "
                                     "the deadline")
            break
        if tick is not None:
            tick(f"{kind} {index}: waiting {now - started:.0f}s")
        time.sleep(poll_seconds)
    if rr.status == "failed" and not rr.failure_reason and rr.notification:
        rr.failure_reason = rr.notification.get("failure_reason")
    return rr


# ---------------------------------------------------------------------------------------------- notifications


def _parse_notification(body: str) -> dict[str, Any] | None:
    """An SQS message body → the SageMaker ``InferenceResult`` message (SNS envelope or raw delivery)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        try:
            doc = json.loads(doc["Message"])
        except ValueError:
            return None
    if not isinstance(doc, dict) or "inferenceId" not in doc:
        return None
    return doc


def _essentials(msg: dict[str, Any], topic: str | None) -> dict[str, Any]:
    resp = msg.get("responseParameters") or {}
    received, event = _parse_iso(msg.get("receivedTime")), _parse_iso(msg.get("eventTime"))
    return {
        "received": True,
        "status": msg.get("invocationStatus"),
        "event_name": msg.get("eventName"),
        "output_location": resp.get("outputLocation"),
        "failure_location": resp.get("failureLocation"),
        "failure_reason": msg.get("failureReason"),
        "received_time": msg.get("receivedTime"),
        "event_time": msg.get("eventTime"),
        "service_latency_s": round((event - received).total_seconds(), 3) if received and event else None,
        "topic": topic,
    }


class NotificationWatcher:
    """Watches an SQS queue subscribed to the endpoint's SNS topics for the notifications of our requests.

    ``queue_url``: a queue to read (``given``); ``TEMPORARY_QUEUE`` forces a temporary one; None looks for
    an existing queue subscribed to every topic (``existing``) and else creates a temporary queue with a
    policy that lets the topics send, and subscribes it (``temporary``). ``close()`` removes what was
    created. On a shared queue, messages that are not ours are held invisible while we scan (at most
    ``hold_seconds``) and made visible again at once when we are done; ours are deleted.
    """

    def __init__(self, sns: Any, sqs: Any, topics: Iterable[str], *, queue_url: str | None = None,
                 hold_seconds: int = 60, name_tag: str | None = None):
        self.sns, self.sqs = sns, sqs
        self.topics = list(dict.fromkeys(t for t in topics if t))
        self.requested_queue = queue_url
        self.hold_seconds = hold_seconds
        self.name_tag = name_tag or uuid.uuid4().hex[:8]
        self.mode = "none"
        self.queue_url: str | None = None
        self.queue_arn: str | None = None
        self.created_queue = False
        self.subscriptions: list[str] = []
        self.findings: list[Finding] = []
        self.cleanup: dict[str, Any] = {}
        self._watched: set[str] = set()
        self._notes: dict[str, dict[str, Any]] = {}
        self._held: dict[str, str] = {}  # message id → latest receipt handle (not ours)
        self.foreign_seen = 0

    @property
    def active(self) -> bool:
        return self.queue_url is not None

    # -- setup ------------------------------------------------------------------------------------
    def open(self) -> NotificationWatcher:
        if not self.topics:
            self.mode = "none"
            return self
        if self.requested_queue and self.requested_queue != TEMPORARY_QUEUE:
            self.queue_url, self.mode = self.requested_queue, "given"
            return self
        if self.requested_queue is None:
            found = self._find_existing()
            if found:
                self.queue_url, self.mode = found, "existing"
                return self
        self._create_temporary()
        return self

    def _find_existing(self) -> str | None:
        per_topic: list[set[str]] = []
        for topic in self.topics:
            arns: set[str] = set()
            try:
                for page in self.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic):
                    for sub in page.get("Subscriptions", []):
                        if sub.get("Protocol") == "sqs" and sub.get("Endpoint", "").startswith("arn:"):
                            arns.add(sub["Endpoint"])
            except botocore.exceptions.ClientError as e:
                self.findings.append(Finding(
                    "subscriptions-unlisted", "info",
                    f"Could not list the subscriptions of {topic} ({error_code(e)}); a temporary queue is used.",
                    [str(e)]))
                return None
            per_topic.append(arns)
        common = set.intersection(*per_topic) if per_topic else set()
        region = self.sqs.meta.region_name
        for arn in sorted(common):
            parts = arn.split(":")
            if len(parts) != 6 or parts[3] != region:
                continue
            try:
                return self.sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            except botocore.exceptions.ClientError:
                continue
        return None

    def _create_temporary(self) -> None:
        name = f"endpoint-runbook-verify-{self.name_tag}"
        try:
            self.queue_url = self.sqs.create_queue(
                QueueName=name, Attributes={"MessageRetentionPeriod": "3600"},
                tags={"endpoint-runbook:purpose": "verify-temporary"})["QueueUrl"]
        except botocore.exceptions.ClientError as e:
            self._unavailable("queue-create-failed", f"Could not create the temporary queue {name}", e)
            return
        self.created_queue, self.mode = True, "temporary"
        try:
            self.queue_arn = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            policy = {"Version": "2012-10-17", "Statement": [{
                "Sid": "endpoint-runbook-verify", "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": self.queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": self.topics}}}]}
            self.sqs.set_queue_attributes(QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)})
            for topic in self.topics:
                sub = self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=self.queue_arn,
                                         ReturnSubscriptionArn=True)
                self.subscriptions.append(sub["SubscriptionArn"])
        except botocore.exceptions.ClientError as e:
            code = "topic-not-found" if is_error(e, "NotFound", "NotFoundException") else "subscribe-failed"
            self._unavailable(code, "Could not subscribe a temporary queue to the endpoint's topics", e)
            self.close()
            self.queue_url = None

    def _unavailable(self, code: str, what: str, e: botocore.exceptions.ClientError) -> None:
        self.mode = "unavailable"
        self.findings.append(Finding(
            code, "error",
            f"{what} ({error_code(e)}): the notifications cannot be observed. Check that the topics exist and "
            "that you may sns:Subscribe and sqs:CreateQueue, or pass queue_url of a queue subscribed to them.",
            [str(e)], {"topics": self.topics}))

    # -- watching ---------------------------------------------------------------------------------
    def watch(self, inference_id: str) -> None:
        self._watched.add(inference_id)

    def get(self, inference_id: str) -> dict[str, Any] | None:
        return self._notes.get(inference_id)

    def poll(self, wait_seconds: int = 0) -> int:
        """Receive once; keep the notifications of watched ids. Returns how many of ours were matched."""
        if not self.active:
            return 0
        try:
            resp = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=wait_seconds, VisibilityTimeout=self.hold_seconds,
                                            MessageAttributeNames=["All"])
        except botocore.exceptions.ClientError as e:
            if not any(f.code == "queue-unreadable" for f in self.findings):
                self.findings.append(Finding(
                    "queue-unreadable", "error",
                    f"Could not read {self.queue_url} ({error_code(e)}): check sqs:ReceiveMessage on it, or let "
                    "verify create a temporary queue (queue_url=None).", [str(e)]))
            return 0
        matched = 0
        for m in resp.get("Messages", []):
            msg = _parse_notification(m.get("Body", ""))
            iid = msg.get("inferenceId") if msg else None
            if iid in self._watched:
                topic = None
                try:
                    topic = json.loads(m["Body"]).get("TopicArn")
                except (ValueError, AttributeError):
                    pass
                self._notes[iid] = _essentials(msg, topic)
                matched += 1
                try:
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
                except botocore.exceptions.ClientError:
                    pass
                self._held.pop(m.get("MessageId", ""), None)
            else:
                self.foreign_seen += 1
                self._held[m.get("MessageId", "")] = m["ReceiptHandle"]
        return matched

    def release(self) -> None:
        """Make the messages that are not ours visible again at once."""
        for handle in list(self._held.values()):
            try:
                self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=handle,
                                                   VisibilityTimeout=0)
            except botocore.exceptions.ClientError:
                pass  # the hold expired on its own, or another reader has it now
        self._held.clear()

    # -- teardown ---------------------------------------------------------------------------------
    def close(self) -> dict[str, Any]:
        """Remove what was created (idempotent); make held messages visible again. Returns what was done."""
        info = self.cleanup or {"unsubscribed": [], "queue_deleted": False, "errors": []}
        if self.queue_url and not self.created_queue:
            self.release()
        for arn in list(self.subscriptions):
            try:
                self.sns.unsubscribe(SubscriptionArn=arn)
                info["unsubscribed"].append(arn)
                self.subscriptions.remove(arn)
            except botocore.exceptions.ClientError as e:
                info["errors"].append(f"unsubscribe {arn}: {error_code(e)}")
        if self.created_queue and self.queue_url:
            try:
                self.sqs.delete_queue(QueueUrl=self.queue_url)
                info["queue_deleted"] = True
                self.created_queue = False
            except botocore.exceptions.ClientError as e:
                info["errors"].append(f"delete queue {self.queue_url}: {error_code(e)}")
        self.cleanup = info
        return info

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "queue_url": self.queue_url or (self.requested_queue
                                                                    if self.requested_queue != TEMPORARY_QUEUE else None),
                "topics": self.topics, "temporary_queue_arn": self.queue_arn, "cleanup": self.cleanup,
                "foreign_messages_seen": self.foreign_seen, "findings": [f.to_dict() for f in self.findings]}


# ---------------------------------------------------------------------------------------------- health


def find_health_lines(read: logs_mod.LogRead, patterns: Iterable[str]) -> list[dict[str, Any]]:
    """For each pattern: found or not, how many lines, the first matching line."""
    out = []
    for pat in patterns:
        rx = re.compile(pat)
        hits = [e for e in read.events if rx.search(e.message)]
        out.append({"pattern": pat, "found": bool(hits), "count": len(hits),
                    "first_line": hits[0].message if hits else None,
                    "stream": hits[0].stream if hits else None})
    return out


# ---------------------------------------------------------------------------------------------- the step


@dataclass
class VerifyResult:
    ok: bool = False
    endpoint_name: str | None = None
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


def _default_inputs(run_dir: str | None, output_path: str | None) -> list[str]:
    dep = records.read_record(run_dir, "deploy") or {}
    smoke = (dep.get("smoke") or {}).get("input")
    if smoke:
        return [smoke]
    if output_path:
        bucket, _ = parse_s3_uri(output_path.rstrip("/") + "/x")
        return [f"s3://{bucket}/{DEFAULT_INPUT_KEY}"]
    raise InputError("inputs are not set, and neither a deploy record nor the endpoint config names a bucket.",
                     code="missing-input", hint="Pass inputs=['s3://bucket/key', ...].")


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
    progress: Callable[[str], Any] | None = None,
) -> VerifyResult:
    """Verify an async endpoint with real requests; write ``04-verify.json``; CheckFailed if any failed.

    endpoint_name: default the deploy record's endpoint. inputs: S3 URIs (default the deploy record's smoke
    input, else the seed's image in the output bucket). content_type: for every input (default from each
    key's extension). count: warm requests after the cold one, cycling through the inputs (default
    ``max(3, len(inputs) - 1)``; 0 = cold only). deadline_seconds: for the whole run. invocation_timeout:
    InvocationTimeoutSeconds (default 80 % of the deadline, ≤ 3600). queue_url: a queue subscribed to the
    topics, ``"temporary"`` to force a temporary one, None to find one or create a temporary one.
    """
    t0 = time.monotonic()
    deadline = t0 + deadline_seconds
    result = VerifyResult(started_at=_now_iso(), deadline_seconds=deadline_seconds)
    watcher: NotificationWatcher | None = None
    try:
        if not endpoint_name:
            dep = records.read_record(run_dir, "deploy") or {}
            endpoint_name = dep.get("endpoint_name")
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
        aic = cfg.get("AsyncInferenceConfig")
        if not aic:
            raise InputError(f"endpoint {endpoint_name} is not an asynchronous inference endpoint.",
                             code="not-async-endpoint", hint="Verify checks async endpoints only.")
        out_cfg = aic.get("OutputConfig") or {}
        result.output_path, result.failure_path = out_cfg.get("S3OutputPath"), out_cfg.get("S3FailurePath")
        note_cfg = out_cfg.get("NotificationConfig") or {}
        topics = [note_cfg.get("SuccessTopic"), note_cfg.get("ErrorTopic")]
        if not result.failure_path:
            result.findings.append(Finding(
                "no-failure-path", "warning",
                "The endpoint config has no S3FailurePath: failures show only in notifications and logs. "
                "Redeploy with S3FailurePath set.", [ep["EndpointConfigName"]]))

        if isinstance(inputs, str):
            inputs = [inputs]
        inputs = list(inputs or _default_inputs(run_dir, result.output_path))
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
            runtime = aws.client("sagemaker-runtime")
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
                    rr = invoke_and_wait(
                        runtime, s3, endpoint_name=endpoint_name, input_uri=uri,
                        content_type=content_type or guess_content_type(uri), deadline=deadline,
                        invocation_timeout=inv_timeout, watcher=watcher, notification_grace=notification_grace,
                        poll_seconds=poll_seconds, index=i, kind=kind,
                        tick=lambda msg, i=i: bar.update(i - 1, msg))
                    result.requests.append(rr)
                    bar.update(i, f"{kind} {i}: {rr.status} {rr.latency_s or 0:.2f}s")
            finally:
                bar.close()
        finally:
            result.notifications = {**watcher.to_dict(), "cleanup": watcher.close()}
        for f in watcher.findings:
            if f not in result.findings:
                result.findings.append(f)

        result.figures = latency_figures(result.requests)
        result.problems = [p for r in result.requests if (p := r.problem()) and r.status != "skipped"]
        skipped = [r for r in result.requests if r.status == "skipped"]
        if skipped:
            result.problems.append(f"{len(skipped)} request(s) not sent: {skipped[0].failure_reason}")
        read = _health(aws, result, ep, health_patterns)
        result.ok = not result.problems
        if not result.ok:
            result.log_evidence = {**logs_mod.analyze(read).to_dict(), "read": read.to_dict()}
    except Exception as e:
        result.ok = False
        code = getattr(e, "code", None) if isinstance(e, RunbookError) else (error_code(e) or type(e).__name__)
        result.error = {"code": code, "message": str(e)}
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


def _health(aws: Aws, result: VerifyResult, ep: dict[str, Any], patterns: Iterable[str] | None) -> logs_mod.LogRead:
    """Read the endpoint's logs since its creation; record the health lines found or missing."""
    pats = list(DEFAULT_HEALTH_PATTERNS if patterns is None else patterns)
    created = ep.get("CreationTime")
    start: Any = created - dt.timedelta(minutes=5) if isinstance(created, dt.datetime) else dt.timedelta(hours=6)
    read = logs_mod.read_endpoint_logs(aws.client("logs"), result.endpoint_name, start=start, max_events=20_000)
    result.health_logs = read.to_dict()
    result.health = find_health_lines(read, pats)
    missing = [h["pattern"] for h in result.health if not h["found"]]
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
