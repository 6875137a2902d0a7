"""One request on an endpoint, as its kind takes it. Async: ``InvokeEndpointAsync``, then the output or failure
object in S3 (and the SNS notification when a watcher is given). Real-time and serverless: ``InvokeEndpoint`` with
the input's bytes, the model's answer in the response (:func:`invoke_sync`). Shared by deploy's smoke request and
verify."""

from __future__ import annotations

import base64
import datetime as dt
import json
import mimetypes
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from ..aws import error_code
from ..endpoint.kind import REAL_TIME_PAYLOAD_BYTES, SERVERLESS, SERVERLESS_LIMITS
from ..s3 import object_exists, parse_s3_uri

if TYPE_CHECKING:
    from .notifications import NotificationWatcher

_MAX_OUTPUT_BYTES = 5 * 1024 * 1024
_MAX_FAILURE_BYTES = 64 * 1024
_TOP_ITEMS = 10

__all__ = ["RequestResult", "SYNC_READ_TIMEOUT", "guess_content_type", "invoke_and_wait", "invoke_sync", "now_iso",
           "payload_limit", "summarize_output"]

#: Seconds a synchronous request may take, client side: a serverless cold start (model downloaded and /ping
#: answered within 3 minutes) plus the model's answer (within 1 minute), with room to spare.
SYNC_READ_TIMEOUT = 300.0
#: An image the model answers with is kept in the record (as a data URI) up to this size.
_MAX_INLINE_IMAGE = 256 * 1024


# ---------------------------------------------------------------------------------------------- helpers


def guess_content_type(uri: str) -> str | None:
    """The content type implied by the key's extension (``.png`` → ``image/png``), None when unknown."""
    return mimetypes.guess_type(uri.rsplit("/", 1)[-1])[0]


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")



# ---------------------------------------------------------------------------------------------- outputs


def summarize_output(body: bytes, content_type: str | None = None, *, top: int = _TOP_ITEMS) -> dict[str, Any]:
    """A small, model-agnostic summary of an output object for the record.

    A recommender-shaped JSON (``{"query": {...}, "recommendations": [...]}``) keeps the query's scalar
    fields and the top items (rank, key, score, category, type, color, …scalars); other JSON keeps its
    top-level keys and a preview; text keeps a preview; anything else only its size.
    """
    out: dict[str, Any] = {"bytes": len(body), "content_type": content_type}
    if (content_type or "").split(";")[0].strip().startswith("image/"):
        out["kind"] = "image"
        return out
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
    throttled: int = 0  # synchronous requests: times the endpoint refused it (ThrottlingException) before
    attempts: list[dict[str, Any]] = field(default_factory=list)  # smoke: earlier sends that got no answer

    @property
    def unanswered(self) -> bool:
        """No answer came: no response in time, or SageMaker's own 60 s limit on the container's reply."""
        return self.status == "timeout" or (self.status == "failed" and "timed out while waiting for a response"
                                            in (self.failure_reason or ""))

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
    inference_id: str | None = None,
) -> RequestResult:
    """Send one async request and wait (until the monotonic ``deadline``) for its output or failure object;
    with a ``watcher``, also for its SNS notification (at most ``notification_grace`` seconds after the S3
    outcome). Never raises for the request's own failure: that is in the returned :class:`RequestResult`.
    ``inference_id``: the id to send (default a new uuid), e.g. a replay's id derived from the original's.
    """
    rr = RequestResult(index=index, kind=kind, input=input_uri, content_type=content_type)
    rr.inference_id = inference_id or str(uuid.uuid4())
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
    rr.sent_at = now_iso()
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
            if object_exists(s3, rr.output_location):
                rr.latency_s = round(time.monotonic() - started, 3)
                body, ctype = _read(s3, rr.output_location, _MAX_OUTPUT_BYTES)
                rr.status = "completed"
                rr.summary = summarize_output(body[:_MAX_OUTPUT_BYTES], ctype)
                if len(body) > _MAX_OUTPUT_BYTES:
                    rr.summary["truncated"] = True
                s3_done_at = time.monotonic()
            elif object_exists(s3, rr.failure_location):
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


