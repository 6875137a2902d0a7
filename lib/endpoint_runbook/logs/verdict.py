"""From hits to one named cause: group per code, keep distinct evidence lines, pick the cause.

The strongest evidence wins (a line that names its cause beats one that only suggests it, see
:data:`catalogue.STRENGTHS`); among equally strong causes, precedence follows the start-up order, because a failure
in an earlier phase stops every later one from running: the platform (capacity, archive, image) → the container's
start (disk, pip, network, credentials) → import of the entry script (syntax error, missing module, import error)
→ the engine and GPU checks → ``model_fn`` and the model files → serving (memory, timeouts, invocation errors).
Root causes always beat symptoms (crash-loop markers, failing ``/ping``, nginx's failed upstream, ``Auto recovery
failed``); noise is never a cause; a log with start-up or served-request lines and nothing wrong is ``healthy``.

Confidence says how sure the text alone can be: ``high`` when a line names the cause and no other unexplained
cause is in the log; ``medium`` when the line only suggests it (the same text has other causes) or another
cause competes; ``low`` for guesses from lines other causes print too, and for symptoms alone.

:func:`evidence_from_events` (CloudWatch events, what ``diagnose`` reads) and :func:`evidence_from_text`
(a pasted or exported log, what ``endpoint-runbook explain-logs`` reads) run the same matcher and the same
summary.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .catalogue import CRASH_MARKERS, description
from .causes import BROADER, CAUSE_PRECEDENCE, CAUSES, EXPLAINS, STRENGTHS, Kind, Strength
from .matching import SignatureHit, match_signatures, match_text
from .reading import LogEvent, LogRead, iso

__all__ = [
    "NOT_A_FAILURE",
    "Cause",
    "CodeSummary",
    "LogEvidence",
    "Sample",
    "analyze",
    "evidence_from_events",
    "evidence_from_text",
    "summarize",
]

#: Cause codes that name no failure: nothing read, nothing known, the read failed, or a normal start-up.
NOT_A_FAILURE: tuple[str, ...] = ("no-logs", "no-known-signature", "logs-unreadable", "healthy")

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
    """A distinct evidence line (the first occurrence, as logged), how many events had that text, and when it was
    logged first and last (epoch ms; None for lines without a time)."""

    line: str
    count: int
    stream: str
    context: list[str] = field(default_factory=list)
    strength: Strength = "sure"
    first_seen: int | None = None
    last_seen: int | None = None

    def seen(self, ts: int | None) -> None:
        if ts is not None:
            self.first_seen = ts if self.first_seen is None else min(self.first_seen, ts)
            self.last_seen = ts if self.last_seen is None else max(self.last_seen, ts)

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "count": self.count, "stream": self.stream, "context": list(self.context),
                "strength": self.strength, "first_seen": iso(self.first_seen), "last_seen": iso(self.last_seen)}


@dataclass
class CodeSummary:
    code: str
    kind: Kind
    description: str
    count: int = 0
    strength: Strength = "weak"  # the strongest of its hits (causes)
    first_seen: int | None = None
    last_seen: int | None = None
    streams: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)  # distinct details, first seen first

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "kind": self.kind, "description": self.description, "count": self.count,
                "strength": self.strength, "first_seen": iso(self.first_seen), "last_seen": iso(self.last_seen),
                "streams": list(self.streams), "samples": [s.to_dict() for s in self.samples],
                "details": [dict(d) for d in self.details]}


@dataclass
class Cause:
    """The one named cause. ``code``: a cause code from :data:`CAUSE_PRECEDENCE`, or ``worker-crash-loop``
    (workers die, origin not in the logs), ``ping-failing``, ``no-known-signature``, ``no-logs``.
    :attr:`broader_code`: the issue-14 code for the same evidence (equal to ``code`` for the older codes)."""

    code: str
    summary: str
    confidence: Literal["high", "medium", "low"]
    details: dict[str, Any] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    also_seen: list[str] = field(default_factory=list)
    logged: list[dict[str, Any]] = field(default_factory=list)  # per evidence line: line, stream, first/last seen

    @property
    def broader_code(self) -> str:
        return BROADER.get(self.code, self.code)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "summary": self.summary, "confidence": self.confidence,
                "details": dict(self.details), "evidence": list(self.evidence), "also_seen": list(self.also_seen),
                "broader_code": self.broader_code, "logged": [dict(x) for x in self.logged]}


@dataclass
class LogEvidence:
    """The hits grouped per code and the one cause they name. ``healthy``: the log shows a normal start-up
    (or served requests) and no failure; ``noise``: how many harmless-but-alarming lines were labelled."""

    cause: Cause
    codes: dict[str, CodeSummary] = field(default_factory=dict)
    events_matched: int = 0

    @property
    def crash_loop(self) -> bool:
        return any(c in self.codes for c in CRASH_MARKERS)

    @property
    def healthy(self) -> bool:
        return self.cause.code == "healthy"

    @property
    def noise(self) -> dict[str, int]:
        return {k: v.count for k, v in self.codes.items() if v.kind == "noise"}

    def to_dict(self) -> dict[str, Any]:
        return {"cause": self.cause.to_dict(), "crash_loop": self.crash_loop, "healthy": self.healthy,
                "noise": self.noise, "events_matched": self.events_matched,
                "codes": {k: v.to_dict() for k, v in self.codes.items()}}


def summarize(hits: Iterable[SignatureHit], *, samples: int = 5, events_read: int | None = None) -> LogEvidence:
    """Group ``hits`` per code (count, first/last seen, up to ``samples`` distinct evidence lines) and name
    one cause. ``events_read=0`` (nothing in the window) gives cause ``no-logs``."""
    codes: dict[str, CodeSummary] = {}
    seen_text: dict[tuple[str, str], Sample] = {}
    n = 0
    for h in hits:
        n += 1
        kind, desc = description(h.code)
        cs = codes.get(h.code)
        if cs is None:
            cs = codes[h.code] = CodeSummary(h.code, kind, desc)
        cs.count += 1
        if kind == "cause" and _RANK[h.strength] < _RANK[cs.strength] or cs.count == 1:
            cs.strength = h.strength
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
            sample = Sample(h.line, 1, h.stream, list(h.context), h.strength)
            seen_text[norm] = sample
            if len(cs.samples) < samples:
                cs.samples.append(sample)
        sample.seen(h.timestamp)
        if h.details and kind in ("cause", "symptom"):
            d = dict(h.details)
            if d not in cs.details and len(cs.details) < 20:
                cs.details.append(d)
    cause = _derive_cause(codes, events_read)
    return LogEvidence(cause=cause, codes=codes, events_matched=n)


def _evidence(cs: CodeSummary) -> list[str]:
    """The code's distinct lines, the surest first (a consequence of the same code, e.g. nginx's timed-out
    upstream beside gunicorn's WORKER TIMEOUT, comes after the line that names it)."""
    out: list[str] = []
    for s in sorted(cs.samples, key=lambda s: _RANK[s.strength]):
        out.append(s.line if s.count == 1 else f"{s.line}  (×{s.count})")
        out.extend(s.context)
    return out


