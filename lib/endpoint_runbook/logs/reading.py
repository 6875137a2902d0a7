"""Reading an endpoint's CloudWatch log group into :class:`LogEvent` objects.

Reading never raises for the expected failures: a missing group or an AWS error (e.g.
``AccessDeniedException``) comes back as a :class:`LogRead` that says so, so the verdict can say "no logs
yet" or "inconclusive: access denied on logs".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import botocore.exceptions

from ..aws import error_code

__all__ = ["LogEvent", "LogRead", "LogStream", "iso", "list_log_streams", "log_group_name", "read_endpoint_logs",
           "to_ms"]



def log_group_name(endpoint_name: str) -> str:
    """The CloudWatch log group SageMaker writes an endpoint's container output to."""
    return f"/aws/sagemaker/Endpoints/{endpoint_name}"


@dataclass(frozen=True)
class LogEvent:
    """One CloudWatch event: ``timestamp`` in epoch milliseconds (None for lines without one)."""

    timestamp: int | None
    message: str
    stream: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"timestamp": iso(self.timestamp), "stream": self.stream, "message": self.message}


@dataclass(frozen=True)
class LogStream:
    """A stream of the group: ``<variant>/<instance-id>`` (and ``…/data-log``); ``created`` in epoch ms."""

    name: str
    last_event: int | None = None
    created: int | None = None

    @property
    def instance(self) -> str:
        """``<variant>/<instance-id>``: the container the stream belongs to (its data-log stream too)."""
        return "/".join(self.name.split("/")[:2])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "last_event": iso(self.last_event), "created": iso(self.created)}


@dataclass
class LogRead:
    """What reading the endpoint's log group gave.

    ``group_exists`` False: the endpoint never logged (or the name is wrong). ``error``: the AWS error code
    (or botocore exception name) that stopped the read; events read before it are kept. ``truncated``: the
    ``max_events`` bound was hit, so only the earliest ``max_events`` events of the window were read.
    """

    group: str
    start: int
    end: int
    group_exists: bool = True
    error: str | None = None
    error_message: str | None = None
    events: list[LogEvent] = field(default_factory=list)
    streams: list[LogStream] = field(default_factory=list)
    truncated: bool = False
    pages: int = 0
    left_out: list[str] = field(default_factory=list)  # streams the ``streams`` selector left out

    @property
    def ok(self) -> bool:
        return self.group_exists and self.error is None

    def to_dict(self, *, include_events: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "group": self.group,
            "start": iso(self.start),
            "end": iso(self.end),
            "group_exists": self.group_exists,
            "error": self.error,
            "error_message": self.error_message,
            "events_read": len(self.events),
            "truncated": self.truncated,
            "pages": self.pages,
            "streams": [s.to_dict() for s in self.streams],
        }
        if self.left_out:
            d["left_out_streams"] = list(self.left_out)
        if include_events:
            d["events"] = [e.to_dict() for e in self.events]
        return d


_MAX_STREAM_PAGES = 20
_PAGE_LIMIT = 10_000  # FilterLogEvents' own maximum
_NAMES_LIMIT = 100  # FilterLogEvents' logStreamNames maximum (more: filtered here)


