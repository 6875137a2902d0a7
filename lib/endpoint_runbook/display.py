"""Rendering for the notebooks: the lib returns data, these show it (HTML in Studio, text headless).

The only module of the lib that writes output; every function takes what a step returned (or its record)
and displays it. Nothing here computes a result.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any, Iterable, Sequence

__all__ = ["progress", "identity", "card", "table", "findings", "show_diagnosis", "show_rebuild", "section"]

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


def progress(message: str) -> None:
    """A progress line with the time, for the steps' ``progress=`` callbacks."""
    print(f"{dt.datetime.now().strftime('%H:%M:%S')}  {message}", flush=True)


def section(title: str) -> None:
    _display(f"<h3>{html.escape(title)}</h3>", f"\n== {title} ==")


def card(title: str, fields: dict[str, Any], *, status: str | None = None) -> None:
    colour = {"ok": "#1b7f3b", "bad": "#b3261e", "warn": "#8a6d00"}.get(status or "", "#333")
    rows = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(str(k))}</th>"
                   f"<td style='text-align:left'>{html.escape(_fmt(v))}</td></tr>" for k, v in fields.items())
    width = max((len(str(k)) for k in fields), default=0)
    plain = "\n".join([f"[{title}]"] + [f"  {str(k):<{width}}  {_fmt(v)}" for k, v in fields.items()])
    _display(f"<div style='border-left:4px solid {colour};padding:4px 10px;margin:6px 0'>"
             f"<b style='color:{colour}'>{html.escape(title)}</b><table>{rows}</table></div>", plain)


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


def identity(aws: Any) -> None:
    card("AWS", aws.identity())


# -- step 1 ------------------------------------------------------------------------------------------------
def show_diagnosis(d: Any) -> None:
    rec = d.to_dict() if hasattr(d, "to_dict") else d
    ep, v = rec["endpoint"], rec["verdict"]
    section("Endpoint")
    card(ep["name"], {"status (does not prove it serves)": ep["status"], "failure reason": ep["failure_reason"],
                      "config": ep["config_name"], "model": ep["model_name"], "image": ep["image"],
                      "model data": ep["model_data_url"] or (ep.get("model_data_source") or {}).get("S3Uri"),
                      "program": ep["program"],
                      "instances": f"{ep['instance_count']} × {ep['instance_type']}",
                      "async output": ((ep.get("async_config") or {}).get("OutputConfig") or {}).get("S3OutputPath")},
         status="warn")
    section("CloudWatch evidence")
    logs = rec["logs"]
    read = logs.get("read", {})
    card("log read", {"group": read.get("group"), "events read": read.get("events_read"),
                      "streams": len(read.get("streams", [])), "truncated": read.get("truncated"),
                      "error": read.get("error")})
    table([{"code": code, "kind": s.get("kind"), "count": s.get("count"), "first seen": s.get("first_seen"),
            "last seen": s.get("last_seen")} for code, s in logs.get("codes", {}).items()])
    lines(f"cause in the logs: {logs['cause']['code']} ({logs['cause']['confidence']})", logs["cause"]["evidence"])
    section("Archive inventory")
    arch = rec["archive"]
    if arch.get("presence"):
        table(arch["presence"], ["mark", "path", "size", "note"])
    if arch.get("summary"):
        s = arch["summary"]
        card("archive", {"uri": arch["uri"], "members": s["member_count"], "compressed": s["compressed_bytes"],
                         "expanded": s["total_size"], "sha256": s["sha256"]})
    findings(arch.get("findings", []))
    if rec.get("imports"):
        section("Import resolution (as the container resolves it)")
        imp = rec["imports"]
        table([{"where": f"{r['file']}:{r['line']}", "import": r["module"], "status": r["status"],
                "guarded": r.get("guard") or "", "note": r.get("note") or ""}
               for r in imp["imports"] if r["status"] not in ("stdlib",)], limit=60)
        findings(imp["findings"])
    if rec.get("load_check"):
        section("Load check (clean serving environment)")
        lc = rec["load_check"]
        card("load check", {"result": "passes" if lc["ok"] else f"fails at {lc['stage']}",
                            "error": f"{lc['error_type']}: {lc['error']}" if lc["error_type"] else None,
                            "seconds": lc["seconds"]}, status="ok" if lc["ok"] else "bad")
        if lc.get("traceback"):
            lines("traceback", lc["traceback"].strip().splitlines()[-8:])
    section("Verdict")
    fix = v.get("fix") or {}
    card(f"cause: {v['cause']} ({v['confidence']} confidence)", {"summary": v["summary"]},
         status="bad" if v["cause"] not in ("unknown", "inconclusive") else "warn")
    if fix.get("additions") or fix.get("extras"):
        table([{"add": a["source"], "at": a["target"], "why": a.get("why", "")}
               for a in fix.get("additions", []) + fix.get("extras", [])])
    if fix.get("notes"):
        lines("notes", fix["notes"])
    lines("what each view said", v.get("seen", []))


