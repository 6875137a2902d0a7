"""Rendering of the fleet scan (notebook 00)."""

from __future__ import annotations

from typing import Any

from .common import card, section, table

__all__ = ["show_scan"]

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
