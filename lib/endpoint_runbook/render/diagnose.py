"""Rendering of step 1, the diagnosis: the endpoint, its logs, archive, imports, load check and the verdict."""

from __future__ import annotations

from typing import Any

from .common import (
    _dict,
    _display,
    card,
    findings,
    lines,
    section,
    table,
)

__all__ = ["show_endpoint", "kind_fields", "show_logs", "show_archive", "show_imports", "show_load_check", "show_verdict", "show_diagnosis"]


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
        table([{"stage": c["stage"], "cause": c["code"] + (" (primary)" if c.get("primary") else
                                                          " (next, once the fix is in)" if c.get("next") else ""),
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
    remedies = [r for r in fix.get("remedies") or [] if r.get("where") != "archive"]
    if remedies:
        table([{"remedy": f"{r['where']} {r['field']}", "before": "not set" if r.get("before") is None else
                r["before"], "after": r["after"], "applied by": r.get("applied_by", "step 3"), "sized from": r["why"]}
               for r in remedies])
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