def _logged(*summaries: CodeSummary, per_code: int = 5) -> list[dict[str, Any]]:
    """When and where each evidence line of ``summaries`` was logged (first and last time, its stream)."""
    return [{"line": s.line, "stream": s.stream, "count": s.count, "first_seen": iso(s.first_seen),
             "last_seen": iso(s.last_seen)} for cs in summaries for s in cs.samples[:per_code]]


def _merged(cs: CodeSummary) -> dict[str, Any]:
    """The first hit's details, filled in from later hits of the same code (a traceback's frame, the
    requirement a later pip line names). TorchServe's fallback-handler imports count only when nothing else
    does."""
    out: dict[str, Any] = {}
    own = [d for d in cs.details if not d.get("fallback_handler")]
    for d in own or cs.details:
        for k, v in d.items():
            out.setdefault(k, v)
    return out


def _summary(code: str, details: dict[str, Any], cs: CodeSummary) -> str:
    where = f" at {details['where']}" if "where" in details else ""
    if code == "missing-module":
        return (f"the model code imports {details.get('module')!r} (package {details.get('package')!r}), "
                "which the container does not have")
    if code == "requirements-install-failed":
        reqs = details.get("requirements") or []
        what = f" ({', '.join(reqs)})" if reqs else ""
        return f"pip could not install code/requirements.txt{what}, so the container exits before serving"
    if code == "disk-full":
        path = f" writing {details['path']}" if details.get("path") else ""
        return (f"a disk filled up{path}: give the endpoint more storage (a larger instance or volume) or "
                "make the model smaller")
    if code in ("missing-entry-script", "mme-user-module-missing") and details.get("entry_module"):
        return (f"the entry script {details['entry_module']!r} is not where the toolkit imports it from "
                f"({details.get('reason')}): put it under code/ in model.tar.gz and set SAGEMAKER_PROGRAM")
    if code == "cuda-driver-mismatch":
        return f"{description(code)[1]}: {details.get('message') or ''}".rstrip(": ") + where
    if code == "out-of-memory":
        kind = details.get("memory", "host")
        return {"jvm-direct": "the model server's JVM ran out of direct (off-heap) memory: raise its "
                              "-XX:MaxDirectMemorySize (vmargs) or the instance size",
                "jvm-heap": "the model server's JVM ran out of heap: raise -Xmx (vmargs) or the instance size",
                "killed": "a worker was killed (signal 9 / out-of-memory killer): the model needs more memory "
                          "than the instance has; use a larger instance or fewer workers",
                }.get(kind, "the worker ran out of memory: use a larger instance or fewer workers")
    if code in ("model-fn-error", "invocation-error", "import-error", "syntax-error"):
        what = f"{details.get('exception', '')}: {details.get('message', '')}".strip(": ")
        if not what:
            what = details.get("library") or details.get("model") or ""
        return f"{description(code)[1]}: {what}{where}".rstrip(": ")
    info = CAUSES.get(code)
    if info is not None:
        return f"{info.description}: {info.action}"
    return description(code)[1]


