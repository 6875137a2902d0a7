"""Step records: each step writes ``<run-dir>/<NN>-<step>.json``; the next reads it for values its own
parameters leave unset, so a step runs alone or chained. Records hold names, ARNs, figures and findings,
never credentials (``scrub`` refuses key material)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["STEPS", "RUN_FILE", "RunContext", "runs_root", "resolve_run", "record_path", "write_record", "read_record", "iso_time", "parse_iso", "new_run_id", "to_jsonable",
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


def parse_iso(text: str | None) -> dt.datetime | None:
    """An ISO-8601 time as AWS writes it (``Z`` or an offset) → an aware datetime; None when absent or unreadable."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


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


# -- chaining without the runner: which run a notebook continues ----------------------------------------------

#: Written in a run dir when a notebook starts the run: the endpoint it is about, when, by which step.
RUN_FILE = "run.json"
RUNS_ENV = "ENDPOINT_RUNBOOK_RUNS"


def runs_root() -> Path:
    """Where runs live: ``$ENDPOINT_RUNBOOK_RUNS``, else the checkout's ``runs/`` (an editable install, as in
    Studio: the notebooks' working directory is ``notebooks/``), else ``./runs``."""
    if os.environ.get(RUNS_ENV):
        return Path(os.environ[RUNS_ENV]).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "notebooks").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout / "runs"
    return Path("runs").resolve()


@dataclass
class RunContext:
    """The run dir a notebook writes to, and how it was chosen (shown on the setup card)."""

    run_dir: str
    how: str  # given | named | started | continued
    endpoint_name: str | None = None
    found: dict[str, str] = field(default_factory=dict)  # earlier step → its record file

    @property
    def run_id(self) -> str:
        return Path(self.run_dir).name

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "run_id": self.run_id, "how": self.how,
                "endpoint_name": self.endpoint_name, "found": dict(self.found)}


def _run_endpoint(path: Path) -> str | None:
    """The endpoint a run is about: its run.json, else its diagnose record."""
    for name, key in ((RUN_FILE, ("endpoint_name",)), ("01-diagnose.json", ("endpoint", "name"))):
        try:
            value: Any = json.loads((path / name).read_text())
        except (OSError, ValueError):
            continue
        for k in key:
            value = value.get(k) if isinstance(value, dict) else None
        if value:
            return str(value)
    return None


def _runs(root: Path) -> list[Path]:
    """Run dirs under ``root`` (those holding run.json or a step record), newest first."""
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
            and ((p / RUN_FILE).is_file() or any(p.glob("0[1-5]-*.json")))]

    def started(p: Path) -> float:
        try:
            return float(json.loads((p / RUN_FILE).read_text())["started_epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            return p.stat().st_mtime

    return sorted(runs, key=lambda p: (started(p), p.name), reverse=True)


def _start_run(root: Path, step: str, endpoint_name: str | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    base = new_run_id(now)
    for n in range(1, 1000):
        path = root / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - a thousand runs in one second
        raise InputError(f"cannot start a run under {root}: too many runs this second.", code="run-dir-busy")
    (path / RUN_FILE).write_text(json.dumps({"run_id": path.name, "endpoint_name": endpoint_name,
                                             "started": now.isoformat(timespec="seconds"),
                                             "started_epoch": now.timestamp(), "started_by": step}, indent=2) + "\n")
    return path


def resolve_run(run_dir: str | os.PathLike | None, *, step: str, endpoint_name: str | None = None,
                root: str | os.PathLike | None = None) -> RunContext:
    """The run a notebook writes to, when nobody (no runner) chose it.

    ``run_dir`` given: a path (created if missing), or the id of a run under the runs root. Unset: step 1
    starts a new run for ``endpoint_name``; a later step continues the newest run of ``endpoint_name`` (any
    run's when it is unset), or starts one when there is none. ``found`` lists the earlier steps' records.
    """
    if step not in STEPS:
        raise InputError(f"unknown step {step!r}", hint=f"Steps: {', '.join(STEPS)}.")
    base = Path(root).resolve() if root else runs_root()
    if run_dir:
        given = Path(run_dir).expanduser()
        named = base / str(run_dir)
        if not given.is_absolute() and not given.exists() and len(given.parts) == 1 and named.is_dir():
            path, how = named, "named"
        else:
            path, how = given.resolve(), "given"
            path.mkdir(parents=True, exist_ok=True)
    elif step == STEPS[0]:
        path, how = _start_run(base, step, endpoint_name), "started"
    else:
        runs = _runs(base)
        match = next((p for p in runs if endpoint_name is None or _run_endpoint(p) == endpoint_name), None)
        if match is None:
            path, how = _start_run(base, step, endpoint_name), "started"
        else:
            path, how = match, "continued"
    earlier = STEPS[:STEPS.index(step)]
    found = {s: str(record_path(path, s)) for s in earlier if record_path(path, s).is_file()}
    return RunContext(run_dir=str(path), how=how, endpoint_name=endpoint_name or _run_endpoint(path), found=found)
