"""Audit a cleanup from the outside: a snapshot of the account before and after, and the deletions the plan did
not name (the tests' and the reliability report's oracle; not part of the runbook)."""


from __future__ import annotations

from typing import Any, Iterable

from endpoint_runbook.aws import Aws
from endpoint_runbook.cleanup import SCALING_NAMESPACE, CleanupPlan, scan
from endpoint_runbook.cleanup.scan import _list

# ---------------------------------------------------------------------------------------------- auditing


def snapshot(aws: Aws, *, buckets: Iterable[str] = ()) -> dict[str, Any]:
    """Everything cleanup could touch, for before/after comparisons: endpoints (→ config), configs (→ models),
    models, scalable targets, scaling policies (sagemaker namespace) and the objects of ``buckets``."""
    sm, aas, s3 = aws.client("sagemaker"), aws.client("application-autoscaling"), aws.client("s3")
    inv = scan(sm)
    targets = [t["ResourceId"] for page in aas.get_paginator("describe_scalable_targets").paginate(
        ServiceNamespace=SCALING_NAMESPACE) for t in page["ScalableTargets"]]
    policies = [f"{p['ResourceId']}:{p['PolicyName']}" for page in aas.get_paginator("describe_scaling_policies")
                .paginate(ServiceNamespace=SCALING_NAMESPACE) for p in page["ScalingPolicies"]]
    objects = []
    for b in buckets:
        objects += [f"s3://{b}/{o['Key']}" for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b)
                    for o in page.get("Contents", [])]
    return {
        "endpoint": {n: e["config"] for n, e in inv.endpoints.items()},
        "endpoint-config": {n: c["models"] for n, c in inv.configs.items()},
        "model": sorted(_list(sm, "list_models", "Models", "ModelName")),
        "scalable-target": sorted(targets),
        "scaling-policy": sorted(policies),
        "s3-object": sorted(objects),
    }


def wrongful_deletions(before: dict[str, Any], after: dict[str, Any], plan: CleanupPlan | dict[str, Any] | None, *,
                       force: bool = False, verified: Iterable[str] = ()) -> list[str]:
    """Deletions between two ``snapshot``s that must never happen (empty list: none):
    anything not a ``delete`` item of ``plan`` (``refuse`` items count only with ``force``; no plan: everything
    gone is wrongful), a config deleted while an endpoint still uses it, a model deleted while a config still
    uses it, a verified endpoint deleted without ``force``."""
    if isinstance(plan, dict):
        plan = CleanupPlan.from_dict(plan)
    allowed = set()
    if plan is not None:
        allowed = {(i.kind, i.name) for i in plan.items
                   if i.action == "delete" or (force and i.action == "refuse")}
    verified = set(verified)
    wrong: list[str] = []
    for kind in ("endpoint", "endpoint-config", "model", "scalable-target", "scaling-policy", "s3-object"):
        gone = set(before.get(kind, ())) - set(after.get(kind, ()))
        for name in sorted(gone):
            if (kind, name) not in allowed:
                wrong.append(f"{kind} {name}: deleted but not a delete item of the plan")
            if kind == "endpoint" and name in verified and not force:
                wrong.append(f"endpoint {name}: the verified endpoint was deleted without force")
            if kind == "endpoint-config":
                users = sorted(e for e, c in after.get("endpoint", {}).items() if c == name)
                if users:
                    wrong.append(f"endpoint-config {name}: deleted while endpoint {', '.join(users)} uses it")
            if kind == "model":
                users = sorted(c for c, ms in after.get("endpoint-config", {}).items() if name in ms)
                if users:
                    wrong.append(f"model {name}: deleted while endpoint config {', '.join(users)} uses it")
    return wrong