def read_endpoint_logs(
    logs_client: Any,
    endpoint_name: str,
    *,
    start: datetime | timedelta | int,
    end: datetime | int | None = None,
    max_events: int = 20_000,
    max_pages: int = 1_000,
    page_size: int = _PAGE_LIMIT,
    streams: Callable[[LogStream], bool] | None = None,
) -> LogRead:
    """Read every stream of ``/aws/sagemaker/Endpoints/<endpoint_name>`` between ``start`` and ``end``.

    ``start``/``end``: aware datetimes (naive ones are taken as UTC) or epoch milliseconds; ``start`` may be
    a timedelta (that long before ``end``); ``end`` defaults to now. Events come back in time order across streams (``AllTraffic/<instance>`` and
    ``AllTraffic/<instance>/data-log``), at most ``max_events`` of them (then ``truncated`` is set), using
    at most ``max_pages`` FilterLogEvents calls of up to ``page_size`` events (CloudWatch may return empty
    pages while it searches). ``streams``: read only the streams it selects (e.g. the containers of one endpoint
    config); the others are named in ``left_out``.
    """
    group = log_group_name(endpoint_name)
    end_ms = to_ms(end) if end is not None else to_ms(datetime.now(timezone.utc))
    start_ms = end_ms - int(start.total_seconds() * 1000) if isinstance(start, timedelta) else to_ms(start)
    read = LogRead(group=group, start=start_ms, end=end_ms)
    if max_events <= 0:
        read.truncated = True
        return read

    try:
        read.streams = _list_streams(logs_client, group)
    except botocore.exceptions.ClientError as e:
        if error_code(e) == "ResourceNotFoundException":
            read.group_exists = False
        else:
            read.error, read.error_message = error_code(e), str(e)
        return read
    except botocore.exceptions.BotoCoreError as e:
        read.error, read.error_message = type(e).__name__, str(e)
        return read
    only: set[str] | None = None
    if streams is not None:
        kept = [st for st in read.streams if streams(st)]
        read.left_out = [st.name for st in read.streams if st not in kept]
        read.streams, only = kept, {st.name for st in kept}
        if not kept:
            return read

    token: str | None = None
    events: list[LogEvent] = []
    try:
        while read.pages < max_pages:
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "startTime": start_ms,
                "endTime": end_ms,
                "limit": max(1, min(page_size, _PAGE_LIMIT, max_events - len(events))),
                # Real CloudWatch always interleaves (the flag is deprecated there); moto only does when
                # asked. Either way the events come in time order across streams.
                "interleaved": True,
            }
            if token:
                kwargs["nextToken"] = token
            if only is not None and len(only) <= _NAMES_LIMIT:
                kwargs["logStreamNames"] = sorted(only)
            page = logs_client.filter_log_events(**kwargs)
            read.pages += 1
            for ev in page.get("events", []):
                if only is not None and ev.get("logStreamName", "") not in only:
                    continue
                events.append(LogEvent(ev.get("timestamp"), ev.get("message", "").rstrip("\n"),
                                       ev.get("logStreamName", "")))
            new_token = page.get("nextToken")
            if len(events) >= max_events:
                del events[max_events:]
                # Hitting the bound exactly with nothing left is not a truncation.
                read.truncated = new_token is not None
                break
            if not new_token or new_token == token:
                break
            token = new_token
        else:
            read.truncated = token is not None
    except botocore.exceptions.ClientError as e:
        if error_code(e) == "ResourceNotFoundException":
            read.group_exists = False
        else:
            read.error, read.error_message = error_code(e), str(e)
    except botocore.exceptions.BotoCoreError as e:
        read.error, read.error_message = type(e).__name__, str(e)
    events.sort(key=lambda e: e.timestamp or 0)  # stable: keeps each stream's own order within a ms
    read.events = events
    return read


def list_log_streams(logs_client: Any, endpoint_name: str) -> list[LogStream]:
    """The streams of the endpoint's log group, newest first (none when the group does not exist yet). Other AWS
    errors raise."""
    try:
        return _list_streams(logs_client, log_group_name(endpoint_name))
    except botocore.exceptions.ClientError as e:
        if error_code(e) == "ResourceNotFoundException":
            return []
        raise


def _list_streams(logs_client: Any, group: str) -> list[LogStream]:
    streams: list[LogStream] = []
    token: str | None = None
    for _ in range(_MAX_STREAM_PAGES):
        kwargs: dict[str, Any] = {"logGroupName": group, "orderBy": "LastEventTime", "descending": True}
        if token:
            kwargs["nextToken"] = token
        page = logs_client.describe_log_streams(**kwargs)
        for s in page.get("logStreams", []):
            streams.append(LogStream(s["logStreamName"], s.get("lastEventTimestamp"), s.get("creationTime")))
        new_token = page.get("nextToken")
        if not new_token or new_token == token:
            break
        token = new_token
    return streams


def to_ms(t: datetime | float) -> int:
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        return int(t.timestamp() * 1000)
    return int(t)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")
