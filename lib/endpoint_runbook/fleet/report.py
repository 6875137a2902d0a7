"""The scan's reports: ``scan.json`` (everything, for automation and the next scan to compare) and ``scan.csv``
(one row per endpoint, worst first, for a spreadsheet)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

from ..records import runs_root
from .scan import FleetScan

__all__ = ["CSV_COLUMNS", "write_reports", "read_report", "default_report_dir", "csv_row"]

CSV_COLUMNS = ("rank", "severity", "code", "account", "region", "endpoint", "kind", "status", "cause",
               "log_cause", "crash_loop", "queued", "failed_requests", "failure_reason", "notes", "diagnose_command")


def default_report_dir() -> Path:
    return runs_root() / f"scan-{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}"


def csv_row(rank: int, e: Any) -> dict[str, Any]:
    return {"rank": rank, "severity": e.severity, "code": e.code, "account": e.account, "region": e.region,
            "endpoint": e.name, "kind": e.kind, "status": e.status, "cause": e.cause,
            "log_cause": e.log.get("cause", ""), "crash_loop": bool(e.log.get("crash_loop")),
            "queued": int(e.queued), "failed_requests": int(e.error_count), "failure_reason": e.failure_reason or "",
            "notes": "; ".join(e.notes), "diagnose_command": e.command if e.broken else ""}


def write_reports(result: FleetScan, report_dir: str | Path | None = None) -> dict[str, str]:
    """Write ``scan.json`` and ``scan.csv`` into ``report_dir`` (default ``<runs>/scan-<time>``); return their
    paths."""
    out = Path(report_dir) if report_dir else default_report_dir()
    out.mkdir(parents=True, exist_ok=True)
    js, cs = out / "scan.json", out / "scan.csv"
    tmp = js.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.to_dict(), indent=1, default=str) + "\n")
    tmp.replace(js)
    with open(cs.with_suffix(".csv.tmp"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for i, e in enumerate(result.endpoints, 1):
            w.writerow(csv_row(i, e))
    cs.with_suffix(".csv.tmp").replace(cs)
    return {"json": str(js), "csv": str(cs)}


def read_report(path: str | Path) -> FleetScan:
    """A scan read back from its ``scan.json`` (or the folder holding it)."""
    p = Path(path)
    return FleetScan.from_dict(json.loads((p / "scan.json" if p.is_dir() else p).read_text()))
