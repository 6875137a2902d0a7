"""Step 5 — clean up (notebook ``05_cleanup``): plan, then delete unless a dry run; record ``05-cleanup.json``.

What is deleted and why is :mod:`endpoint_runbook.cleanup` (the scan of the account, the plan, the guards, the
deletion); this module is the notebook's entry point: it reads the run's earlier records and writes its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

from ..aws import Aws, named_aws_errors
from ..cleanup import CleanupReport, Progress, check_confirm, execute, parse_names, plan
from ..errors import CheckFailed
from ..records import read_record, write_record
from ..step_records import DeployRecord, DiagnoseRecord

__all__ = ["run", "deleter"]


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


def deleter(aws: Aws, report: CleanupReport, *, run_dir: str, force: bool, include_outputs: bool,
            recent_minutes: float, release_rollback: bool = False) -> Callable[[str], CleanupReport]:
    """After a dry run: the deletion of what ``report``'s plan names, run when the typed confirmation arrives
    (:func:`endpoint_runbook.render.cleanup_confirm` calls it from its button; rendering never calls AWS)."""

    def delete(confirm: str) -> CleanupReport:
        return run(aws, run_dir=run_dir, endpoint_name=list(report.plan.endpoint_names), confirm=confirm,
                   dry_run=False, force=force, include_outputs=include_outputs, recent_minutes=recent_minutes,
                   release_rollback=release_rollback)

    return delete
