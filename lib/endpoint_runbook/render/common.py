"""The pieces every step's rendering shares: progress lines, cards, tables, findings, the error card, the
notebook's setup cell, and the inline-styled HTML helpers (see :mod:`endpoint_runbook.render`).

The HTML survives JupyterLab's sanitizer of untrusted notebooks (an executed notebook opened later): plain
tables and inline ``style`` attributes only, no ``<style>`` block, no class-based layout, no script.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
from typing import Any, Iterable, Sequence

__all__ = ["progress", "headless", "identity", "setup", "card", "table", "findings", "lines", "section",
           "error_card", "health_label", "HEADLESS_ENV"]

#: Set by the runner (``endpoint-runbook run``): the notebook runs headless, progress is plain lines.
HEADLESS_ENV = "ENDPOINT_RUNBOOK_HEADLESS"

_SEV = {"error": "❌", "warning": "⚠️", "info": "ℹ️"}


def _display(html_text: str, plain: str) -> None:
    """Show HTML in a notebook, with a plain-text twin (what a headless reader of the executed notebook and
    a terminal see)."""
    try:
        from IPython.display import display
    except ImportError:
        print(plain)
        return
    display({"text/html": html_text, "text/plain": plain}, raw=True)


def headless() -> bool:
    """True when the runner executes the notebook (no person looks at it live)."""
    return os.environ.get(HEADLESS_ENV, "") not in ("", "0")


class _Progress:
    """The steps' ``progress=`` callback: a line with the time per stage; bounded waits draw a notebook bar
    (``tqdm.auto``, a widget) in Studio and print plain lines headless (``bar`` tells them which)."""

    @property
    def bar(self) -> bool:
        return not headless()

    def __call__(self, message: str) -> None:
        print(f"{dt.datetime.now().strftime('%H:%M:%S')}  {message}", flush=True)


progress = _Progress()


def section(title: str) -> None:
    _display(f"<h3>{html.escape(title)}</h3>", f"\n== {title} ==")


_COLOUR = {"ok": "#1b7f3b", "bad": "#b3261e", "warn": "#8a6d00"}


def card(title: str, fields: dict[str, Any], *, status: str | None = None) -> None:
    """A titled table of fields; the title's colour and left rule say ok / bad / warn."""
    colour = _COLOUR.get(status or "", "#333")
    rows = "".join(f"<tr><th style='text-align:left;padding-right:1em;vertical-align:top'>{html.escape(str(k))}"
                   f"</th><td style='text-align:left'>{html.escape(_fmt(v))}</td></tr>" for k, v in fields.items())
    width = max((len(str(k)) for k in fields), default=0)
    plain = "\n".join([f"[{title}]"] + [f"  {str(k):<{width}}  {_fmt(v)}" for k, v in fields.items()])
    _display(f"<table style='border-left:4px solid {colour};margin:6px 0'><tr><th colspan='2' "
             f"style='text-align:left;color:{colour}'>{html.escape(title)}</th></tr>{rows}</table>", plain)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, *, limit: int = 200) -> None:
    if not rows:
        _display("<i>(none)</i>", "  (none)")
        return
    columns = list(columns or rows[0].keys())
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td style='text-align:left;font-family:monospace'>"
                                    f"{html.escape(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>"
                   for r in rows[:limit])
    more = f"<tr><td colspan={len(columns)}><i>… {len(rows) - limit} more</i></td></tr>" if len(rows) > limit else ""
    cells = [[_fmt(r.get(c))[:80] for c in columns] for r in rows[:limit]]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    plain = "\n".join(["  ".join(c.ljust(w) for c, w in zip(columns, widths))] +
                      ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells] +
                      ([f"… {len(rows) - limit} more"] if len(rows) > limit else []))
    _display(f"<table><tr>{head}</tr>{body}{more}</table>", plain)


def findings(items: Iterable[Any]) -> None:
    rows = []
    for f in items:
        d = f.to_dict() if hasattr(f, "to_dict") else dict(f)
        rows.append({"": _SEV.get(d["severity"], ""), "code": d["code"], "message": d["message"],
                     "evidence": "; ".join(d.get("evidence", [])[:3])})
    table(rows)


def lines(title: str, items: Iterable[str]) -> None:
    text = "\n".join(items)
    _display(f"<b>{html.escape(title)}</b><pre style='white-space:pre-wrap;font-size:90%'>{html.escape(text)}</pre>",
             f"{title}\n{text}")


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".")
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10_000:
        return f"{v:,}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    return str(v)