def payload_limit(kind: str) -> int:
    """The largest request ``InvokeEndpoint`` takes on an endpoint of ``kind`` (4 MB serverless, 6 MB real-time)."""
    return int(SERVERLESS_LIMITS["payload_bytes"].value) if kind == SERVERLESS else REAL_TIME_PAYLOAD_BYTES


def invoke_sync(
    runtime: Any,
    s3: Any,
    *,
    endpoint_name: str,
    input_uri: str,
    content_type: str | None,
    accept: str | None = None,
    deadline: float,
    max_payload: int,
    index: int = 0,
    kind: str = "request",
    inference_id: str | None = None,
    throttle_wait: float = 1.0,
) -> RequestResult:
    """Send one synchronous request (``InvokeEndpoint``) with the bytes of ``input_uri`` and read the model's answer.

    ``runtime`` should not retry on its own (a read timeout retried is the request sent twice): a refusal for
    throttling (``ThrottlingException``: a serverless endpoint at its MaxConcurrency) is retried here, with backoff,
    until the monotonic ``deadline``. ``max_payload``: the kind's request limit (6 MB real-time, 4 MB serverless).
    Never raises for the request's own failure: ``failed`` (the model answered an error: ``ModelError``),
    ``timeout`` (no answer in time), ``invoke-error`` (refused, or the input cannot be read or is too large).
    """
    rr = RequestResult(index=index, kind=kind, input=input_uri, content_type=content_type,
                       inference_id=inference_id or str(uuid.uuid4()))
    try:
        body, stored_type = _read(s3, input_uri, max_payload)
    except botocore.exceptions.ClientError as e:
        rr.status, rr.error_code = "invoke-error", error_code(e)
        rr.failure_reason = f"the input {input_uri} could not be read: {e}"
        return rr
    if len(body) > max_payload:
        rr.status, rr.error_code = "invoke-error", "payload-too-large"
        rr.failure_reason = (f"the input {input_uri} is larger than the {max_payload // 2**20} MB this endpoint's "
                             "InvokeEndpoint takes: send a smaller input (or use an async endpoint for large ones)")
        return rr
    rr.content_type = content_type or stored_type
    kwargs: dict[str, Any] = {"EndpointName": endpoint_name, "Body": body, "InferenceId": rr.inference_id}
    if rr.content_type:
        kwargs["ContentType"] = rr.content_type
    if accept:
        kwargs["Accept"] = accept
    rr.sent_at = now_iso()
    started = time.monotonic()
    wait = throttle_wait
    while True:
        try:
            resp = runtime.invoke_endpoint(**kwargs)
            break
        except botocore.exceptions.ClientError as e:
            code = error_code(e)
            if code == "ThrottlingException" and time.monotonic() + wait < deadline:
                rr.throttled += 1
                time.sleep(wait)
                wait = min(wait * 2, 10.0)
                continue
            rr.latency_s = round(time.monotonic() - started, 3)
            rr.error_code = code
            rr.status = "failed" if code == "ModelError" else "invoke-error"
            rr.failure_reason = (e.response.get("Error") or {}).get("Message") or str(e)
            return rr
        except (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError) as e:
            rr.latency_s = round(time.monotonic() - started, 3)
            rr.status, rr.error_code = "timeout", type(e).__name__
            rr.failure_reason = f"no answer from InvokeEndpoint: {e}"
            return rr
    data = resp["Body"].read()
    rr.latency_s = round(time.monotonic() - started, 3)
    rr.status = "completed"
    ctype = resp.get("ContentType")
    rr.summary = summarize_output(data[:_MAX_OUTPUT_BYTES], ctype)
    if len(data) > _MAX_OUTPUT_BYTES:
        rr.summary["truncated"] = True
    if rr.summary.get("kind") == "image" and len(data) <= _MAX_INLINE_IMAGE:
        rr.summary["data_uri"] = f"data:{ctype.split(';')[0].strip()};base64,{base64.b64encode(data).decode()}"
    if resp.get("InvokedProductionVariant"):
        rr.summary["variant"] = resp["InvokedProductionVariant"]
    return rr