_RANK = {s: i for i, s in enumerate(STRENGTHS)}


def _confidence(code: str, others: list[str], codes: dict[str, CodeSummary]) -> Literal["high", "medium", "low"]:
    """How sure the text alone is: the winner's strength, one step down when another cause it does not explain
    is as plausible (sure or likely) beside it."""
    strength = codes[code].strength
    rivals = [c for c in others if codes[c].strength != "weak" and c not in EXPLAINS.get(code, ())]
    if strength == "sure":
        return "medium" if rivals else "high"
    if strength == "likely":
        return "low" if rivals else "medium"
    return "low"


def _fallback_only(cs: CodeSummary) -> bool:
    """Every missing module of ``cs`` is TorchServe's fallback-handler import (``ts.torch_handler.…``), which
    follows the user's handler failing to import: not a cause of its own."""
    return cs.code == "missing-module" and bool(cs.details) and all(d.get("fallback_handler") for d in cs.details)


def _derive_cause(codes: dict[str, CodeSummary], events_read: int | None) -> Cause:
    roots = sorted((c for c in CAUSE_PRECEDENCE if c in codes and codes[c].kind == "cause"
                    and not _fallback_only(codes[c])),
                   key=lambda c: (_RANK[codes[c].strength], CAUSE_PRECEDENCE.index(c)))
    markers = [c for c in CRASH_MARKERS if c in codes]
    symptoms = [c for c, cs in codes.items() if cs.kind == "symptom" and c not in markers]
    if roots:
        code = roots[0]
        cs = codes[code]
        details: dict[str, Any] = _merged(cs)
        evidence = _evidence(cs)
        for m in markers:
            evidence.extend(s.line for s in codes[m].samples[:1])
        if code == "missing-module":
            details["packages"] = list(dict.fromkeys(d["package"] for d in cs.details if "package" in d))
        elif code == "requirements-install-failed":
            reqs = [d["requirement"] for d in cs.details if "requirement" in d]
            if reqs:
                details["requirements"] = list(dict.fromkeys(reqs))
        if cs.details and all(d.get("guessed_from") for d in cs.details):
            # no rule named it: the words of an error line (logs.vocabulary) did; say so, and keep what the log says
            # without the guess (diagnose weighs that: symptoms keep their meaning)
            details["guessed"] = True
            other = _derive_cause({c: s for c, s in codes.items() if c != code}, events_read)
            details["otherwise"] = {"code": other.code, "from_symptoms": bool(other.details.get("from_symptoms"))}
            summary = (f"a guess from the words {details['guessed_from']!r} of a line no rule knows (read it in the "
                       f"evidence): {CAUSES[code].description}; if so, {CAUSES[code].action}")
        else:
            summary = _summary(code, details, cs)
        confidence = _confidence(code, roots[1:], codes)
        details.update(count=cs.count, first_seen=iso(cs.first_seen), last_seen=iso(cs.last_seen))
        return Cause(code, summary, confidence, details, evidence, also_seen=roots[1:] + markers + symptoms,
                     logged=_logged(cs))
    if markers:
        evidence = [s.line for m in markers for s in codes[m].samples[:2]]
        return Cause("worker-crash-loop",
                     "model server workers die and restart, but the logs read do not show why "
                     "(widen the time window, or run the load check)",
                     "low", {"markers": {m: codes[m].count for m in markers}}, evidence,
                     also_seen=[c for c in symptoms], logged=_logged(*(codes[m] for m in markers), per_code=2))
    if "ping-failing" in codes:
        cs = codes["ping-failing"]
        reasons = {d.get("reason", "") for d in cs.details}
        statuses = {d.get("status") for d in cs.details} - {None}
        timed_out = any("timed out" in r for r in reasons) or "504" in statuses
        errored = bool(statuses - {"504"}) or any("Error handling request" in s.line for s in cs.samples)
        others = [c for c in symptoms if c != "ping-failing"]
        base = {"count": cs.count, "timed_out": timed_out, "from_symptoms": True}
        if timed_out:
            # nginx gave up waiting for /ping: the model is still loading when the health check asks
            return Cause("startup-health-check-timeout",
                         "the health check (/ping) times out and nothing else in the logs explains it: usually "
                         "the model takes longer to load than the health check waits (a larger instance, a "
                         "faster load, or a longer ContainerStartupHealthCheckTimeoutInSeconds)",
                         "medium", base, _evidence(cs), also_seen=others, logged=_logged(cs))
        if errored:
            return Cause("ping-error", "the health check (/ping) answers an error, and the logs read do not show "
                         "the exception behind it (widen the time window; the handler usually fails loading the "
                         "model)", "low", base, _evidence(cs), also_seen=others, logged=_logged(cs))
        return Cause("ping-failing", "the health check (/ping) fails, and the logs read do not show why",
                     "low", base, _evidence(cs), also_seen=others, logged=_logged(cs))
    if "invocations-failing" in codes:
        cs = codes["invocations-failing"]
        return Cause("invocation-error", "requests to /invocations fail, and the logs read do not show the "
                     "exception (widen the time window)", "low", {"count": cs.count, "from_symptoms": True},
                     _evidence(cs), logged=_logged(cs))
    if "server-bind-failed" in codes:
        cs = codes["server-bind-failed"]
        return Cause("server-config-invalid", "the server could not bind its listening address (see the lines "
                     "before it: the address, the port already in use)", "low",
                     {"count": cs.count, "from_symptoms": True}, _evidence(cs), logged=_logged(cs))
    if events_read == 0:
        return Cause("no-logs", "no log events in the time window", "low")
    if "unexplained-error" in codes:
        cs = codes["unexplained-error"]
        return Cause("no-known-signature", "the log has error lines, but none the catalogue knows: read them in "
                     "the evidence", "low", {"unexplained": cs.count}, _evidence(cs))
    healthy = [c for c, cs in codes.items() if cs.kind == "healthy"]
    noise = {c: cs.count for c, cs in codes.items() if cs.kind == "noise"}
    if healthy:
        evidence = [s.line for c in healthy for s in codes[c].samples[:2]]
        return Cause("healthy", "the model server started normally; no failure signature in the logs",
                     "medium", {"markers": {c: codes[c].count for c in healthy}, **({"noise": noise} if noise else {})},
                     evidence)
    return Cause("no-known-signature",
                 "only known noise in the logs" if noise else "no known crash signature in the logs",
                 "low", {"noise": sum(noise.values())} if noise else {})


