"""Rendering of step 3, the deploy: names, created vs reused, timings, the smoke request, the failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import _bad, _e, _fmt_s, _ok, _rows

__all__ = ["deploy_html", "show_deploy"]


def deploy_html(result: Any) -> str:
    """The deploy step's outcome: names, created vs reused, timings, the smoke request, the failure."""
    d = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    ok = d.get("ok")
    rows = [
        ("result", (_ok if ok else _bad)(_e(d.get("status")))),
        ("endpoint", (f"{_e(d.get('endpoint_name'))} ({_e(d.get('endpoint_status'))}) — "
                     f"{_e((d.get('actions') or {}).get('endpoint', '–'))}")),
        ("endpoint config", (f"{_e(d.get('endpoint_config_name'))} — "
                            f"{_e((d.get('actions') or {}).get('endpoint_config', '–'))}")),
        ("model", f"{_e(d.get('model_name'))} — {_e((d.get('actions') or {}).get('model', '–'))}"),
        ("mode", _e(d.get("mode")) + (f" — previous config {_e(d.get('previous_endpoint_config_name'))} (the "
                                      "rollback target)" if d.get("previous_endpoint_config_name") else "")),
        ("kind", _e(d.get("kind")) + _kind_detail(d.get("plan") or {})),
        ("image", _e((d.get("plan") or {}).get("image_uri"))),
        ("model data", _e((d.get("plan") or {}).get("model_data_url"))),
    ]
    diff = (d.get("plan") or {}).get("remedy_diff") or []
    if diff:  # step 1's remedies, as this deploy applies them
        why = "<br/>".join(f"{_e(r.get('field'))}: {_e(r.get('why'))}" + (" (set in params)" if r.get("set_by") ==
                                                                           "params" else "")
                           for r in (d.get("plan") or {}).get("remedies") or [] if r.get("where") not in ("archive",))
        rows.append(("remedies applied", "<code>" + "<br/>".join(_e(x) for x in diff) + "</code>"
                     + (f"<br/><i>{why}</i>" if why else "")))
    t = d.get("timings") or {}
    rows.append(("timings", " · ".join(f"{_e(k)} {_fmt_s(v)}" for k, v in t.items() if v is not None)))
    sm = d.get("smoke") or {}
    if sm:
        where = sm.get("output_location") or sm.get("failure_location") or (
            f"the response ({(sm.get('summary') or {}).get('bytes')} bytes)" if sm.get("status") == "completed"
            else sm.get("failure_reason"))
        rows.append(("smoke request", (f"{_e(sm.get('status'))} in {_fmt_s(sm.get('latency_s'))} — "
                                      f"{_e(sm.get('input'))} → {_e(where)}")))
    if d.get("failure_reason"):
        rows.append(("failure reason", _bad(_e(d["failure_reason"]))))
    cause = ((d.get("log_evidence") or {}).get("cause") or {})
    if cause:
        scope = (d.get("log_evidence") or {}).get("scope")
        where = (f"<br/><i>only the containers of {_e(scope.get('config'))}, since {_e(scope.get('since'))} "
                 f"({len(scope.get('left_out_streams') or [])} stream(s) of the fleet before the update left "
                 "out)</i>" if scope else "")
        lines = ([_logged_line(x) for x in cause["logged"][:8]] if cause.get("logged")
                 else [_e(x) for x in (cause.get("evidence") or [])[:8]])
        rows.append(("log evidence", _e(cause.get("summary")) + where + "<br/><code>" + "<br/>".join(lines)
                     + "</code>"))
    for f in d.get("preflight") or []:
        if f.get("severity") != "info":
            rows.append((f"preflight: {_e(f.get('code'))}", f"{_e(f.get('severity'))} — {_e(f.get('message'))}"))
    if d.get("rollback"):
        rb = d["rollback"]
        rows.append(("rollback", f"{_e(rb.get('from_config'))} → {_e(rb.get('to_config'))} "
                     f"({_e(rb.get('endpoint_status'))}, {_fmt_s(rb.get('seconds'))})"))
    if d.get("error"):
        rows.append(("error", f"{_bad(_e(d['error'].get('code')))}: {_e(d['error'].get('message'))}"))
    return "<div>" + _rows(rows) + "</div>"


def _logged_line(x: Mapping[str, Any]) -> str:
    """An evidence line with when (first, and last when it repeated) and where it was logged."""
    count = x.get("count") or 1
    when = _e(x.get("first_seen") or "")
    if count > 1 and x.get("last_seen") != x.get("first_seen"):
        when += f" … {_e(x.get('last_seen'))} (×{count})"
    return f"{when} {_e(x.get('stream') or '')}: {_e(x.get('line'))}"


def _kind_detail(plan: Mapping[str, Any]) -> str:
    sc = plan.get("serverless_config") or {}
    if sc:
        return f" — {_e(sc.get('MemorySizeInMB'))} MB, max concurrency {_e(sc.get('MaxConcurrency'))}"
    if plan.get("instance_type"):
        return f" — {_e(plan.get('instance_count'))} × {_e(plan.get('instance_type'))}"
    return ""


def show_deploy(result: Any) -> None:
    """The deploy as far as it went (after any sub-step: a ``Deployment`` or a ``DeployResult``/record)."""
    from IPython.display import HTML, display

    display(HTML(deploy_html(result.result if hasattr(result, "result") and hasattr(result, "plan") else result)))
