"""Rendering for the notebooks: the lib returns data, these show it (HTML in Studio, text headless).

The only module of the lib that writes output; every function takes what a step returned (or its record)
and displays it. Nothing here computes a result. Import it under its own name, so IPython's ``display``
stays what it is: ``from endpoint_runbook import display as rb``.

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
           "show_endpoint", "show_logs", "show_archive", "show_imports", "show_load_check", "show_verdict",
           "show_diagnosis", "show_rebuild_plan", "show_rebuild", "show_deploy", "show_verify", "show_cleanup",
           "cleanup_confirm", "health_label", "show_scan"]

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


def identity(aws: Any) -> None:
    card("AWS", aws.identity())


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
    from .errors import RunbookError

    def handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> list[str]:
        error_card(value)
        stb = [f"{etype.__name__} ({getattr(value, 'code', '')}): {value}"]
        shell._showtraceback(etype, value, stb)  # the cell's error output: one line (a headless run stops here)
        return stb

    ip.set_custom_exc((RunbookError,), handler)


def setup(run: Any, aws: Any) -> None:
    """The setup card: which run this notebook writes to, how it was chosen, the earlier records it found."""
    _show_runbook_errors()
    r = run.to_dict() if hasattr(run, "to_dict") else dict(run)
    how = {"given": "given (run_dir)", "named": "named run id (run_dir)", "started": "started a new run",
           "continued": "continued the newest run" + (f" of {r['endpoint_name']}" if r.get("endpoint_name") else "")}
    found = r.get("found") or {}
    card(f"run {r['run_id']}", {"run dir": r["run_dir"], "how": how.get(r["how"], r["how"]),
                                "endpoint": r.get("endpoint_name"),
                                "earlier records": ", ".join(os.path.basename(p) for p in found.values()) or "none"},
         status="ok" if found or r["how"] != "started" else None)
    identity(aws)


def _dict(x: Any) -> dict[str, Any]:
    return x.to_dict() if hasattr(x, "to_dict") else dict(x or {})


# -- step 1 ------------------------------------------------------------------------------------------------
def show_endpoint(facts: Any) -> None:
    """Sub-step 1: the endpoint, its config and model (its status proves nothing)."""
    ep = _dict(facts)
    section("Endpoint")
    card(ep["name"], {"status (does not prove it serves)": ep["status"], "failure reason": ep["failure_reason"],
                      "kind": ep.get("kind"), "config": ep["config_name"], "model": ep["model_name"],
                      "image": ep["image"],
                      "model data": ep["model_data_url"] or (ep.get("model_data_source") or {}).get("S3Uri"),
                      "program": ep["program"], **kind_fields(ep),
                      "network": "isolated (no host reachable)" if ep.get("network_isolation") else
                      "VPC " + ", ".join((ep.get("vpc_config") or {}).get("Subnets") or []) if ep.get("vpc_config")
                      else "internet access"},
         status="warn")


def kind_fields(ep: dict[str, Any]) -> dict[str, Any]:
    """What the endpoint's kind holds: its instances, its serverless memory and concurrency, its async output."""
    kind = ep.get("kind")
    if kind == "serverless":
        sc = ep.get("serverless_config") or {}
        return {"serverless": f"{sc.get('MemorySizeInMB')} MB memory · max concurrency {sc.get('MaxConcurrency')}"
                + (f" · provisioned {sc['ProvisionedConcurrency']}" if sc.get("ProvisionedConcurrency") else "")}
    out: dict[str, Any] = {"instances": f"{ep.get('instance_count')} × {ep.get('instance_type')}"}
    if kind == "async" or ep.get("async_config"):
        out["async output"] = ((ep.get("async_config") or {}).get("OutputConfig") or {}).get("S3OutputPath")
    return out


def show_logs(log_ev: dict[str, Any]) -> None:
    """Sub-step 2: what the CloudWatch logs say."""
    section("CloudWatch evidence")
    logs = log_ev or {}
    read = logs.get("read", {})
    card("log read", {"group": read.get("group"), "events read": read.get("events_read"),
                      "streams": len(read.get("streams", [])), "truncated": read.get("truncated"),
                      "error": read.get("error")})
    table([{"code": code, "kind": s.get("kind"), "count": s.get("count"), "first seen": s.get("first_seen"),
            "last seen": s.get("last_seen")} for code, s in logs.get("codes", {}).items()])
    cause = logs.get("cause") or {}
    lines(f"cause in the logs: {cause.get('code')} ({cause.get('confidence')})", cause.get("evidence") or [])


