"""Step records: each step writes ``<run-dir>/<NN>-<step>.json``; the next reads it for values its own
parameters leave unset, so a step runs alone or chained. Records hold names, ARNs, figures and findings,
never credentials (``scrub`` refuses key material)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["STEPS", "resolve_run_dir", "record_path", "write_record", "read_record", "iso_time", "new_run_id", "to_jsonable",
           "SECRET_PATTERNS", "find_secrets"]

STEPS = ("diagnose", "rebuild_archive", "deploy", "verify", "cleanup")

# AWS access key ids, and "secret"-named values that look like secret keys or session tokens.
SECRET_PATTERNS = [
    re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b"),
    re.compile(r"(?i)(aws_secret_access_key|secret_access_key|secretaccesskey)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{30,}"),
    re.compile(r"(?i)(aws_session_token|session_token|sessiontoken)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{40,}"),
]


def find_secrets(text: str) -> list[str]:
    """Matches of AWS key patterns in ``text`` (for scrubbing and for the secrets scan in tests)."""
    return [m.group(0)[:24] + "…" for p in SECRET_PATTERNS for m in p.finditer(text)]


def iso_time(v: Any) -> str | None:
    """A datetime (as boto3 returns them) → ISO 8601 text; other values as text; None stays None."""
    return v.isoformat() if isinstance(v, (dt.datetime, dt.date)) else (str(v) if v is not None else None)


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S")


def record_path(run_dir: str | os.PathLike, step: str) -> Path:
    if step not in STEPS:
        raise InputError(f"unknown step {step!r}", hint=f"Steps: {', '.join(STEPS)}.")
    return Path(run_dir) / f"{STEPS.index(step) + 1:02d}-{step}.json"


def to_jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(obj.to_dict() if hasattr(obj, "to_dict") else asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return obj


def write_record(run_dir: str | os.PathLike, step: str, data: Any) -> Path:
    """Write the step's record atomically; refuse to write anything that looks like key material."""
    path = record_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(data), indent=2, sort_keys=False, default=str)
    leaked = find_secrets(text)
    if leaked:
        raise InputError(f"refusing to write {path.name}: it would contain AWS key material ({leaked[0]}).",
                         code="secret-in-record", hint="Credentials never belong in parameters or records.")
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)
    return path


def read_record(run_dir: str | os.PathLike | None, step: str) -> dict[str, Any] | None:
    if not run_dir:
        return None
    path = record_path(run_dir, step)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise InputError(f"{path} is not valid JSON ({e}).", code="bad-record",
                         hint="Rerun that step, or delete the file.") from e


def resolve_run_dir(run_dir: str | os.PathLike | None) -> str:
    """The run dir to use: the given one, else ``runs/<run-id>`` under the working directory (created)."""
    path = Path(run_dir) if run_dir else Path("runs") / new_run_id()
    path.mkdir(parents=True, exist_ok=True)
    return str(path.resolve())
