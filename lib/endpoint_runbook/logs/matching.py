"""Matching: every line of a log that a signature names, plus what Python tracebacks tell.

One pass of a compiled alternation of the catalogue's anchors (:data:`catalogue.ANCHORS`) finds the lines
worth a look; only those are split from their log prefix and tried against the rules whose anchors they
hold. A traceback (its header, or a frame when an excerpt starts mid-traceback) switches to reading every
following line until it ends, per stream and per worker, so interleaved workers do not mix.

Log prefixes understood (the body after them is what rules see): TorchServe 0.3 → 0.12 and MMS log4j lines
(``2026-… [INFO ] W-9000-model_1.0-stdout MODEL_LOG - …``, ``… W-9000-model-stdout
com.amazonaws.ml.mms.wlm.WorkerLifeCycle - …``, also without time and level), DJL's ``PyProcess W-…:``,
TensorFlow Serving's and Triton's glog prefixes, Python logging's ``ERROR:__main__:`` and
``<time> INFO - name - ``.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from .catalogue import by_code
from .causes import STRENGTHS, Kind, Rule, Strength
from .derive import derive_from_frames, relabel_missing_module, relabel_traceback_import
from .forms import detect_form, events_from_lines, normalize_text, timestamp_of
from .lines import (
    _CARET,
    _CONSOLE_TIME,
    _EXC,
    _FRAME,
    _IMPORT_USER_MODULE,
    _METRICS,
    _TB_HEADER,
    _archive_path,
    _Frame,
    _frame_text,
    _Hit,
    _indent,
    _is_toolkit_frame,
    _is_user_frame,
    _split,
    _Traceback,
)
from .prefilter import (
    _ANY,
    _COLLECTING,
    _ENTRY,
    _EVERY,
    _GATED,
    _INFERENCE,
    _INSIDE,
    _MME,
    _ORDER,
    _trie_regex,
)
from .reading import LogEvent, iso
from .vocabulary import failure_lines, guess

__all__ = ["SignatureHit", "match_signatures", "match_text"]


# the exception at the end of a frame flattened onto one line ('File "x.py", line 3, in f g() KeyError: 'a''), not
# one its code names ("except KeyError:", "raise ValueError(...)")
_INLINE_EXC = re.compile(r"(?<!except)(?<!raise)\s(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Fault|"
                         r"Failure)(?::\s.*|:?$)")


@dataclass(frozen=True)
class SignatureHit:
    """One line that matched a signature. ``context``: supporting lines (the user frame of a traceback);
    ``strength``: how surely the line names its cause (:data:`catalogue.STRENGTHS`; causes only)."""

    code: str
    kind: Kind
    timestamp: int | None
    stream: str
    line: str
    details: Mapping[str, Any] = field(default_factory=dict)
    context: tuple[str, ...] = ()
    strength: Strength = "sure"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "kind": self.kind, "timestamp": iso(self.timestamp), "stream": self.stream,
                "line": self.line, "details": dict(self.details), "context": list(self.context),
                "strength": self.strength}


# ----------------------------------------------------------------------------------------------- scanner


_RANK = {s: i for i, s in enumerate(STRENGTHS)}


class _Scanner:
    """The per-line state machine; fed only the lines the prefilter (or an open traceback) selects."""

    def __init__(self) -> None:
        self.hits: list[_Hit] = []
        self.open: dict[tuple[str, str], _Traceback] = {}
        self.entry_names: set[str] = set()
        self.collecting: dict[str, str] = {}
        self.mme = False  # the log shows a multi-model endpoint
        self.inference = False  # the log shows requests being served (TorchServe's inference accounting)
        self.import_failed = False  # the MXNet toolkit could not import the user module
        self.bind_retries = False  # gunicorn retried binding its socket
        self.labelled: list[tuple[int, int]] = []  # spans of tracebacks a hit accounts for (offsets)

    def line(self, raw: str, offset: int, stream: str) -> None:
        raw = raw.rstrip("\r")
        self._context(raw)
        key, body = _split(raw)
        k = (stream, key)
        if _TB_HEADER in body:
            head, _, rest = body.partition(_TB_HEADER)
            if head.strip():
                self._signatures(raw, head, offset, stream)
            prev = self.open.get(k)
            if prev is not None:
                self._unclosed(raw, offset, stream, prev)
            tb = self.open[k] = _Traceback(offset=offset)
            rest = rest.lstrip(":").strip()
            if rest:  # a traceback flattened onto one line by a paste or a console
                for part in re.split(r'\s(?=File ")', " " + rest):
                    if part.strip():
                        self._frame_or_line(raw, part.strip(), offset, stream, k, tb)
            return
        tb = self.open.get(k)
        if tb is None:
            fm = _FRAME.match(body)
            if fm is None:
                self._signatures(raw, body, offset, stream)
                return
            tb = self.open[k] = _Traceback(offset=offset)  # an excerpt that starts mid-traceback
        self._frame_or_line(raw, body, offset, stream, k, tb)

    def _context(self, raw: str) -> None:
        if not self.mme and (any(m in raw for m in _MME) or raw.strip() == "start_model_server()"):
            # (the scikit-learn and XGBoost containers' serving_entrypoint calls a bare start_model_server()
            # only in multi-model mode; single models go to gunicorn)
            self.mme = True
        if not self.inference and any(m in raw for m in _INFERENCE):
            self.inference = True
        if "import_module exception" in raw:
            self.import_failed = True
        if "Retrying in 1 second" in raw:
            self.bind_retries = True

    def _frame_or_line(self, raw: str, body: str, offset: int, stream: str, k: tuple[str, str],
                       tb: _Traceback) -> None:
        tb.lines += 1
        fm = _FRAME.match(body)
        if fm:
            if not tb.frames:
                tb.indent = _indent(body)
            fr = _Frame(fm.group("file"), int(fm.group("line")), fm.group("func"), raw=body.strip())
            rest = fm.group("rest").strip()
            # a traceback flattened onto one line ends with its exception after the last frame's code
            ex = _INLINE_EXC.search(rest)
            if ex:
                rest = rest[:ex.start()].strip()
            if rest:
                fr.code = rest
            tb.frames.append(fr)
            if ex:
                del self.open[k]
                em = _EXC.match(ex.group(0).strip())
                self._traceback_hits(raw, offset, stream, tb, em.group("type"), em.group("msg") or "")
            return
        stripped = body.strip()
        if not stripped or stripped in ("...", "--") or stripped.startswith("```") or _CONSOLE_TIME.match(stripped):
            if tb.lines > 400:
                del self.open[k]
            return
        em = _EXC.match(stripped)
        if em and (not body.startswith((" ", "\t")) or _indent(body) < tb.indent):
            # (a whole traceback pasted indented: its exception line is indented less than its frames)
            del self.open[k]
            self._traceback_hits(raw, offset, stream, tb, em.group("type"), em.group("msg") or "")
            return
        if not em and tb.frames and tb.frames[-1].code is None and not _CARET.match(body):
            tb.frames[-1].code = stripped  # the source line under a frame (indented or not)
            return
        if body.startswith((" ", "\t")) and not em:
            if tb.lines > 400:  # a traceback that never ended: forget it
                del self.open[k]
            return
        # Another line of the same stream and worker: this traceback was cut short (an excerpt, a paste).
        del self.open[k]
        self._unclosed(raw, offset, stream, tb)
        if _ANY.search(body):
            self._signatures(raw, body, offset, stream)

    def _signatures(self, raw: str, body: str, offset: int, stream: str, *, record: bool = True) -> list[_Hit]:
        text = body.strip()
        out: list[_Hit] = []
        tried: set[int] = set()
        gated = []
        found = {b for f in _EVERY.findall(text) for b in _INSIDE[f]}
        if not found:
            return out
        for a in found:
            for sig, rule in _GATED.get(a, ()):
                if id(rule) not in tried:
                    tried.add(id(rule))
                    gated.append((sig, rule))
        gated.sort(key=lambda sr: _ORDER[id(sr[1])])
        best: dict[str, tuple[Rule, re.Match[str]]] = {}  # per signature, its strongest matching rule
        for sig, rule in gated:
            have = best.get(sig.code)
            if have is not None and _RANK[have[0].strength] <= _RANK[rule.strength]:
                continue
            m = rule.pattern.search(text)
            if m:
                best[sig.code] = (rule, m)
        for sig, rule in gated:
            if sig.code in best and best[sig.code][0] is rule:
                m = best[sig.code][1]
                details = {k: v for k, v in m.groupdict().items() if v is not None}
                out.append(_Hit(sig.code, sig.kind, offset, stream, raw, _refine(sig.code, details, text),
                                strength=rule.strength))
        if "Collecting " in text:
            cm = _COLLECTING.match(text)
            if cm:
                self.collecting[stream] = cm.group("requirement")
        if "rogram" in text or "entry_point" in text:
            em = _ENTRY.search(text + " ")
            if em:
                self.entry_names.add(em.group("name").rsplit("/", 1)[-1])
        for h in out:
            if h.code == "requirements-install-failed" and "requirement" not in h.details \
                    and stream in self.collecting:
                h.details["requirement"] = self.collecting[stream]
        if record:
            self.hits.extend(out)
        return out

    def _traceback_hits(self, raw: str, offset: int, stream: str, tb: _Traceback, exc_type: str,
                        exc_msg: str) -> None:
        exc_line = f"{exc_type}: {exc_msg}" if exc_msg else exc_type
        self.labelled.append((tb.offset, offset))
        line_hits = self._signatures(raw, exc_line, offset, stream)
        user = [f for f in tb.frames if _is_user_frame(f.file)]
        inner = user[-1] if user else None
        exc = exc_type.rsplit(".", 1)[-1]
        details: dict[str, Any] = {"exception": exc, "message": exc_msg}
        context: list[str] = []
        if inner is not None:
            details["where"] = _frame_text(inner)
            details["file"] = _archive_path(inner.file) or inner.file
            details["line"] = inner.line
            if inner.code:
                details["statement"] = inner.code
            context = [inner.raw] + ([f"    {inner.code}"] if inner.code else [])
        elif tb.frames:
            details["raised_in"] = _frame_text(tb.frames[-1])
            if tb.frames[-1].code:
                details["statement"] = tb.frames[-1].code
        funcs = {f.func for f in tb.frames}

        if tb.frames and all(_METRICS.search(f.file) for f in tb.frames if _is_toolkit_frame(f.file)) \
                and any(_METRICS.search(f.file) for f in tb.frames) and inner is None:
            # The server's metrics collector (a side process) failed: serving goes on; label it, never a cause.
            for h in line_hits:
                self.hits.remove(h)
            self.hits.append(_Hit("metrics-collector-error", "noise", offset, stream, raw,
                                  {**details, "raised_in": _frame_text(tb.frames[-1])}))
            return

        if any(h.kind == "cause" for h in line_hits):
            # A known cause (missing module, syntax error...): the traceback adds where it happened.
            for h in line_hits:
                if h.kind != "cause":
                    continue
                h.details = {**details, **h.details}
                ctx = context
                if h.code == "syntax-error" and tb.frames:
                    # The last "File" entry of a SyntaxError is the file that does not compile.
                    last = tb.frames[-1]
                    h.details.update(where=_frame_text(last), file=_archive_path(last.file) or last.file,
                                     line=last.line)
                    ctx = [last.raw] + ([f"    {last.code}"] if last.code else [])
                if h.code == "missing-module" and inner is None and tb.frames \
                        and tb.frames[-1].func in _IMPORT_USER_MODULE:
                    h.details["imported_by_toolkit"] = True
                if h.code == "missing-module":
                    relabel_traceback_import(h, tb)
                h.context = tuple(ctx)
            if any(h.kind == "cause" and h.strength != "weak" for h in line_hits):
                return
            # Only weak words in the exception line: what the frames say stands beside them, and strength decides.

        code, strength = derive_from_frames(tb, exc, exc_msg, inner, funcs)
        if code is None or (code, "cause") in {(h.code, h.kind) for h in line_hits}:
            return
        sig = by_code(code)
        assert sig is not None
        self.hits.insert(len(self.hits) - len(line_hits),
                         _Hit(code, sig.kind, offset, stream, raw, details, tuple(context), strength))

    def _unclosed(self, raw: str, offset: int, stream: str, tb: _Traceback) -> None:
        """A traceback cut before its exception line: the message may still be in the last frame's ``raise``
        statement, and the frames say which step failed."""
        last = tb.frames[-1] if tb.frames else None
        if last is not None and last.code and last.code.startswith("raise "):
            for h in self._signatures(last.raw, last.code, tb.offset, stream):
                h.context = (last.raw, f"    {last.code}")
        pip = [f for f in tb.frames if f.func == "_install_requirements" or "_install_requirements(" in (f.code or "")]
        if pip and not any(h.code == "requirements-install-failed" for h in self.hits):
            first = pip[0]
            self.hits.append(_Hit("requirements-install-failed", "cause", tb.offset, stream, raw,
                                  {"raised_in": _frame_text(first)}, (first.raw,), "likely"))

    def finish(self) -> None:
        """What needs the whole log: tracebacks still open at its end; missing modules that are the entry script
        itself (by the name the log gives for it, the toolkit importing it directly, or a script-like name such
        as ``inference`` or ``None``); a missing user module in a multi-model endpoint; a TorchServe reply
        deadline met while serving rather than loading; gunicorn giving up on a socket it could not bind."""
        for (stream, _key), tb in list(self.open.items()):
            self._unclosed("", tb.offset, stream, tb)
        self.open.clear()
        for h in self.hits:
            if h.code == "missing-module":
                relabel_missing_module(h, self.entry_names)
        for h in self.hits:
            if h.code in ("missing-entry-script", "default-handler-used") and self.mme and (
                    h.details.get("entry_module") == "None" or "'NoneType'" in h.line
                    or h.code == "missing-entry-script"):
                h.code = "mme-user-module-missing"
                h.details = {**h.details, "reason": "a multi-model endpoint's model names no user module the "
                                                    "toolkit can import"}
            elif h.code == "default-handler-used" and "'NoneType'" in h.line and self.import_failed:
                h.code = "mme-user-module-missing" if self.mme else "missing-entry-script"
            elif h.code == "startup-health-check-timeout" and self.inference \
                    and "did not respond in given time" in h.line:
                h.code = "worker-timeout"
        if not any(h.code == "worker-timeout" for h in self.hits):
            # gunicorn SIGKILLs a worker itself only when it times out; any other SIGKILL is the kernel's OOM killer
            for h in self.hits:
                if h.code == "out-of-memory" and h.strength == "weak" and "SIGKILL" in h.line:
                    h.strength = "likely"
        if any(h.code == "server-bind-failed" for h in self.hits) and self.bind_retries \
                and not any(h.code in ("server-config-invalid", "toolkit-bug") for h in self.hits):
            first = next(h for h in self.hits if h.code == "server-bind-failed")
            self.hits.append(_Hit("toolkit-bug", "cause", first.offset, first.stream, first.line,
                                  {"reason": "gunicorn retried binding without saying why (at its default log "
                                             "level): a socket option the kernel refuses (SO_REUSEPORT in "
                                             "gunicorn 19.7), not a port in use or a bad address"}, (), "weak"))


#: TorchServe's fallback after the user's handler failed to import: it tries ``ts.torch_handler.<handler>`` (its
#: built-in handlers) and that fails too. Not a package the model lacks: the real error is the one logged before.
TS_FALLBACK_HANDLER = "ts.torch_handler."


def _refine(code: str, details: dict[str, Any], text: str) -> dict[str, Any]:
    if code == "missing-module":
        if details["module"].startswith(TS_FALLBACK_HANDLER):
            details["fallback_handler"] = True  # no package: see TS_FALLBACK_HANDLER
        else:
            details["package"] = details["module"].split(".")[0]
    elif code == "import-error":
        m = re.search(r"cannot import name '(?P<name>[^']+)' from '(?P<module>[^']+)'", text)
        if m:
            details.update(name=m.group("name"), module=m.group("module"), package=m.group("module").split(".")[0])
    elif code == "requirements-install-failed":
        cmd = details.get("command", "")
        if cmd:
            details["command"] = cmd = cmd.strip("'\"[] ")
        m = re.search(r"'-r',\s*'(?P<f>[^']+)'?|-r\s+(?P<g>\S+)", cmd)
        if m:
            details["requirements_file"] = (m.group("f") or m.group("g")).rstrip("'\"]")
        if "build_dir" in details:
            req = details["build_dir"].rstrip("/").rsplit("/", 1)[-1]
            if req:
                details["requirement"] = req
    elif code == "out-of-memory":
        low = text.lower()
        details["memory"] = ("gpu" if "cuda" in low or "gpu" in low else
                             "jvm-direct" if "direct" in low else
                             "jvm-heap" if "java" in low or "heap" in low else
                             "killed" if "kill" in low or "signal" in low or "137" in low else "host")
    return details


# ------------------------------------------------------------------------------------------- entry points


# Served requests in an access log (nginx/gunicorn, TorchServe/MMS ACCESS_LOG): healthy, but most lines of a healthy
# endpoint are these, so they are looked for only when the scan found nothing wrong (one search from the start).
_SERVED = re.compile(r'"(?:GET /ping|POST /invocations) HTTP/1\.[01]" 200\b')


def _served(sc: _Scanner, buf: str, stream_at: Callable[[int], str], most: int = 5) -> None:
    if any(h.kind in ("cause", "symptom") for h in sc.hits):
        return
    for i, m in enumerate(_SERVED.finditer(buf)):
        if i == most:
            break
        start = buf.rfind("\n", 0, m.start()) + 1
        end = buf.find("\n", m.end())
        sc.hits.append(_Hit("request-served", "healthy", start, stream_at(start), buf[start:end if end >= 0 else None],
                            {}))


# Error-looking lines (log levels, exception names, Rust errors and panics, glog's E lines): when the scan named
# nothing, such a line that no signature labelled means "unknown", not "healthy".
_ERRORISH = re.compile(r"\b(?:ERROR|CRITICAL|FATAL)\b|\b[Ee]rror\b:|Traceback \(most recent call last\)|"
                       r"(?:Error|Exception): |panicked at|Segmentation fault|core dumped")
# the literals every such line holds (found in one C-level pass; the regex above then checks the line)
_ERRORISH_KEYS = re.compile(_trie_regex(("ERROR", "CRITICAL", "FATAL", "rror:", "Exception: ", "Traceback (most",
                                         "panicked at", "Segmentation fault", "core dumped")))


def _error_lines(sc: _Scanner, buf: str) -> Iterator[tuple[int, str]]:
    """The error-looking lines no hit labelled (nor a traceback a noise hit accounts for): (offset, line)."""
    labelled = {h.offset for h in sc.hits}
    spans = sc.labelled if any(h.kind == "noise" for h in sc.hits) else []
    pos = 0
    while True:
        m = _ERRORISH_KEYS.search(buf, pos)
        if m is None:
            return
        start = buf.rfind("\n", 0, m.start()) + 1
        end = buf.find("\n", m.end())
        line = buf[start:end if end >= 0 else None]
        pos = end + 1 if end >= 0 else len(buf)
        if start in labelled or any(a <= start <= b for a, b in spans) or not _ERRORISH.search(line):
            continue
        labelled.add(start)
        yield start, line


def _unexplained(sc: _Scanner, buf: str, stream_at: Callable[[int], str], most: int = 5) -> None:
    if any(h.kind in ("cause", "symptom") for h in sc.hits):
        return
    for found, (start, line) in enumerate(_error_lines(sc, buf), 1):
        sc.hits.append(_Hit("unexplained-error", "symptom", start, stream_at(start), line, {}))
        if found == most:
            break


def _guess(sc: _Scanner, buf: str, stream_at: Callable[[int], str], most: int = 200) -> None:
    """No cause named: the first error line no rule knows (beside symptoms too: workers dying, a failing ping), or, in
    a log with no error line and no sign of health, the first failure-sounding line, whose words spell a cause gives
    a weak one, marked a guess (:mod:`.vocabulary`)."""
    if any(h.kind == "cause" for h in sc.hits):
        return
    unexplained = [(h.offset, h.stream, h.line) for h in sc.hits if h.code == "unexplained-error"]
    failing = ((start, stream_at(start), line) for start, line in failure_lines(buf, {h.offset for h in sc.hits}, most))
    candidates: Iterable[tuple[int, str, str]]
    if unexplained:
        # then, for an error line whose words spell nothing (a bare "ERROR -" whose message is on the lines after
        # it), the failure-sounding lines around it
        candidates = itertools.chain(unexplained, failing)
    elif any(h.kind == "symptom" for h in sc.hits):
        # symptoms only (workers dying, a failing ping): the error lines beside them may say why
        candidates = ((start, stream_at(start), line) for start, line in _error_lines(sc, buf))
    elif any(h.kind == "healthy" for h in sc.hits):
        return
    else:
        candidates = failing
    for offset, stream, line in candidates:
        found = guess(_split(line)[1])
        if found is not None:
            code, words = found
            sc.hits.append(_Hit(code, "cause", offset, stream, line, {"guessed_from": words}, (), "weak"))
            return


def _scan(buf: str, stream_at: Callable[[int], str]) -> _Scanner:
    sc = _Scanner()
    search, find, rfind, n = _ANY.search, buf.find, buf.rfind, len(buf)
    pos = 0
    while pos < n:
        m = search(buf, pos)
        if m is None:
            break
        start = rfind("\n", 0, m.start()) + 1
        end = find("\n", m.end())
        if end < 0:
            end = n
        sc.line(buf[start:end], start, stream_at(start))
        pos = end + 1
        while sc.open and pos < n:  # follow open tracebacks line by line
            end = find("\n", pos)
            if end < 0:
                end = n
            sc.line(buf[pos:end], pos, stream_at(pos))
            pos = end + 1
    sc.finish()
    _unexplained(sc, buf, stream_at)
    _served(sc, buf, stream_at)
    _guess(sc, buf, stream_at)
    return sc


def _unescape(text: str) -> str:
    """Quotes an encoder escaped back to themselves, so anchors with quotes match: JSON's ``couldn\\u0027t``, and a
    single quote escaped as no JSON encoder does (``Op type not registered \\'SentencepieceOp\\'`` in the JSON
    body of a client error)."""
    if "\\u00" in text:
        text = text.replace("\\u0027", "'").replace("\\u0022", '"')
    return text.replace("\\'", "'") if "\\'" in text else text


def match_signatures(events: Iterable[LogEvent | Mapping[str, Any] | str]) -> list[SignatureHit]:
    """Every line of ``events`` that matches a signature in :data:`SIGNATURES`, plus the hits derived from
    tracebacks, in log order.

    ``events``: :class:`LogEvent` objects, CloudWatch event dicts (``timestamp``/``message``/``logStreamName``)
    or plain lines; an event may hold several lines (a whole traceback). A traceback enriches its final
    exception's hit with the innermost user frame (``details['where']``, e.g. ``code/inference.py:2``); a
    traceback through the toolkit's default ``model_fn`` is a ``missing-entry-script``; other exceptions
    while loading are ``model-fn-error``, while importing the code ``import-error``, while serving
    ``invocation-error``.
    """
    evs = list(_as_events(events))
    if not evs:
        return []
    msgs = [_unescape(e.message) for e in evs]
    starts = list(accumulate(map((1).__add__, map(len, msgs)), initial=0))
    streams = [e.stream for e in evs]
    one_stream = len(set(streams)) == 1

    def stream_at(off: int) -> str:
        return streams[0] if one_stream else streams[bisect_right(starts, off) - 1]

    sc = _scan("\n".join(msgs), stream_at)
    return [SignatureHit(h.code, h.kind, evs[bisect_right(starts, h.offset) - 1].timestamp, h.stream, h.line,
                         h.details, h.context, h.strength) for h in sc.hits]


def match_text(text: str, *, stream: str = "") -> list[SignatureHit]:
    """:func:`match_signatures` for a pasted or exported log in any form :mod:`.forms` reads, without making
    an event of every line (plain text is scanned as one buffer)."""
    form = detect_form(text)
    if form.json or form.csv:
        from .forms import events_from_text

        return match_signatures(events_from_text(text, stream=stream))
    buf = _unescape(normalize_text(text, form))
    sc = _scan(buf, lambda _off: stream)
    return [SignatureHit(h.code, h.kind, timestamp_of(h.line), h.stream, h.line, h.details, h.context, h.strength)
            for h in sc.hits]


def _as_events(events: Iterable[LogEvent | Mapping[str, Any] | str]) -> Iterable[LogEvent]:
    for ev in events:
        if isinstance(ev, LogEvent):
            yield ev
        elif isinstance(ev, str):
            yield from events_from_lines([ev])
        else:
            yield LogEvent(ev.get("timestamp"), str(ev.get("message", "")).rstrip("\n"),
                           ev.get("logStreamName", ev.get("stream", "")))