def show_archive(arch: dict[str, Any]) -> None:
    """Sub-step 3: the archive's inventory (the ✅/❌ table) and layout findings."""
    section("Archive inventory")
    arch = arch or {}
    if arch.get("presence"):
        table(arch["presence"], ["mark", "path", "size", "note"])
    if arch.get("summary"):
        s = arch["summary"]
        io = arch.get("io") or {}
        card("archive", {"uri": arch["uri"], "members": s["member_count"], "compressed": s["compressed_bytes"],
                         "expanded": s["total_size"], "sha256": s.get("sha256"),
                         **({"read": io["bytes_read"], "left in S3 (not downloaded)": io["bytes_withheld"]}
                            if "bytes_withheld" in io else {})})
    elif arch.get("message"):
        card("archive", {"uri": arch.get("uri"), "error": arch.get("message")}, status="bad")
    findings(arch.get("findings", []))


def show_imports(imp: Any) -> None:
    """Sub-step 4: the serving code's imports as the container resolves them."""
    if not imp:
        _display("<i>No import resolution (the archive is unreadable or has no model data).</i>",
                 "No import resolution.")
        return
    imp = _dict(imp)
    section("Import resolution (as the container resolves it)")
    table([{"where": f"{r['file']}:{r['line']}", "import": r["module"], "status": r["status"],
            "guarded": r.get("guard") or "", "note": r.get("note") or ""}
           for r in imp["imports"] if r["status"] not in ("stdlib",)], limit=60)
    findings(imp["findings"])


def show_load_check(lc: Any, *, title: str = "Load check (clean serving environment)") -> None:
    """Sub-step 5: did model_fn load in a clean serving environment."""
    if not lc:
        _display("<i>No load check (turned off, or the archive is unreadable).</i>", "No load check.")
        return
    lc = _dict(lc)
    section(title)
    skipped = lc.get("stage") == "skipped"
    result = "passes" if lc["ok"] else "not run: " + (lc.get("skipped") or "") if skipped else f"fails at {lc['stage']}"
    card("load check", {"result": result,
                        "error": f"{lc['error_type']}: {lc['error']}" if lc.get("error_type") and not skipped else None,
                        "environment": " · ".join(x for x in (lc.get("profile"), lc.get("mode")) if x) or None,
                        "handlers called by": lc.get("caller"),
                        "seconds": lc.get("seconds")}, status="ok" if lc["ok"] else "warn" if skipped else "bad")
    tried = [f"{n.get('host')} ({n.get('stage')}; {(n.get('where') or {}).get('file') or '?'}:"
             f"{(n.get('where') or {}).get('line') or '?'})" for n in lc.get("network") or []]
    if tried:
        lines("hosts it tried (no network here: refused, recorded)", list(dict.fromkeys(tried))[:8])
    devs = lc.get("deviations") or []
    loud = [d for d in devs if d.startswith(("FALLBACK", "STAND-IN", "WARNING"))]
    if loud:
        lines("this environment is not the image", loud)
    if devs:
        lines("how it differs from the image", [d for d in devs if d not in loud][:8])
    if lc.get("traceback"):
        lines("traceback", lc["traceback"].strip().splitlines()[-8:])
    if lc.get("output_tail"):
        lines("model_fn said", lc["output_tail"][-6:])