def evidence_from_events(events: Iterable[LogEvent | Mapping[str, Any] | str], *, samples: int = 5) -> LogEvidence:
    """Match and summarize CloudWatch events (or plain lines)."""
    evs = list(events)
    return summarize(match_signatures(evs), samples=samples, events_read=len(evs))


def evidence_from_text(text: str, *, samples: int = 5) -> LogEvidence:
    """Match and summarize a pasted or exported log (any form :mod:`.forms` reads)."""
    return summarize(match_text(text), samples=samples, events_read=0 if not text.strip() else None)


def analyze(read: LogRead, *, samples: int = 5) -> LogEvidence:
    """:func:`evidence_from_events` over a :class:`LogRead`, also naming the cases where the read itself is
    the finding: no log group (``no-logs``), an AWS error (``logs-unreadable``, e.g. access denied:
    inconclusive). A partial read that still shows a root cause keeps that cause."""
    ev = evidence_from_events(read.events, samples=samples)
    base = {"group": read.group, "events_read": len(read.events), "truncated": read.truncated}
    if not read.group_exists:
        ev.cause = Cause("no-logs", f"the log group {read.group} does not exist: the endpoint never logged "
                         "(or the name is wrong)", "low", {**base, "group_exists": False})
    elif read.error and ev.cause.code in ("no-logs", "no-known-signature", "healthy"):
        ev.cause = Cause("logs-unreadable", f"inconclusive: reading {read.group} failed with {read.error}",
                         "low", {**base, "error": read.error, "error_message": read.error_message})
    else:
        ev.cause.details.setdefault("events_read", len(read.events))
        ev.cause.details.setdefault("truncated", read.truncated)
    return ev
