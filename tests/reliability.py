"""The reliability report (issue 8, item 5): a session-wide recorder the reliability suites feed.

Each case is one run of something hostile: a fault-injected runbook step (``test_faults``), a hostile archive
(``test_hostile_archives``), a cleanup property example (``test_cleanup_property``). At the end of the session
the ``conftest_reliability`` plugin writes ``reliability-report.json`` (``$RELIABILITY_REPORT``, else
``<rootdir>/runs/reliability-report.json``), prints a table, and fails the session when objects were lost or
something was wrongly deleted.

    from reliability import record_case
    record_case("fault:upload", faults=counts["faults"], completed=True, stopped_cleanly=False)
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Mapping

__all__ = ["record_case", "cases", "summary", "problems", "report_path", "write_report", "format_table", "reset"]

_LOCK = threading.Lock()
_CASES: list[dict[str, Any]] = []


def record_case(kind: str, *, faults: Mapping[str, int] | None = None, completed: bool, stopped_cleanly: bool,
                objects_lost: int = 0, wrongful_deletions: int = 0, name: str | None = None,
                detail: Any = None) -> None:
    """Record one case. ``faults``: faults injected per call class (``fault_counts(url)["faults"]``);
    ``completed``: the run did its job; ``stopped_cleanly``: it stopped with a named error (or a named finding)
    and left nothing half-done. A case that did neither counts as "neither" (a failure of the runbook)."""
    case = {"kind": kind, "name": name, "faults": {k: int(v) for k, v in (faults or {}).items() if v},
            "completed": bool(completed), "stopped_cleanly": bool(stopped_cleanly) and not completed,
            "objects_lost": int(objects_lost), "wrongful_deletions": int(wrongful_deletions)}
    if detail is not None:
        case["detail"] = detail
    with _LOCK:
        _CASES.append(case)


def cases() -> list[dict[str, Any]]:
    with _LOCK:
        return [dict(c) for c in _CASES]


def reset() -> None:
    with _LOCK:
        _CASES.clear()


def _totals(cs: list[dict[str, Any]]) -> dict[str, Any]:
    faults: Counter[str] = Counter()
    for c in cs:
        faults.update(c["faults"])
    return {
        "cases": len(cs),
        "faults_injected": sum(faults.values()),
        "faults_by_call_class": dict(sorted(faults.items())),
        "completed": sum(c["completed"] for c in cs),
        "stopped_cleanly": sum(c["stopped_cleanly"] for c in cs),
        "neither": sum(not c["completed"] and not c["stopped_cleanly"] for c in cs),
        "objects_lost": sum(c["objects_lost"] for c in cs),
        "wrongful_deletions": sum(c["wrongful_deletions"] for c in cs),
    }


def summary() -> dict[str, Any]:
    """Totals over every case, and per kind."""
    cs = cases()
    kinds = sorted({c["kind"] for c in cs})
    return {**_totals(cs), "by_kind": {k: _totals([c for c in cs if c["kind"] == k]) for k in kinds}}


def problems(s: Mapping[str, Any] | None = None) -> list[str]:
    """What makes the session fail: objects lost, wrongful deletions (both must be 0)."""
    s = s or summary()
    out = []
    if s["objects_lost"]:
        out.append(f"objects lost: {s['objects_lost']} (must be 0)")
    if s["wrongful_deletions"]:
        out.append(f"wrongful deletions: {s['wrongful_deletions']} (must be 0)")
    return out


def report_path(rootdir: str | os.PathLike[str]) -> Path:
    env = os.environ.get("RELIABILITY_REPORT")
    return Path(env) if env else Path(rootdir) / "runs" / "reliability-report.json"


def write_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    s = summary()
    data = {**s, "problems": problems(s), "ok": not problems(s), "cases_detail": cases()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return data


def format_table(s: Mapping[str, Any] | None = None) -> list[str]:
    s = s or summary()
    cols = ("cases", "faults", "completed", "stopped", "neither", "lost", "wrong-del")
    rows = [(k, v) for k, v in s["by_kind"].items()] + [("total", s)]
    width = max([len("kind")] + [len(k) for k, _ in rows])
    lines = [f"{'kind':<{width}}  " + "  ".join(f"{c:>9}" for c in cols)]
    for k, t in rows:
        vals = (t["cases"], t["faults_injected"], t["completed"], t["stopped_cleanly"], t["neither"],
                t["objects_lost"], t["wrongful_deletions"])
        lines.append(f"{k:<{width}}  " + "  ".join(f"{v:>9}" for v in vals))
    if s["faults_by_call_class"]:
        lines.append("faults injected per call class: " +
                     ", ".join(f"{k} {v}" for k, v in s["faults_by_call_class"].items()))
    return lines
