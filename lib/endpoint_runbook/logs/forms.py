"""Log text in the forms people paste or export it, turned into events and plain lines.

Forms read:

- CloudWatch events (``LogEvent`` or the API's event dicts), one line or a whole multi-line traceback each;
- JSON from ``aws logs filter-log-events`` / ``get-log-events`` (``{"events": [...]}``) or a JSON list of events;
- plain text: a container's output, ``docker logs``, a ``ts_log.log``;
- the CloudWatch console's copy-paste: each event's time on a line of its own (``20:53:15``), ``--`` rows;
- the console's CSV export: ``timestamp,"message"[,stream]`` with doubled quotes and quoted multi-line messages;
- SageMaker local mode's docker-compose prefixes (``algo-1-pmyh1_1  | ...``);
- markdown around a paste: code fences, ``> `` blockquote markers, a line wrapped in backticks;
- a terminal's hard wrap (``heroku logs``, a console 80 columns wide): a timestamped line cut at the terminal's
  width goes on in the next line, which has no timestamp of its own; the pieces are joined again.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .reading import LogEvent, to_ms

__all__ = ["TextForm", "detect_form", "events_from_lines", "events_from_text", "normalize_text", "timestamp_of"]

_CSV_ROW = re.compile(r"^(?:\d{13}|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?),(?=[^\d]|$)")
_CSV_HEADER = re.compile(r'^"?@?timestamp"?,"?@?message"?', re.IGNORECASE)
_DOCKER = re.compile(r"^[\w.-]*algo-\d+[\w.-]*\s*\| ?")
# any docker compose service's prefix (``webapp      | ``, ``tei-embedding-server  | ``): a name padded to a column
_COMPOSE = re.compile(r"^[A-Za-z0-9][\w.-]*(?:[ \t]+\| ?|[ \t]*\|(?: |$))")
_COMPOSE_ALL = re.compile(r"(?m)^[A-Za-z0-9][\w.-]*(?:[ \t]+\| ?|[ \t]*\|(?: |$))")
_FENCE_ALL = re.compile(r"(?m)^[ \t]*```[\w+-]*[ \t]*$")
_QUOTE_ALL = re.compile(r"(?m)^> ?")
_BACKTICKS_ALL = re.compile(r"(?m)^`([^`\n]+)`[ \t]*$")

_TS = (
    # 2026-11-28T14:37:14,883 / 2020-08-11 16:26:05.458Z / [2019-01-03 20:53:14 +0000] (gunicorn)
    (re.compile(r"^\[?(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:[,.](\d{1,9}))?\s?(Z|[+-]\d\d:?\d\d)?"), "iso"),
    # 2019/01/03 20:53:14 (nginx)
    (re.compile(r"^(\d{4})/(\d\d)/(\d\d) (\d\d:\d\d:\d\d)"), "nginx"),
)


def timestamp_of(line: str) -> int | None:
    """Epoch milliseconds from a line's leading timestamp (ISO-like, log4j, gunicorn, nginx; UTC unless the
    line gives an offset), else None."""
    for pat, kind in _TS:
        m = pat.match(line)
        if not m:
            continue
        try:
            if kind == "iso":
                frac = (m.group(3) or "0")[:6].ljust(6, "0")
                tz = m.group(4) or "+00:00"
                if tz == "Z":
                    tz = "+00:00"
                elif ":" not in tz:
                    tz = tz[:3] + ":" + tz[3:]
                return to_ms(datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}.{frac}{tz}"))
            return to_ms(datetime.fromisoformat(f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{m.group(4)}")
                         .replace(tzinfo=timezone.utc))
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class TextForm:
    """What a pasted or exported log looks like (from its first lines)."""

    json: bool = False
    csv: bool = False
    docker: bool = False
    blockquote: bool = False
    wrap: int = 0  # a terminal's width the lines were hard-wrapped at (0: not wrapped)


#: Terminal widths a paste is hard-wrapped at: a width that is none of these is a format's own line length.
_WIDTHS = (80, 100, 120, 132, 160, 200)


def detect_form(text: str, *, sample: int = 200) -> TextForm:
    head = text.lstrip()[:1]
    if head in ("{", "["):
        try:
            _json_events(json.loads(text))
            return TextForm(json=True)
        except (ValueError, TypeError, KeyError):
            pass
    lines = [ln for ln in _first_lines(text, sample * 2) if ln.strip() and ln.strip() not in ("...", "--")]
    lines = [ln for ln in lines if not ln.lstrip().startswith("```")][:sample]
    if not lines:
        return TextForm()
    n = len(lines)
    quoted = sum(1 for ln in lines if ln.startswith(">")) >= 0.6 * n
    body = [ln[1:].lstrip() if quoted and ln.startswith(">") else ln for ln in lines]
    rows = sum(1 for ln in body if _CSV_ROW.match(ln)) + (1 if _CSV_HEADER.match(body[0]) else 0)
    docker = sum(1 for ln in body if _COMPOSE.match(ln)) >= 0.5 * n
    return TextForm(csv=rows >= 0.5 * n, docker=docker, blockquote=quoted, wrap=_wrap_width(body))


def _wrap_width(lines: list[str]) -> int:
    """The width the lines were hard-wrapped at: at least three timestamped lines exactly that wide, each followed
    by a line without a timestamp (its rest), and no line wider."""
    width = max(len(ln) for ln in lines)
    if width not in _WIDTHS:
        return 0
    cut = sum(1 for a, b in zip(lines, lines[1:]) if len(a) == width and timestamp_of(b) is None
              and timestamp_of(a) is not None)
    return width if cut >= 3 else 0


def _unwrap(text: str, width: int) -> str:
    out: list[str] = []
    joining = False
    for line in text.split("\n"):
        if joining and line and timestamp_of(line) is None:
            out[-1] += line
        else:
            out.append(line)
        joining = len(line) == width
    return "\n".join(out)


def _first_lines(text: str, n: int) -> list[str]:
    out: list[str] = []
    start = 0
    while len(out) < n and start < len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        out.append(text[start:end].rstrip("\r"))
        start = end + 1
    return out


def normalize_text(text: str, form: TextForm | None = None) -> str:
    """Plain log lines from a paste: markdown fences, blockquote markers, wrapping backticks and
    docker-compose prefixes removed (whole-text substitutions: one pass each, in C)."""
    form = form or detect_form(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if form.blockquote:
        text = _QUOTE_ALL.sub("", text)
    if "```" in text:
        text = _FENCE_ALL.sub("", text)
    if "`" in text:
        text = _BACKTICKS_ALL.sub(r"\1", text)
    if form.docker:
        text = _COMPOSE_ALL.sub("", text)
    if form.wrap:
        text = _unwrap(text, form.wrap)
    return text


def events_from_text(text: str, *, stream: str = "") -> list[LogEvent]:
    """Events from a pasted or exported log in any of the forms above (one event per line for plain text)."""
    form = detect_form(text)
    if form.json:
        return _json_events(json.loads(text))
    text = normalize_text(text, form)
    if form.csv:
        return _csv_events(text, stream)
    return events_from_lines(text.split("\n"), stream=stream)


def events_from_lines(lines: Iterable[str], *, stream: str = "") -> list[LogEvent]:
    """Turn plain log lines (a ``ts_log.log``, a container's output) into events; the timestamp comes from
    the line's leading timestamp (``2026-11-28T14:37:14,883``, gunicorn's, nginx's; UTC unless given), else
    None. A docker-compose prefix is removed; blank lines are skipped."""
    out: list[LogEvent] = []
    for line in lines:
        line = line.rstrip("\r\n")
        if not line:
            continue
        m = _DOCKER.match(line)
        if m:
            line = line[m.end():]
        out.append(LogEvent(timestamp_of(line), line, stream))
    return out


def _csv_events(text: str, stream: str) -> list[LogEvent]:
    out: list[LogEvent] = []
    for row in csv.reader(io.StringIO(text)):
        if not row or not "".join(row).strip():
            continue
        if len(row) >= 2 and _CSV_ROW.match(row[0] + ","):
            ts = int(row[0]) if row[0].isdigit() else timestamp_of(row[0])
            message = row[1]
            out.append(LogEvent(ts, message.rstrip("\n"), row[2] if len(row) > 2 else stream))
        elif _CSV_HEADER.match(",".join(row)):
            continue
        else:
            out.append(LogEvent(None, ",".join(row), stream))
    return out


def _json_events(doc: Any) -> list[LogEvent]:
    events = doc["events"] if isinstance(doc, dict) else doc
    if not isinstance(events, list) or not all(isinstance(e, dict) and "message" in e for e in events):
        raise ValueError("not a list of CloudWatch events")
    return [LogEvent(e.get("timestamp"), str(e["message"]).rstrip("\n"), e.get("logStreamName", e.get("stream", "")))
            for e in events]
