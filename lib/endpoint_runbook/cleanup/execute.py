"""Deleting a confirmed plan, in order, each item re-checked right before its delete and waited on until gone."""


from __future__ import annotations

import datetime as dt
import time
from typing import Any, Callable

from ..aws import AccessDenied, Aws, error_code, is_error
from ..s3 import object_exists, parse_s3_prefix
from .guards import endpoint_guards, verified_endpoints
from .model import (
    _AWS_ERRORS,
    _NOT_FOUND,
    SCALING_NAMESPACE,
    CleanupPlan,
    CleanupReport,
    Guard,
    Outcome,
    PlanItem,
    Progress,
    check_confirm,
)
from .plan import _as_prefix
from .scan import AccountScan, _describe_config, _describe_endpoint, _describe_model, scan

# ---------------------------------------------------------------------------------------------- deleting


def _wait_gone(check: Callable[[], bool], *, timeout: float, poll: float, say: Callable[[str], None],
               what: str) -> bool:
    """Poll ``check`` (True when gone) until it is, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    waited = 0
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        waited += 1
        if waited % 6 == 1:
            say(f"waiting for {what} to be gone")
        time.sleep(poll)


def _endpoint_gone(sm: Any, name: str) -> bool:
    return _describe_endpoint(sm, name) is None


def _policy_exists(aas: Any, item: PlanItem) -> bool:
    d = item.detail
    r = aas.describe_scaling_policies(ServiceNamespace=SCALING_NAMESPACE, ResourceId=d["resource_id"],
                                      ScalableDimension=d["dimension"], PolicyNames=[d["policy_name"]])
    return any(p["PolicyName"] == d["policy_name"] for p in r.get("ScalingPolicies", []))


def _target_exists(aas: Any, item: PlanItem) -> bool:
    d = item.detail
    r = aas.describe_scalable_targets(ServiceNamespace=SCALING_NAMESPACE, ResourceIds=[d["resource_id"]],
                                      ScalableDimension=d["dimension"])
    return any(t["ResourceId"] == d["resource_id"] for t in r.get("ScalableTargets", []))


def execute(aws: Aws, plan: CleanupPlan, *, confirm: str, force: bool = False, progress: Progress = None,
            wait_timeout: float = 900.0, poll_seconds: float = 5.0, now: dt.datetime | None = None,
            run_dir: str | None = None) -> CleanupReport:
    """Delete what ``plan`` says, in order; ``confirm`` must equal the endpoint name(s) (else ``InputError
    confirm-mismatch`` before any change). A blocked plan deletes nothing unless ``force``. Guards (for the
    endpoint's items) and sharing (for configs, models, objects) are checked again right before each delete;
    each delete is waited on. ``run_dir`` is re-read for the verified endpoint."""
    check_confirm(plan.endpoint_names, confirm)
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.monotonic()
    outcomes: list[Outcome] = []

    def out(i: PlanItem, outcome: str, message: str) -> None:
        outcomes.append(Outcome(i.kind, i.name, outcome, message, i.endpoint, i.arn))

    def report(status: str) -> CleanupReport:
        return CleanupReport(plan, status, False, force, outcomes, started.isoformat(timespec="seconds"),
                             round(time.monotonic() - t0, 2))

    if plan.blocked and not force:
        for i in plan.items:
            if i.action == "refuse":
                out(i, "refused", i.reason + " (force=True overrides)")
            elif i.action == "delete":
                out(i, "not-run", "not deleted: the plan is blocked by a guard")
            else:
                out(i, "kept" if i.action == "keep" else "already-gone", i.reason)
        return report("blocked")

    say, close = _progress(progress, len(plan.to_delete))
    sm, aas = aws.client("sagemaker"), aws.client("application-autoscaling")
    verified = verified_endpoints(run_dir)
    phase_inv: dict[str, AccountScan] = {}
    stopped: set[str] = set()
    denied: AccessDenied | None = None  # endpoints whose items must not be touched any more

    def inventory(kind: str) -> AccountScan:
        if kind not in phase_inv:  # one fresh scan when each of these phases starts (after the previous deletes)
            phase_inv[kind] = scan(sm)
        return phase_inv[kind]

    def guards_now(endpoint: str) -> tuple[dict[str, Any] | None, list[Guard]]:
        ep = _describe_endpoint(sm, endpoint)
        if ep is None:
            return None, []
        variants = ep["variants"] or plan_item_variants(endpoint)
        g = endpoint_guards(aws, endpoint, status=ep["status"], variants=variants,
                            recent_minutes=plan.recent_minutes, verified=verified, now=now, run_dir=run_dir,
                            deleting=plan.endpoint_names)
        return ep, g

    def plan_item_variants(endpoint: str) -> list[str]:
        it = next((i for i in plan.items if i.kind == "endpoint" and i.name == endpoint), None)
        return list(it.detail.get("variants", [])) if it else []

    for i in plan.items:
        if i.action == "keep":
            out(i, "kept", i.reason)
            continue
        if i.action == "absent":
            out(i, "already-gone", "already gone")
            continue
        say(f"{i.kind} {i.name}")
        try:
            if i.kind in ("scaling-policy", "scalable-target", "endpoint"):
                if i.endpoint in stopped:
                    out(i, "skipped", f"not deleted: endpoint {i.endpoint} was refused or failed earlier in this run")
                    continue
                ep, guards = guards_now(i.endpoint) if i.endpoint else (None, [])
                if guards and not force:
                    stopped.add(i.endpoint)
                    out(i, "refused", "; ".join(g.reason for g in guards) + " (checked again before deleting)")
                    continue
                if i.kind == "scaling-policy":
                    _delete_policy(aas, i, out)
                elif i.kind == "scalable-target":
                    _delete_target(aas, i, out)
                else:
                    if ep is None:
                        out(i, "already-gone", "already gone")
                        continue
                    if not _delete_endpoint(sm, i, out, status=ep["status"], timeout=wait_timeout,
                                            poll=poll_seconds, say=say):
                        stopped.add(i.name)
            elif i.kind == "endpoint-config":
                users = inventory("endpoint-config").config_users(i.name)
                if users:
                    out(i, "skipped", "not deleted: still used by endpoint " + ", ".join(users))
                    continue
                _delete_config(sm, i, out)
            elif i.kind == "model":
                users = inventory("model").model_users(i.name)
                if users:
                    out(i, "skipped", "not deleted: still used by endpoint config " + ", ".join(users))
                    continue
                _delete_model(sm, i, out)
            elif i.kind == "s3-object":
                inv = inventory("s3-object")
                sharers = sorted(c for c, info in inv.configs.items()
                                 if any(i.name.startswith(_as_prefix(p)) for p in info["output_paths"]))
                if sharers:
                    out(i, "skipped", "not deleted: under the output path of endpoint config " + ", ".join(sharers))
                    continue
                _delete_object(aws.client("s3"), i, out)
            else:
                out(i, "skipped", f"unknown kind {i.kind}")
        except AccessDenied as e:  # stop here: what is deleted is whole, what is left is untouched and planned again
            out(i, "failed", f"access-denied: {e}")
            denied = e
            break
        except _AWS_ERRORS as e:
            out(i, "failed", f"{error_code(e) or type(e).__name__}: {str(e)[:300]}")
            if i.kind in ("scaling-policy", "scalable-target", "endpoint") and i.endpoint:
                stopped.add(i.endpoint)
    close()
    if denied is not None:
        seen = {(o.kind, o.name) for o in outcomes}
        for i in plan.items:
            if (i.kind, i.name) not in seen:
                if i.action == "delete":
                    out(i, "not-run", "not deleted: the cleanup stopped at a missing permission")
                else:
                    out(i, "already-gone" if i.action == "absent" else "kept", i.reason)
        denied.with_done(*(f"deleted {o.kind} {o.name}" for o in outcomes if o.outcome == "deleted"))
        rep = report("partial")
        rep.denied = denied
        return rep
    bad = [o for o in outcomes if o.outcome in ("failed", "refused", "skipped", "not-run")]
    if bad:
        return report("partial")
    return report("done" if any(o.outcome == "deleted" for o in outcomes) else "nothing-to-do")


def _progress(progress: Progress, total: int) -> tuple[Callable[[str], None], Callable[[], None]]:
    """``progress(msg)`` when given, else a tqdm.auto bar over the items to delete (a widget in Studio)."""
    if progress is not None:
        return progress, lambda: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="cleanup", unit="item")

    def say(msg: str) -> None:
        if not msg.startswith("waiting"):
            bar.update(1)
        bar.set_postfix_str(msg[:60])

    return say, bar.close


def _delete_simple(delete: Callable[[], Any], gone: Callable[[], bool], i: PlanItem,
                   out: Callable[[PlanItem, str, str], None], absent_first: Callable[[], bool] | None = None) -> None:
    if absent_first is not None and absent_first():
        out(i, "already-gone", "already gone")
        return
    try:
        delete()
    except _AWS_ERRORS as e:
        if is_error(e, *_NOT_FOUND) and gone():
            out(i, "already-gone", "already gone")
            return
        raise
    if gone():
        out(i, "deleted", "deleted")
    else:
        out(i, "failed", "the delete call succeeded but the resource is still there; rerun to retry")


def _delete_config(sm: Any, i: PlanItem, out: Callable[[PlanItem, str, str], None]) -> None:
    _delete_simple(lambda: sm.delete_endpoint_config(EndpointConfigName=i.name),
                   lambda: _describe_config(sm, i.name) is None, i, out)


def _delete_model(sm: Any, i: PlanItem, out: Callable[[PlanItem, str, str], None]) -> None:
    _delete_simple(lambda: sm.delete_model(ModelName=i.name), lambda: _describe_model(sm, i.name) is None, i, out)


def _delete_object(s3: Any, i: PlanItem, out: Callable[[PlanItem, str, str], None]) -> None:
    bucket, key = parse_s3_prefix(i.name)
    _delete_simple(lambda: s3.delete_object(Bucket=bucket, Key=key), lambda: not object_exists(s3, i.name), i, out,
                   absent_first=lambda: not object_exists(s3, i.name))


def _delete_policy(aas: Any, i: PlanItem, out: Callable[[PlanItem, str, str], None]) -> None:
    d = i.detail
    _delete_simple(lambda: aas.delete_scaling_policy(PolicyName=d["policy_name"], ServiceNamespace=SCALING_NAMESPACE,
                                                     ResourceId=d["resource_id"], ScalableDimension=d["dimension"]),
                   lambda: not _policy_exists(aas, i), i, out, absent_first=lambda: not _policy_exists(aas, i))


def _delete_target(aas: Any, i: PlanItem, out: Callable[[PlanItem, str, str], None]) -> None:
    d = i.detail
    _delete_simple(lambda: aas.deregister_scalable_target(ServiceNamespace=SCALING_NAMESPACE,
                                                          ResourceId=d["resource_id"], ScalableDimension=d["dimension"]),
                   lambda: not _target_exists(aas, i), i, out, absent_first=lambda: not _target_exists(aas, i))


def _delete_endpoint(sm: Any, i: PlanItem, out: Callable[[PlanItem, str, str], None], *, status: str | None,
                     timeout: float, poll: float, say: Callable[[str], None]) -> bool:
    if status != "Deleting":  # already being deleted: only wait
        try:
            sm.delete_endpoint(EndpointName=i.name)
        except _AWS_ERRORS as e:
            if is_error(e, *_NOT_FOUND) and _endpoint_gone(sm, i.name):
                out(i, "already-gone", "already gone")
                return True
            raise
    if _wait_gone(lambda: _endpoint_gone(sm, i.name), timeout=timeout, poll=poll, say=say, what=f"endpoint {i.name}"):
        out(i, "deleted", "deleted")
        return True
    out(i, "failed", f"still there {timeout:g} s after DeleteEndpoint; rerun to finish")
    return False
