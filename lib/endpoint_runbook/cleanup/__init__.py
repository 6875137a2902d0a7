"""Step 5 — clean up: delete the broken endpoint and what only it uses, and nothing else.

``plan`` looks before anything changes: for the named endpoint(s) it lists, in dependency order, the
application-autoscaling scaling policies and scalable targets of their variants, the endpoint, its endpoint
config, the config's model(s) and (opt-in) the async output/failure objects under the config's S3 paths.
Each item says ``delete``, ``keep`` (with the reason: another endpoint or config still uses it, or the caller
asked to keep it), ``refuse`` (a guard tripped: the endpoint served successful requests in the last N minutes,
it is the endpoint steps 3/4 deployed and verified, it is Creating/Updating, requests are queued, or it is the
endpoint step 1 diagnosed and no fix of the run serves in its place: deleting it would leave nothing serving)
or ``absent`` (already gone).
Sharing is found by scanning every endpoint and endpoint config of the account/region.

``execute`` deletes the plan's ``delete`` items (and, with ``force``, its ``refuse`` items) in order, only
when ``confirm`` equals the endpoint name(s); guards and sharing are checked again right before each delete,
each delete is waited on until the resource is gone. ``run`` is the notebook's entry point: dry-run by default,
records ``<run-dir>/05-cleanup.json``, and remembers what the named endpoints reached so a rerun after a partial
failure (the endpoint already gone, its config not) finishes the job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from ..aws import Aws, named_aws_errors
from ..errors import CheckFailed
from ..records import read_record, write_record
from ..step_records import DeployRecord, DiagnoseRecord
from . import model
from .execute import execute
from .guards import endpoint_guards, verified_endpoints
from .model import *  # noqa: F403 (the data types and names, re-exported; see model.__all__)
from .model import CleanupReport, Progress, check_confirm, parse_names
from .plan import plan
from .scan import AccountScan, scan

__all__ = [*model.__all__, "AccountScan", "plan", "execute", "run", "scan", "endpoint_guards",
           "verified_endpoints"]


# ---------------------------------------------------------------------------------------------- the step


def run(aws: Aws, *, run_dir: str, endpoint_name: str | Sequence[str] | None = None, confirm: str = "",
        dry_run: bool = True, force: bool = False, include_outputs: bool = False, output_prefix: str | None = None,
        keep: Iterable[str] = (), recent_minutes: float = 60.0, wait_timeout: float = 900.0,
        poll_seconds: float = 5.0, release_rollback: bool = False, progress: Progress = None) -> CleanupReport:
    """Plan (always), then delete unless ``dry_run``; record ``05-cleanup.json``.

    ``endpoint_name`` defaults to the endpoint step 1 diagnosed. A ``confirm`` that does not match the name(s)
    is rejected before any AWS call (also in a dry run when it is set). Raises ``CheckFailed`` after writing
    the record when a guard blocked the plan or something could not be deleted (rerun to finish).

    After an in-place fix (the deploy record's mode), the fixed endpoint is never deleted: the plan is its
    superseded config and model, deleted only with ``release_rollback`` (no way back after that). The diagnosed
    endpoint is refused (``no-fix-serving``, overridden only by ``force``) until a fixed endpoint of this run is
    deployed, verified and InService.
    """
    if endpoint_name is None or (isinstance(endpoint_name, str) and not endpoint_name.strip()):
        endpoint_name = (DiagnoseRecord.read(run_dir) or DiagnoseRecord()).endpoint.name
    names = parse_names(endpoint_name)
    if not dry_run or (confirm or "").strip():
        check_confirm(names, confirm)
    previous = read_record(run_dir, "cleanup")
    if previous and list(previous.get("endpoint_names") or []) != names:
        previous = None
    started = dt.datetime.now(dt.timezone.utc)
    dep = DeployRecord.read(run_dir) or DeployRecord()
    in_place = ({dep.endpoint_name: dep.previous_endpoint_config_name or ""}
                if dep.mode == "in-place" and dep.endpoint_name in names else {})
    with named_aws_errors("planning the cleanup"):
        p = plan(aws, names, include_outputs=include_outputs, output_prefix=output_prefix, keep=keep,
                 recent_minutes=recent_minutes, run_dir=run_dir, previous=previous, progress=progress,
                 in_place=in_place, release_rollback=release_rollback)
    if dry_run:
        rep = CleanupReport(p, "dry-run", True, force, [], started.isoformat(timespec="seconds"),
                            round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 2))
        write_record(run_dir, "cleanup", rep.to_dict())
        return rep
    # The plan is on disk before anything changes: a crash mid-way still leaves what was reachable.
    write_record(run_dir, "cleanup", CleanupReport(p, "running", False, force, [],
                                                   started.isoformat(timespec="seconds")).to_dict())
    rep = execute(aws, p, confirm=confirm, force=force, progress=progress, wait_timeout=wait_timeout,
                  poll_seconds=poll_seconds, run_dir=run_dir)
    rep.started = started.isoformat(timespec="seconds")
    rep.seconds = round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 2)
    write_record(run_dir, "cleanup", rep.to_dict())
    if rep.denied is not None:
        raise rep.denied
    if rep.status == "blocked":
        refused = [o for o in rep.outcomes if o.outcome == "refused"]
        raise CheckFailed(f"cleanup refused: {refused[0].kind} {refused[0].name}: {refused[0].message}",
                          code="cleanup-blocked",
                          hint="Nothing was deleted. Check the guard's evidence; set force=True only if you are sure.")
    if rep.status == "partial":
        bad = [o for o in rep.outcomes if o.outcome in ("failed", "refused", "skipped", "not-run")]
        raise CheckFailed(f"cleanup incomplete: {len(bad)} item(s) not deleted, first: {bad[0].kind} {bad[0].name}: "
                          f"{bad[0].message}", code="cleanup-incomplete",
                          hint="Rerun the cleanup step with the same parameters to finish the job.")
    return rep
