"""Rendering of step 2, the archive rebuild: the plan and the result."""

from __future__ import annotations

from typing import Any

from .common import _dict, card, lines, table
from .diagnose import show_load_check

__all__ = ["show_rebuild_plan", "show_rebuild"]


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