def identity(who: dict[str, Any]) -> None:
    """Who the notebook runs as (``Aws.identity()``: account, ARN, region, endpoint URL)."""
    card("AWS", who)


def error_card(e: BaseException) -> None:
    """A runbook error as a card (what stopped, what to do; a missing permission: the action, the resource and what
    was already done) instead of a traceback."""
    fields: dict[str, Any] = {"code": getattr(e, "code", type(e).__name__), "what happened": str(e.args[0]) if e.args else str(e)}
    finding = getattr(e, "finding", None)
    if finding is not None:
        missing = finding.data.get("missing") or []
        fields["grant"] = "; ".join(f"{g['action']} on {g['resource']}" for g in missing)
        fields["already done"] = "; ".join(finding.data.get("done") or []) or "nothing: nothing was changed"
        fields["AWS said"] = "; ".join(finding.evidence)
    if getattr(e, "hint", None):
        fields["what to do"] = e.hint  # type: ignore[attr-defined]
    card(f"stopped: {fields['code']}", fields, status="bad")


def _show_runbook_errors() -> None:
    """In a notebook: a RunbookError (bad input, a missing permission, a failed check) shows as :func:`error_card`
    and one line, not a traceback; the cell still fails, so a headless run stops there. Tracebacks stay for bugs."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None or not hasattr(ip, "set_custom_exc"):
        return
    from ..errors import RunbookError

    def handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> list[str]:
        error_card(value)
        stb = [f"{etype.__name__} ({getattr(value, 'code', '')}): {value}"]
        shell._showtraceback(etype, value, stb)  # the cell's error output: one line (a headless run stops here)
        return stb

    ip.set_custom_exc((RunbookError,), handler)


def setup(run: Any, who: dict[str, Any]) -> None:
    """The setup card: which run this notebook writes to, how it was chosen, the earlier records it found; and
    who it runs as (``aws.identity()``, read by the caller: rendering calls no AWS)."""
    _show_runbook_errors()
    r = run.to_dict() if hasattr(run, "to_dict") else dict(run)
    how = {"given": "given (run_dir)", "named": "named run id (run_dir)", "started": "started a new run",
           "continued": "continued the newest run" + (f" of {r['endpoint_name']}" if r.get("endpoint_name") else "")}
    found = r.get("found") or {}
    card(f"run {r['run_id']}", {"run dir": r["run_dir"], "how": how.get(r["how"], r["how"]),
                                "endpoint": r.get("endpoint_name"),
                                "earlier records": ", ".join(os.path.basename(p) for p in found.values()) or "none"},
         status="ok" if found or r["how"] != "started" else None)
    identity(who)


def _dict(x: Any) -> dict[str, Any]:
    return x.to_dict() if hasattr(x, "to_dict") else dict(x or {})


_REGEX_TOKENS = [(r"\\d\+|\\d\*|\[0-9\]\+", "N"), (r"\\s\+|\\s\*|\\s", " "), (r"\.\*|\.\+", "…"),
                 (r"\\(.)", r"\1"), (r"[\^$]", "")]


def health_label(h: dict[str, Any]) -> str:
    """A health line's label: its name when the params gave one, else its pattern made readable
    (``Loaded metadata for \\d+ categories`` → ``Loaded metadata for N categories``)."""
    if h.get("name") and h.get("name") != h.get("pattern"):
        return str(h["name"])
    text = str(h.get("pattern") or "")
    for rx, repl in _REGEX_TOKENS:
        text = re.sub(rx, repl, text)
    return text


# Inline styles only: JupyterLab's sanitizer drops <style> blocks (and classes style nothing) in an
# untrusted notebook, i.e. any executed notebook opened later. Pictures sit in table cells, not a flex grid.
_TABLE = "style='border-collapse:collapse;margin:6px 0;font-size:12px'"
_TD = "style='border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top'"
_TH = "style='border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;background-color:#f3f3f3'"
_OK = "style='color:#17702a;font-weight:bold'"
_BAD = "style='color:#b00020;font-weight:bold'"
_PER_ROW = 6


def _ok(text: str) -> str:
    return f"<span {_OK}>{text}</span>"


def _bad(text: str) -> str:
    return f"<span {_BAD}>{text}</span>"


def _rows(rows: list[tuple[str, str]]) -> str:
    return f"<table {_TABLE}>" + "".join(f"<tr><th {_TH}>{k}</th><td {_TD}>{v}</td></tr>" for k, v in rows) + "</table>"


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _fmt_s(x: Any) -> str:
    return "–" if x is None else f"{float(x):.2f} s"
