"""`endpoint-runbook run params/<env>.yaml`: the notebooks, headless, in order, with papermill.

The whole params file is validated first (unknown keys and wrong types are errors, before any AWS call).
Each notebook is executed into ``runs/<run-id>/`` with its parameters and the run dir; the chain stops at the
first failing step, naming it, the failing cell's error and the executed notebook's path. ``summary.json``
records every step's status, time and record file. Executed notebooks are the run's audit log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import InputError
from .params import NOTEBOOKS, load_params, notebooks_dir
from .records import STEPS, new_run_id, record_path
from .render import HEADLESS_ENV

__all__ = ["StepOutcome", "RunSummary", "run_chain", "run_main", "parse_steps", "default_kernel"]


def default_kernel() -> str:
    """This environment's own kernel (registered by scripts/setup.sh), else python3 with a clear note."""
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if "endpoint-runbook" in specs:
        return "endpoint-runbook"
    raise InputError("no Jupyter kernel named 'endpoint-runbook' is registered for this environment.",
                     code="no-kernel", hint=f"Register it: {sys.executable} -m ipykernel install --sys-prefix "
                     "--name endpoint-runbook (or pass --kernel NAME).")


def parse_steps(spec: str | None) -> list[str]:
    if not spec:
        return list(STEPS)
    out = []
    for token in (t.strip() for t in spec.split(",") if t.strip()):
        if token.isdigit() and 1 <= int(token) <= len(STEPS):
            out.append(STEPS[int(token) - 1])
        elif token in STEPS:
            out.append(token)
        else:
            raise InputError(f"unknown step {token!r}.", code="unknown-step",
                             hint=f"Steps: {', '.join(STEPS)} (or 1-{len(STEPS)}).")
    return [s for s in STEPS if s in out]


@dataclass
class StepOutcome:
    step: str
    status: str  # passed, failed, skipped
    seconds: float
    notebook: str
    record: str | None
    error: str | None = None
    cell: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class RunSummary:
    run_id: str
    run_dir: str
    params_file: str
    status: str
    steps: list[StepOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> StepOutcome | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "run_dir": self.run_dir, "params_file": self.params_file,
                "status": self.status, "seconds": self.seconds, "steps": [s.to_dict() for s in self.steps]}


def _cell_error(exc: BaseException) -> tuple[str, int | None]:
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    return f"{ename}: {evalue}", getattr(exc, "exec_count", None)


_SOCKETS: list[tempfile.TemporaryDirectory] = []  # one private dir per process, removed at exit


def _kernel_config() -> Any:
    """The kernels talk to papermill over IPC sockets in a private (0700) temporary directory instead of
    loopback TCP: reachable by this user only, and ipykernel has no "running over TCP without encryption"
    warning to print at every step. Elsewhere than POSIX, jupyter_client's default (TCP)."""
    from traitlets.config import Config

    if os.name != "posix":
        return Config()
    if not _SOCKETS:
        _SOCKETS.append(tempfile.TemporaryDirectory(prefix="erb-kernel-"))
    return Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(_SOCKETS[0].name, "kernel")}})


def run_chain(params_file: str | Path, *, steps: list[str] | None = None, run_dir: str | Path | None = None,
              kernel: str | None = None, progress: Callable[[str], None] | None = None) -> RunSummary:
    say = progress or (lambda _m: None)
    params = load_params(params_file)  # all errors before any AWS call
    steps = steps or list(STEPS)
    kernel = kernel or default_kernel()
    nbdir = notebooks_dir()
    run_id = new_run_id()
    run_dir = Path(run_dir or params["diagnose"]["run_dir"] or Path("runs") / run_id).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(run_id=run_id, run_dir=str(run_dir), params_file=str(Path(params_file).resolve()),
                         status="running")
    t_all = time.monotonic()
    with _headless():
        _run_steps(summary, steps, params, run_dir, nbdir, kernel, say)
    summary.seconds = round(time.monotonic() - t_all, 2)
    (run_dir / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


@contextlib.contextmanager
def _headless() -> Iterator[None]:
    """The kernels the runner starts know they run headless (progress as plain lines, no widgets)."""
    old = os.environ.get(HEADLESS_ENV)
    os.environ[HEADLESS_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(HEADLESS_ENV, None)
        else:
            os.environ[HEADLESS_ENV] = old


def _run_steps(summary: RunSummary, steps: list[str], params: dict[str, dict[str, Any]], run_dir: Path,
               nbdir: Path, kernel: str, say: Callable[[str], None]) -> None:
    import papermill

    for step in STEPS:
        out = run_dir / NOTEBOOKS[step]
        if step not in steps:
            continue
        values = dict(params[step], run_dir=str(run_dir))
        say(f"{step}: running {NOTEBOOKS[step]}")
        t0 = time.monotonic()
        try:
            papermill.execute_notebook(str(nbdir / NOTEBOOKS[step]), str(out), parameters=values,
                                       kernel_name=kernel, cwd=str(run_dir), progress_bar=False,
                                       log_output=False, report_mode=False, config=_kernel_config())
        except papermill.PapermillExecutionError as e:
            error, cell = _cell_error(e)
            summary.steps.append(StepOutcome(step, "failed", round(time.monotonic() - t0, 2), str(out),
                                             _existing(record_path(run_dir, step)), error, cell))
            summary.status = "failed"
            break
        summary.steps.append(StepOutcome(step, "passed", round(time.monotonic() - t0, 2), str(out),
                                         _existing(record_path(run_dir, step))))
        say(f"{step}: passed in {summary.steps[-1].seconds:.1f} s")
    else:
        summary.status = "passed"


def _existing(p: Path) -> str | None:
    return str(p) if p.exists() else None


def run_main(args: Any) -> int:
    """The CLI: run the chain, print a readable summary, exit non-zero on a failed step."""
    started = dt.datetime.now()
    summary = run_chain(args.params, steps=parse_steps(args.steps), run_dir=args.run_dir, kernel=args.kernel,
                        progress=lambda m: print(f"{dt.datetime.now():%H:%M:%S}  {m}", flush=True))
    print()
    print(f"run {summary.run_id} {summary.status.upper()} in {summary.seconds:.1f} s "
          f"(started {started:%Y-%m-%d %H:%M:%S})")
    for s in summary.steps:
        mark = "✔" if s.status == "passed" else "✘"
        print(f"  {mark} {s.step:<16} {s.seconds:7.1f} s  {os.path.relpath(s.notebook)}")
    failed = summary.failed
    if failed:
        print(f"\nstep {failed.step!r} failed: {failed.error}")
        print(f"  executed notebook (open it at the failing cell): {failed.notebook}")
    print(f"\nexecuted notebooks and records: {summary.run_dir}")
    return 1 if failed else 0
