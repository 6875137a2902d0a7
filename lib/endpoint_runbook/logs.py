"""CloudWatch log evidence: read an endpoint's log group, match known crash signatures, name one cause.

Reading (:func:`read_endpoint_logs`) never raises for the expected failures: a missing group or an AWS
error (e.g. ``AccessDeniedException``) comes back as a :class:`LogRead` that says so, so the verdict can
say "no logs yet" or "inconclusive: access denied on logs".

Matching (:func:`match_signatures`) works on the lines as the SageMaker PyTorch toolkit and TorchServe 0.12
write them (one CloudWatch event per line, tracebacks one event per line, two workers interleaved):

    2026-11-28T14:37:14,883 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - ModuleNotFoundError: No module named 'x'

:func:`summarize` groups the hits per code and derives one cause. Precedence follows the start-up order of
a container, because a failure in an earlier phase stops every later one from running: requirements
install → import of the entry script (syntax error, missing module) → ``model_fn`` → serving (memory,
timeouts, invocation errors). Root causes always beat symptoms (crash-loop markers, failing ``/ping``);
noise is never a cause.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import botocore.exceptions

from .aws import error_code

__all__ = [
    "CAUSE_PRECEDENCE",
    "SIGNATURES",
    "Cause",
    "CodeSummary",
    "LogEvent",
    "LogEvidence",
    "LogRead",
    "LogStream",
    "Sample",
    "Signature",
    "SignatureHit",
    "analyze",
    "events_from_lines",
    "log_group_name",
    "match_signatures",
    "read_endpoint_logs",
    "summarize",
]

Kind = Literal["cause", "symptom", "noise"]

# ---------------------------------------------------------------------------------------------- reading


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
        return {"timestamp": _iso(self.timestamp), "stream": self.stream, "message": self.message}


@dataclass(frozen=True)
class LogStream:
    name: str
    last_event: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "last_event": _iso(self.last_event)}


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

    @property
    def ok(self) -> bool:
        return self.group_exists and self.error is None

    def to_dict(self, *, include_events: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "group": self.group,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "group_exists": self.group_exists,
            "error": self.error,
            "error_message": self.error_message,
            "events_read": len(self.events),
            "truncated": self.truncated,
            "pages": self.pages,
            "streams": [s.to_dict() for s in self.streams],
        }
        if include_events:
            d["events"] = [e.to_dict() for e in self.events]
        return d


_MAX_STREAM_PAGES = 20
_PAGE_LIMIT = 10_000  # FilterLogEvents' own maximum


def read_endpoint_logs(
    logs_client: Any,
    endpoint_name: str,
    *,
    start: datetime | timedelta | int,
    end: datetime | int | None = None,
    max_events: int = 20_000,
    max_pages: int = 1_000,
    page_size: int = _PAGE_LIMIT,
) -> LogRead:
    """Read every stream of ``/aws/sagemaker/Endpoints/<endpoint_name>`` between ``start`` and ``end``.

    ``start``/``end``: aware datetimes (naive ones are taken as UTC) or epoch milliseconds; ``start`` may be
    a timedelta (that long before ``end``); ``end`` defaults to now. Events come back in time order across streams (``AllTraffic/<instance>`` and
    ``AllTraffic/<instance>/data-log``), at most ``max_events`` of them (then ``truncated`` is set), using
    at most ``max_pages`` FilterLogEvents calls of up to ``page_size`` events (CloudWatch may return empty
    pages while it searches).
    """
    group = log_group_name(endpoint_name)
    end_ms = _ms(end) if end is not None else _ms(datetime.now(timezone.utc))
    start_ms = end_ms - int(start.total_seconds() * 1000) if isinstance(start, timedelta) else _ms(start)
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
            page = logs_client.filter_log_events(**kwargs)
            read.pages += 1
            for ev in page.get("events", []):
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


def _list_streams(logs_client: Any, group: str) -> list[LogStream]:
    streams: list[LogStream] = []
    token: str | None = None
    for _ in range(_MAX_STREAM_PAGES):
        kwargs: dict[str, Any] = {"logGroupName": group, "orderBy": "LastEventTime", "descending": True}
        if token:
            kwargs["nextToken"] = token
        page = logs_client.describe_log_streams(**kwargs)
        for s in page.get("logStreams", []):
            streams.append(LogStream(s["logStreamName"], s.get("lastEventTimestamp")))
        new_token = page.get("nextToken")
        if not new_token or new_token == token:
            break
        token = new_token
    return streams


def _ms(t: datetime | float) -> int:
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        return int(t.timestamp() * 1000)
    return int(t)


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")


_TS_PREFIX = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[,.]\d{1,6})?)")


def events_from_lines(lines: Iterable[str], *, stream: str = "") -> list[LogEvent]:
    """Turn plain log lines (a ``ts_log.log``, a container's output) into events; the timestamp comes from
    a leading ``2026-11-28T14:37:14,883`` when there is one (taken as UTC), else None."""
    out: list[LogEvent] = []
    for line in lines:
        line = line.rstrip("\r\n")
        if not line:
            continue
        ts: int | None = None
        m = _TS_PREFIX.match(line)
        if m:
            try:
                ts = _ms(datetime.fromisoformat(m.group(1).replace(",", ".").replace(" ", "T")))
            except ValueError:
                ts = None
        out.append(LogEvent(ts, line, stream))
    return out


# --------------------------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class Signature:
    code: str
    kind: Kind
    description: str
    patterns: tuple[re.Pattern[str], ...] = ()


def _sig(code: str, kind: Kind, description: str, *patterns: str) -> Signature:
    return Signature(code, kind, description, tuple(re.compile(p) for p in patterns))


# Texts are the ones the real software writes: sagemaker_inference 1.10 (model_server.py,
# default_inference_handler.py), sagemaker_pytorch_serving_container 2.0 (default_pytorch_inference_handler
# .py), TorchServe 0.12 (ts/*.py and the frontend jar: WorkerThread, WorkerLifeCycle, BatchAggregator,
# InferenceRequestHandler), pip, the JVM and the kernel.
SIGNATURES: tuple[Signature, ...] = (
    _sig("requirements-install-failed", "cause",
         "pip could not install code/requirements.txt; the container exits before TorchServe starts",
         r"failed to install required packages",
         r"ERROR: No matching distribution found for (?P<requirement>\S+)",
         r"ERROR: Could not find a version that satisfies the requirement (?P<requirement>\S+)",
         r"ERROR: Could not install packages due to",
         r"ResolutionImpossible",
         r"CalledProcessError: Command .*'pip', 'install'.* returned non-zero exit status"),
    _sig("syntax-error", "cause", "a syntax error in the model code",
         r"^(?:SyntaxError|IndentationError|TabError)(?::|$)"),
    _sig("missing-module", "cause", "the model code imports a module the container does not have",
         r"^(?:ModuleNotFoundError|ImportError): No module named '(?P<module>[^']+)'"),
    _sig("import-error", "cause", "an import in the model code failed (a name or a native library is missing)",
         r"^ImportError: (?!No module named)(?P<message>.+)"),
    _sig("missing-entry-script", "cause",
         "the toolkit fell back to its default model_fn: no code/<SAGEMAKER_PROGRAM> (or it has no model_fn)",
         r"Please provide a model_fn implementation",
         r"Exactly one \.pth or \.pt file is required for PyTorch models",
         r"Failed to load model with default model_fn: missing file"),
    _sig("out-of-memory", "cause", "the worker or the model server ran out of memory",
         r"java\.lang\.OutOfMemoryError",
         r"Out of memory error when creating workers",
         r"^MemoryError\b",
         r"Load model \S+ (?:cpu|cuda) OOM",
         r"System out of memory",
         r"CUDA out of memory",
         r"^Killed$",
         r"killed by signal 9|signal: killed|SIGKILL"),
    _sig("worker-timeout", "cause", "a worker did not load or answer in time",
         r"Backend worker did not respond in given time",
         r"Backend worker startup time out",
         r"Backend worker did not receive connection in"),
    _sig("ping-failing", "symptom", "the container's health check (/ping) fails",
         r'"GET /ping HTTP/1\.[01]" 5\d\d'),
    _sig("worker-died", "symptom", "a TorchServe worker process died",
         r"Backend worker process died\."),
    _sig("load-model-failed", "symptom", "TorchServe could not load the model into a worker",
         r"Load model failed: (?P<model>\S+), error: (?P<error>.+)"),
    _sig("auto-recovery-failed", "symptom", "TorchServe's worker auto recovery keeps failing",
         r"Auto recovery failed again"),
    _sig("worker-retry", "symptom", "TorchServe restarts a dead worker after a back-off",
         r"Retry worker: (?P<worker>\d+) in (?P<seconds>\d+) seconds"),
    _sig("noise", "noise", "a client closed its connection; harmless",
         r"NativeIoException.*Connection reset by peer"),
)
_BY_CODE: dict[str, Signature] = {s.code: s for s in SIGNATURES}
# One pass that rules out the (many) lines no signature matches, before trying them one by one.
_ANY = re.compile("|".join(f"(?:{re.sub(r'[(][?]P<[a-z]+>', '(?:', p.pattern)})"
                           for sig in SIGNATURES for p in sig.patterns))
# Derived codes (from tracebacks, or from the mix of hits) that have no line pattern of their own.
_DERIVED: dict[str, tuple[Kind, str]] = {
    "model-fn-error": ("cause", "model_fn raised while the worker loaded the model"),
    "invocation-error": ("cause", "the model code raised while serving a request"),
}

#: Cause codes, earliest start-up phase first. A failure in an earlier phase prevents the later ones.
CAUSE_PRECEDENCE: tuple[str, ...] = (
    "requirements-install-failed",
    "syntax-error",
    "missing-module",
    "import-error",
    "missing-entry-script",
    "model-fn-error",
    "out-of-memory",
    "worker-timeout",
    "invocation-error",
)
_CRASH_MARKERS = ("worker-died", "load-model-failed", "auto-recovery-failed", "worker-retry")


@dataclass(frozen=True)
class SignatureHit:
    """One event that matched a signature. ``context``: supporting lines (the user frame of a traceback)."""

    code: str
    kind: Kind
    timestamp: int | None
    stream: str
    line: str
    details: Mapping[str, Any] = field(default_factory=dict)
    context: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "kind": self.kind, "timestamp": _iso(self.timestamp), "stream": self.stream,
                "line": self.line, "details": dict(self.details), "context": list(self.context)}


# `2026-11-28T14:37:14,883 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - body` (log4j, TorchServe 0.12)
_LOG4J = re.compile(
    r"^\d{4}-\d\d-\d\d[T ][\d:,.]+\s+\[\s*(?P<level>[A-Z]+)\s*\]\s+(?P<thread>\S+)\s+(?P<logger>\S+)\s+- ?(?P<body>.*)$"
)
_WORKER = re.compile(r"^(W-\d+)[^ ]*?(?:-(stdout|stderr))?$")
_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')
_EXC = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Fault|Failure|Warning))(?::\s?(?P<msg>.*))?$"
)
_CARET = re.compile(r"^\s*[\^~]+\s*$")
_LOAD_PATH = ("load_model", "validate_and_initialize", "initialize", "model_fn", "_validate_user_module")
_DEFAULT_FN_FILES = ("default_pytorch_inference_handler.py", "default_inference_handler.py")


def _split(message: str) -> tuple[str, str]:
    """(traceback key part from the log4j thread, body). Lines without the log4j prefix: ('', line)."""
    m = _LOG4J.match(message)
    if not m:
        return "", message
    thread = m.group("thread")
    w = _WORKER.match(thread)
    key = f"{w.group(1)}-{w.group(2) or ''}" if w else thread
    return key, m.group("body")


def _is_user_frame(path: str) -> bool:
    return not (
        "site-packages" in path or "dist-packages" in path or path.startswith("<")
        or re.search(r"/lib/python3\.\d+/", path) is not None
    )


def _archive_path(path: str) -> str | None:
    """``/opt/ml/model/code/inference.py`` → ``code/inference.py`` (best effort for other model dirs)."""
    if "/opt/ml/model/" in path:
        return path.split("/opt/ml/model/", 1)[1]
    if "/code/" in path:
        return "code/" + path.rsplit("/code/", 1)[1]
    return None


@dataclass
class _Frame:
    file: str
    line: int
    func: str | None
    code: str | None = None
    raw: str = ""


@dataclass
class _Traceback:
    frames: list[_Frame] = field(default_factory=list)
    lines: int = 0


def _frame_text(fr: _Frame) -> str:
    where = _archive_path(fr.file) or fr.file
    text = f"{where}:{fr.line}"
    if fr.func:
        text += f" in {fr.func}"
    return text


def match_signatures(events: Iterable[LogEvent | Mapping[str, Any] | str]) -> list[SignatureHit]:
    """Every event that matches a signature in :data:`SIGNATURES`, plus the hits derived from tracebacks.

    ``events``: :class:`LogEvent` objects, CloudWatch event dicts (``timestamp``/``message``/
    ``logStreamName``) or plain lines. Tracebacks are followed per stream and per worker, so interleaved
    workers do not mix. A traceback enriches its final exception's hit with the innermost user frame
    (``details['where']``, e.g. ``code/inference.py:2``); a traceback through the toolkit's default
    ``model_fn`` is a ``missing-entry-script``; other exceptions while loading are ``model-fn-error``,
    while serving ``invocation-error``.
    """
    hits: list[SignatureHit] = []
    open_tbs: dict[tuple[str, str], _Traceback] = {}
    for ev in _as_events(events):
        key, body = _split(ev.message)
        tb_key = (ev.stream, key)
        tb = open_tbs.get(tb_key)
        stripped = body.strip()

        if stripped == "Traceback (most recent call last):":
            open_tbs[tb_key] = _Traceback()
            continue
        if tb is not None:
            tb.lines += 1
            fm = _FRAME.match(body)
            if fm:
                tb.frames.append(_Frame(fm.group("file"), int(fm.group("line")), fm.group("func"), raw=body))
                continue
            if body.startswith((" ", "\t")) and not _EXC.match(stripped):
                if tb.frames and tb.frames[-1].code is None and not _CARET.match(body):
                    tb.frames[-1].code = stripped
                continue
            em = _EXC.match(body)
            if em:
                del open_tbs[tb_key]
                hits.extend(_traceback_hits(ev, tb, em.group("type"), em.group("msg") or ""))
                continue
            if tb.lines > 400:  # a traceback that never ended: forget it
                del open_tbs[tb_key]

        hits.extend(_line_hits(ev, body))
    return hits


def _as_events(events: Iterable[LogEvent | Mapping[str, Any] | str]) -> Iterator[LogEvent]:
    for ev in events:
        if isinstance(ev, LogEvent):
            yield ev
        elif isinstance(ev, str):
            yield from events_from_lines([ev])
        else:
            yield LogEvent(ev.get("timestamp"), str(ev.get("message", "")).rstrip("\n"),
                           ev.get("logStreamName", ev.get("stream", "")))


def _line_hits(ev: LogEvent, body: str) -> list[SignatureHit]:
    out: list[SignatureHit] = []
    text = body.strip()
    if not _ANY.search(text):
        return out
    for sig in SIGNATURES:
        for pat in sig.patterns:
            m = pat.search(text)
            if m:
                details = {k: v for k, v in m.groupdict().items() if v is not None}
                if sig.code == "missing-module":
                    details["package"] = details["module"].split(".")[0]
                out.append(SignatureHit(sig.code, sig.kind, ev.timestamp, ev.stream, ev.message, details))
                break
    return out


def _traceback_hits(ev: LogEvent, tb: _Traceback, exc_type: str, exc_msg: str) -> list[SignatureHit]:
    exc_line = f"{exc_type}: {exc_msg}" if exc_msg else exc_type
    line_hits = _line_hits(ev, exc_line)
    user = [f for f in tb.frames if _is_user_frame(f.file)]
    inner = user[-1] if user else None
    details: dict[str, Any] = {"exception": exc_type.rsplit(".", 1)[-1], "message": exc_msg}
    context: list[str] = []
    if inner is not None:
        details["where"] = _frame_text(inner)
        details["file"] = _archive_path(inner.file) or inner.file
        details["line"] = inner.line
        if inner.code:
            details["statement"] = inner.code
        context = [inner.raw] + ([f"    {inner.code}"] if inner.code else [])

    root = [h for h in line_hits if h.kind == "cause"]
    if root:
        # A known cause (missing module, syntax error...): the traceback adds where it happened.
        out = []
        for h in line_hits:
            if h.kind == "cause":
                d = {**details, **h.details}
                if h.code == "syntax-error" and tb.frames:
                    # The last "File" entry of a SyntaxError is the file that does not compile.
                    last = tb.frames[-1]
                    d.update(where=_frame_text(last), file=_archive_path(last.file) or last.file,
                             line=last.line)
                    context = [last.raw] + ([f"    {last.code}"] if last.code else [])
                h = SignatureHit(h.code, h.kind, h.timestamp, h.stream, h.line, d, tuple(context))
            out.append(h)
        return out

    funcs = {f.func for f in tb.frames}
    if any(f.func == "default_model_fn" and f.file.endswith(_DEFAULT_FN_FILES) for f in tb.frames):
        code = "missing-entry-script"
    elif funcs & set(_LOAD_PATH):
        code = "model-fn-error"
    elif inner is not None:
        code = "invocation-error"
    else:
        return line_hits
    kind = _BY_CODE[code].kind if code in _BY_CODE else _DERIVED[code][0]
    hit = SignatureHit(code, kind, ev.timestamp, ev.stream, ev.message, details, tuple(context))
    return [hit] + [h for h in line_hits if h.code != code]


# -------------------------------------------------------------------------------------------- summarizing


_NORMALIZERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\d{4}-\d\d-\d\d[T ][\d:,.]+\s*"), ""),
    (re.compile(r"\bW-\d+-"), "W-*-"),
    (re.compile(r"\bworker: \d+"), "worker: *"),
    (re.compile(r"epollEventLoopGroup-\d+-\d+"), "epollEventLoopGroup-*"),
    (re.compile(r"\b(pid[=:]\s*)\d+"), r"\1*"),
    (re.compile(r"\b\d{12,}\b"), "*"),
    (re.compile(r"\b0x[0-9a-f]+\b"), "0x*"),
)


def _normalize(line: str) -> str:
    for pat, repl in _NORMALIZERS:
        line = pat.sub(repl, line)
    return line.strip()


@dataclass
class Sample:
    """A distinct evidence line (the first occurrence, as logged) and how many events had that text."""

    line: str
    count: int
    stream: str
    context: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "count": self.count, "stream": self.stream, "context": list(self.context)}


@dataclass
class CodeSummary:
    code: str
    kind: Kind
    description: str
    count: int = 0
    first_seen: int | None = None
    last_seen: int | None = None
    streams: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)  # distinct details, first seen first

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "kind": self.kind, "description": self.description, "count": self.count,
                "first_seen": _iso(self.first_seen), "last_seen": _iso(self.last_seen),
                "streams": list(self.streams), "samples": [s.to_dict() for s in self.samples],
                "details": [dict(d) for d in self.details]}


@dataclass
class Cause:
    """The one named cause. ``code``: a cause code from :data:`CAUSE_PRECEDENCE`, or ``worker-crash-loop``
    (workers die, origin not in the logs), ``ping-failing``, ``no-known-signature``, ``no-logs``."""

    code: str
    summary: str
    confidence: Literal["high", "medium", "low"]
    details: dict[str, Any] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    also_seen: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "summary": self.summary, "confidence": self.confidence,
                "details": dict(self.details), "evidence": list(self.evidence), "also_seen": list(self.also_seen)}


@dataclass
class LogEvidence:
    cause: Cause
    codes: dict[str, CodeSummary] = field(default_factory=dict)
    events_matched: int = 0

    @property
    def crash_loop(self) -> bool:
        return any(c in self.codes for c in _CRASH_MARKERS)

    def to_dict(self) -> dict[str, Any]:
        return {"cause": self.cause.to_dict(), "crash_loop": self.crash_loop,
                "events_matched": self.events_matched,
                "codes": {k: v.to_dict() for k, v in self.codes.items()}}


def _description(code: str) -> tuple[Kind, str]:
    if code in _BY_CODE:
        return _BY_CODE[code].kind, _BY_CODE[code].description
    return _DERIVED[code]


def summarize(hits: Iterable[SignatureHit], *, samples: int = 5, events_read: int | None = None) -> LogEvidence:
    """Group ``hits`` per code (count, first/last seen, up to ``samples`` distinct evidence lines) and name
    one cause. ``events_read=0`` (nothing in the window) gives cause ``no-logs``."""
    codes: dict[str, CodeSummary] = {}
    seen_text: dict[tuple[str, str], Sample] = {}
    n = 0
    for h in hits:
        n += 1
        kind, desc = _description(h.code)
        cs = codes.get(h.code)
        if cs is None:
            cs = codes[h.code] = CodeSummary(h.code, kind, desc)
        cs.count += 1
        if h.timestamp is not None:
            cs.first_seen = h.timestamp if cs.first_seen is None else min(cs.first_seen, h.timestamp)
            cs.last_seen = h.timestamp if cs.last_seen is None else max(cs.last_seen, h.timestamp)
        if h.stream and h.stream not in cs.streams:
            cs.streams.append(h.stream)
        norm = (h.code, _normalize(h.line))
        sample = seen_text.get(norm)
        if sample is not None:
            sample.count += 1
            if not sample.context and h.context:
                sample.context = list(h.context)
        else:
            sample = Sample(h.line, 1, h.stream, list(h.context))
            seen_text[norm] = sample
            if len(cs.samples) < samples:
                cs.samples.append(sample)
        if h.details and kind == "cause":
            d = dict(h.details)
            if d not in cs.details and len(cs.details) < 20:
                cs.details.append(d)
    cause = _derive_cause(codes, events_read)
    return LogEvidence(cause=cause, codes=codes, events_matched=n)


def _evidence(cs: CodeSummary) -> list[str]:
    out: list[str] = []
    for s in cs.samples:
        out.append(s.line if s.count == 1 else f"{s.line}  (×{s.count})")
        out.extend(s.context)
    return out


def _derive_cause(codes: dict[str, CodeSummary], events_read: int | None) -> Cause:
    roots = [c for c in CAUSE_PRECEDENCE if c in codes]
    markers = [c for c in _CRASH_MARKERS if c in codes]
    if roots:
        code = roots[0]
        cs = codes[code]
        details: dict[str, Any] = dict(cs.details[0]) if cs.details else {}
        evidence = _evidence(cs)
        for m in markers:
            evidence.extend(s.line for s in codes[m].samples[:1])
        if code == "missing-module":
            pkgs = list(dict.fromkeys(d["package"] for d in cs.details if "package" in d))
            details["packages"] = pkgs
            summary = (f"the model code imports {details.get('module')!r} (package {details.get('package')!r}), "
                       "which the container does not have")
        elif code == "requirements-install-failed":
            reqs = [d["requirement"] for d in cs.details if "requirement" in d]
            if reqs:
                details["requirements"] = list(dict.fromkeys(reqs))
            summary = "pip could not install code/requirements.txt, so the container exits before serving"
        elif code in ("model-fn-error", "invocation-error", "import-error", "syntax-error"):
            what = f"{details.get('exception', 'an exception')}: {details.get('message', '')}".rstrip(": ")
            where = f" at {details['where']}" if "where" in details else ""
            summary = f"{_description(code)[1]}: {what}{where}"
        else:
            summary = _description(code)[1]
        confidence: Literal["high", "medium", "low"] = "high" if markers or code == "requirements-install-failed" \
            else "medium"
        details.update(count=cs.count, first_seen=_iso(cs.first_seen), last_seen=_iso(cs.last_seen))
        return Cause(code, summary, confidence, details, evidence, also_seen=roots[1:] + markers)
    if markers:
        evidence = [s.line for m in markers for s in codes[m].samples[:2]]
        return Cause("worker-crash-loop",
                     "TorchServe workers die and restart, but the logs read do not show why "
                     "(widen the time window, or run the load check)",
                     "low", {"markers": {m: codes[m].count for m in markers}}, evidence,
                     also_seen=[c for c in ("ping-failing",) if c in codes])
    if "ping-failing" in codes:
        return Cause("ping-failing", "the health check fails, and the logs read do not show why", "low",
                     {"count": codes["ping-failing"].count}, _evidence(codes["ping-failing"]))
    if events_read == 0:
        return Cause("no-logs", "no log events in the time window", "low")
    only_noise = {"noise"} == set(codes)
    return Cause("no-known-signature",
                 "only known noise in the logs" if only_noise else "no known crash signature in the logs",
                 "low", {"noise": codes["noise"].count} if "noise" in codes else {})



def analyze(read: LogRead, *, samples: int = 5) -> LogEvidence:
    """:func:`match_signatures` + :func:`summarize` over a :class:`LogRead`, also naming the cases where
    the read itself is the finding: no log group (``no-logs``), an AWS error (``logs-unreadable``, e.g.
    access denied: inconclusive). A partial read that still shows a root cause keeps that cause."""
    ev = summarize(match_signatures(read.events), samples=samples, events_read=len(read.events))
    base = {"group": read.group, "events_read": len(read.events), "truncated": read.truncated}
    if not read.group_exists:
        ev.cause = Cause("no-logs", f"the log group {read.group} does not exist: the endpoint never logged "
                         "(or the name is wrong)", "low", {**base, "group_exists": False})
    elif read.error and ev.cause.code in ("no-logs", "no-known-signature"):
        ev.cause = Cause("logs-unreadable", f"inconclusive: reading {read.group} failed with {read.error}",
                         "low", {**base, "error": read.error, "error_message": read.error_message})
    else:
        ev.cause.details.setdefault("events_read", len(read.events))
        ev.cause.details.setdefault("truncated", read.truncated)
    return ev