def show_verdict(d: Any) -> None:
    """Sub-step 6: the verdict card and the fix."""
    rec = _dict(d)
    v = rec["verdict"]
    section("Verdict")
    fix = v.get("fix") or {}
    card(f"cause: {v['cause']} ({v['confidence']} confidence)", {"summary": v["summary"]},
         status="bad" if v["cause"] not in ("unknown", "inconclusive") else "warn")
    causes = v.get("causes") or []
    if len(causes) > 1 or v.get("set_aside"):
        table([{"stage": c["stage"], "cause": c["code"] + (" (primary)" if c.get("primary") else ""),
                "seen by": ", ".join(c.get("seen_by", [])), "what": c.get("summary", "")} for c in causes]
              + [{"stage": "set aside", "cause": a["code"], "seen by": ", ".join(a.get("seen_by", [])),
                  "what": a.get("why", "")} for a in v.get("set_aside") or []])
    if fix.get("additions") or fix.get("extras"):
        table([{"add": a["source"], "at": a["target"], "why": a.get("why", "")}
               for a in fix.get("additions", []) + fix.get("extras", [])])
    if fix.get("runner_up"):
        table([{"package": r["package"], "chosen": r["chosen"], "runner-up": r["runner_up"]["source"],
                "runner-up has": r["runner_up"].get("why", "")} for r in fix["runner_up"]])
    if (fix.get("requirements") or {}).get("diff"):
        lines("code/requirements.txt (step 2 applies this edit)", fix["requirements"]["diff"].splitlines())
    if fix.get("notes"):
        lines("notes", fix["notes"])
    after = v.get("after_fix") or {}
    if after.get("checked"):
        card("load check with the fix laid in", {"result": after.get("summary"), "advice": after.get("advice")},
             status="ok" if after.get("ok") else "warn")
    lines("what each view said", v.get("seen", []))
    limits = [f for f in rec.get("findings") or [] if str(_dict(f).get("code", "")).startswith("serverless-")]
    if limits:
        section("Serverless limits")
        findings(limits)


def show_diagnosis(d: Any) -> None:
    """All of step 1 from its result or its record (``01-diagnose.json``)."""
    rec = _dict(d)
    show_endpoint(rec["endpoint"])
    show_logs(rec["logs"])
    show_archive(rec["archive"])
    if rec.get("imports"):
        show_imports(rec["imports"])
    if rec.get("load_check"):
        show_load_check(rec["load_check"])
    show_verdict(rec)


# -- step 2 ------------------------------------------------------------------------------------------------
def show_rebuild_plan(rb: Any) -> None:
    """Sub-step 1 of the rebuild: what goes where."""
    step = rb.step if hasattr(rb, "step") else rb
    rec = _dict(step)
    card("rebuild plan", {"source (only read)": rec["source_uri"], "target (a new key)": rec["target_uri"],
                          "without a load check": "refused (require_load_check)" if rec.get("require_load_check")
                          else "goes on when the static analysis passes"})
    table([{"add": a["source"], "at": a["target"]} for a in rec.get("additions", [])])
    if (rec.get("requirements") or {}).get("diff"):
        lines("code/requirements.txt is edited", rec["requirements"]["diff"].splitlines())


def show_rebuild(r: Any) -> None:
    """The rebuild as far as it went: the diff (build), the load check (check), the upload."""
    step = r.step if hasattr(r, "step") and not hasattr(r, "source_uri") else r
    rec = _dict(step)
    card(f"rebuilt archive: {rec.get('status')}",
         {"source": rec["source_uri"], "source sha256": rec.get("source_sha256"),
          "target": rec["target_uri"], "result sha256": rec.get("result_sha256"),
          "method": rec.get("method"), "seconds": rec.get("seconds"), "uploaded": rec.get("uploaded"),
          "error": rec.get("error")},
         status="ok" if rec.get("uploaded") else ("bad" if rec.get("error") else "warn"))
    diff = rec.get("diff", {})
    if diff:
        table([{"change": "added", "path": a["path"], "size": a.get("size")} for a in diff.get("added", [])] +
              [{"change": "replaced", "path": a["path"], "size": a.get("size")} for a in diff.get("replaced", [])])
        card("unchanged members", {"count": diff.get("unchanged_count"), "bytes": diff.get("unchanged_bytes")})
    if rec.get("load_check"):
        show_load_check(rec["load_check"], title="Load check of the rebuilt archive")
    static = rec.get("static_check")
    if rec.get("unchecked") and static:
        card("no load was tried: the static analysis decided", {
            "why no load check": rec["unchecked"], "imports": static.get("summary"),
            "missing packages": static.get("missing_packages") or None},
            status="ok" if static.get("ok") else "bad")