# -- step 2 ------------------------------------------------------------------------------------------------
def show_rebuild(r: Any) -> None:
    rec = r.to_dict() if hasattr(r, "to_dict") else r
    card("rebuilt archive", {"source": rec["source_uri"], "source sha256": rec["source_sha256"],
                             "target": rec["target_uri"], "result sha256": rec["result_sha256"],
                             "method": rec.get("method"), "seconds": rec.get("seconds"),
                             "uploaded": rec.get("uploaded")}, status="ok" if rec.get("uploaded") else "warn")
    diff = rec.get("diff", {})
    table([{"change": "added", "path": a["path"], "size": a.get("size")} for a in diff.get("added", [])] +
          [{"change": "replaced", "path": a["path"], "size": a.get("size")} for a in diff.get("replaced", [])])
    card("unchanged members", {"count": diff.get("unchanged_count"), "bytes": diff.get("unchanged_bytes")})
    lc = rec.get("load_check")
    if lc:
        card("load check of the rebuilt archive", {"result": "passes" if lc["ok"] else f"fails at {lc['stage']}",
                                                   "error": lc.get("error"), "seconds": lc.get("seconds")},
             status="ok" if lc["ok"] else "bad")
        if lc.get("output_tail"):
            lines("model_fn said", lc["output_tail"][-6:])


# -- step 5 ------------------------------------------------------------------------------------------------
def show_cleanup(report: Any) -> None:
    plan = report.plan
    section("Plan (dependency order)")
    table([{"action": i.action, "kind": i.kind, "name": i.name, "reason": i.reason} for i in plan.items])
    status = {"done": "ok", "nothing-to-do": "ok", "dry-run": "warn"}.get(report.status, "bad")
    card(f"cleanup: {report.status}", {"endpoints": plan.endpoint_names, "dry run": report.dry_run,
                                       "force": report.force, "deleted": len(report.deleted),
                                       "failed": len(report.failed), "seconds": report.seconds}, status=status)
    if report.outcomes:
        table([{"outcome": o.outcome, "kind": o.kind, "name": o.name, "message": o.message}
               for o in report.outcomes])


def cleanup_confirm(report: Any, aws: Any, *, run_dir: str, force: bool, include_outputs: bool,
                    recent_minutes: float) -> None:
    """In Studio, after a dry run: type the endpoint name and press the button to delete what the plan names.
    Headless runs never need it (they pass the ``confirm`` parameter)."""
    from . import cleanup
    from .display_cleanup import confirm_widget

    if not report.dry_run or not report.plan.to_delete:
        _display("<i>Nothing left to confirm.</i>", "Nothing left to confirm.")
        return

    def on_confirm(text: str) -> Any:
        result = cleanup.run(aws, run_dir=run_dir, endpoint_name=",".join(report.plan.endpoint_names),
                             confirm=text, dry_run=False, force=force, include_outputs=include_outputs,
                             recent_minutes=recent_minutes)
        show_cleanup(result)
        return result

    from IPython.display import display

    display(confirm_widget(report.plan, on_confirm))


# -- steps 3 and 4 (their renderers live with the pictures in display_verify) ------------------------------
def show_deploy(result: Any) -> None:
    from .display_verify import show_deploy as _show

    _show(result)


def show_verify(result: Any, aws: Any = None) -> None:
    from .display_verify import show_verify as _show

    _show(result, aws)