# -- the fleet scan (00) ------------------------------------------------------------------------------------
_SCAN_SEV = {"critical": "🔥 critical", "error": "❌ error", "warning": "⚠️ warning", "info": "ℹ️ info", "ok": "✅ ok"}


def show_scan(result: Any, reports: dict[str, str] | None = None) -> None:
    """The scan: a summary card, the broken endpoints worst first (each with its cause and what starts diagnose
    on it), the accounts and regions that could not be scanned."""
    broken = result.broken
    card(f"fleet scan: {len(broken)} broken of {len(result.endpoints)}",
         {"regions": result.regions, "accounts": result.accounts, "by code": result.counts,
          "not scanned": [f"{f.account}/{f.region or '*'}: {f.code}" for f in result.failures] or "nothing",
          "seconds": result.seconds, "API calls": sum(result.api_calls.values()),
          **({"report": f"{reports['json']}, {reports['csv']}"} if reports else {})},
         status="bad" if broken else ("warn" if result.failures else "ok"))
    section("Broken endpoints, worst first (InService but failing: the ones nobody sees)")
    table([{"#": i, "severity": _SCAN_SEV.get(e.severity, e.severity), "code": e.code,
            "where": f"{e.account}/{e.region}", "endpoint": e.name, "kind": e.kind, "status": e.status,
            "cause": e.cause, "notes": "; ".join(e.notes)} for i, e in enumerate(broken, 1)])
    if broken:
        section("Start diagnose on one: 01_diagnose.ipynb with these parameters (or the command)")
        table([{"endpoint": e.name, "parameters": e.diagnose, "command": e.command} for e in broken])
    if result.failures:
        section("Not scanned")
        table([{"account": f.account, "region": f.region or "(all)", "code": f.code, "while": f.what,
                "message": f.message} for f in result.failures])


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
                    recent_minutes: float, release_rollback: bool = False) -> Any:
    """In Studio, after a dry run: type the endpoint name and press the button to delete what the plan names.
    The deletion's report renders into the widget's own ``ipywidgets.Output`` (a button callback's output
    shows nowhere else) and is recorded in the run dir (``05-cleanup.json``). Headless runs never need it
    (they pass the ``confirm`` parameter). Returns the widget box (``.output`` holds the report)."""
    from . import cleanup
    from .display_cleanup import confirm_widget, report_html, report_summary

    if not report.dry_run or not report.plan.to_delete:
        _display("<i>Nothing left to confirm.</i>", "Nothing left to confirm.")
        return None
    import ipywidgets as w

    out = w.Output()

    def on_confirm(text: str) -> Any:
        with out:
            try:
                result = cleanup.run(aws, run_dir=run_dir, endpoint_name=list(report.plan.endpoint_names),
                                     confirm=text, dry_run=False, force=force, include_outputs=include_outputs,
                                     recent_minutes=recent_minutes, release_rollback=release_rollback)
            except Exception as e:
                _display(f"<p style='color:{_COLOUR['bad']}'><b>Cleanup failed</b>: {html.escape(str(e))}</p>"
                         f"<p>The record is in <code>{html.escape(run_dir)}</code>.</p>", f"Cleanup failed: {e}")
                raise
            _display(report_html(result) + f"<p>Recorded in <code>{html.escape(run_dir)}/05-cleanup.json</code></p>",
                     f"cleanup {result.status}: {report_summary(result)}")
        return result

    box = confirm_widget(report.plan, on_confirm)
    box.children = (*box.children, out)
    box.output = out
    from IPython.display import display as ipy_display

    ipy_display(box)
    return box


# -- steps 3 and 4 (their renderers live with the pictures in display_verify) ------------------------------
def show_deploy(result: Any) -> None:
    """The deploy as far as it went (after any sub-step: a ``Deployment`` or a ``DeployResult``/record)."""
    from .display_verify import show_deploy as _show

    _show(result.result if hasattr(result, "result") and hasattr(result, "plan") else result)


def show_verify(result: Any, aws: Any = None) -> None:
    from .display_verify import show_verify as _show

    _show(result, aws)


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
