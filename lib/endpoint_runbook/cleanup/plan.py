"""The plan, in dependency order, made before anything changes (see :mod:`endpoint_runbook.cleanup`)."""


from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Sequence

from ..aws import Aws, is_error
from ..errors import InputError
from ..s3 import parse_s3_prefix
from .guards import endpoint_guards, verified_endpoints
from .model import _AWS_ERRORS, KINDS, CleanupPlan, PlanItem, Progress, parse_names
from .scan import _describe_config, _describe_endpoint, _describe_model, _scaling_all, _scaling_of, scan

# ---------------------------------------------------------------------------------------------- planning


def _as_prefix(uri: str) -> str:
    return uri if uri.endswith("/") else uri + "/"


def _overlaps(a: str, b: str) -> bool:
    a, b = _as_prefix(a), _as_prefix(b)
    return a.startswith(b) or b.startswith(a)


def _narrow(path: str, output_prefix: str | None) -> str | None:
    """The part of config path ``path`` to list: ``path``, or ``output_prefix`` when it lies inside it."""
    p = _as_prefix(path)
    if not output_prefix:
        return p
    if output_prefix.startswith(p):
        return output_prefix
    if p.startswith(output_prefix):
        return p
    return None


def _list_objects(s3: Any, prefix_uri: str, limit: int) -> tuple[list[str], bool]:
    bucket, prefix = parse_s3_prefix(prefix_uri)
    keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
            if len(keys) > limit:
                return [f"s3://{bucket}/{k}" for k in keys[:limit]], True
    except _AWS_ERRORS as e:
        if is_error(e, "NoSuchBucket"):
            return [], False
        raise
    return [f"s3://{bucket}/{k}" for k in keys], False


def _remembered(previous: dict[str, Any] | None, name: str) -> list[PlanItem]:
    if not previous:
        return []
    items = (previous.get("plan") or previous).get("items") or []
    return [PlanItem.from_dict(i) for i in items if i.get("endpoint") == name]


def plan(aws: Aws, endpoint_names: str | Sequence[str], *, include_outputs: bool = False,
         output_prefix: str | None = None, keep: Iterable[str] = (), recent_minutes: float = 60.0,
         run_dir: str | None = None, previous: dict[str, Any] | None = None, max_objects: int = 10000,
         now: dt.datetime | None = None, progress: Progress = None, in_place: dict[str, str] | None = None,
         release_rollback: bool = False) -> CleanupPlan:
    """The plan for deleting ``endpoint_names`` and what only they use. Changes nothing.

    ``keep``: names or ARNs to keep whatever else says. ``run_dir``: where 03-deploy/04-verify records name the
    verified endpoint (guarded). ``previous``: an earlier 05-cleanup record, so a named endpoint that is already
    gone still reaches the config/models/targets it had (a rerun after a partial failure finishes the job).
    ``output_prefix`` (with ``include_outputs``): only objects under this s3:// prefix, which must lie within
    the config's S3OutputPath/S3FailurePath. ``in_place``: endpoint → the config an in-place fix superseded:
    that endpoint is kept (it serves the fix) and only the superseded config and its model(s) are planned,
    deleted only with ``release_rollback`` (they are the rollback's target); an endpoint still on that config (the
    update did not take) is planned like any other. The endpoint step 1 diagnosed in ``run_dir`` is refused
    (``no-fix-serving``) while no endpoint of the run was deployed, verified and serves in its place.
    """
    names = parse_names(endpoint_names)
    if output_prefix is not None:
        parse_s3_prefix(output_prefix)
    keep_set = {str(k) for k in keep}
    say = progress or (lambda _m: None)
    now = now or dt.datetime.now(dt.timezone.utc)
    sm, aas = aws.client("sagemaker"), aws.client("application-autoscaling")
    inv = scan(sm, progress=say)
    verified = verified_endpoints(run_dir)
    items: dict[tuple[str, str], PlanItem] = {}
    notes: list[str] = []

    def kept_by_user(name: str, arn: str | None) -> bool:
        return name in keep_set or (arn is not None and arn in keep_set)

    def add(item: PlanItem) -> None:
        items.setdefault(item.key, item)

    # 1. the endpoints (and what a gone one left behind in an earlier record)
    configs_of: dict[str, list[str]] = {}  # config → named endpoints reaching it
    remembered_cfg: dict[str, dict[str, Any]] = {}
    remembered_models: dict[str, str] = {}  # model → endpoint
    variants_of: dict[str, list[str]] = {}
    deleting_eps: set[str] = set()
    in_place = dict(in_place or {})
    rollback_cfgs: set[str] = set()
    for name in names:  # a config an earlier run deleted still names its models (its model may not be gone)
        for i in _remembered(previous, name):
            if i.kind == "endpoint-config":
                remembered_cfg.setdefault(i.name, i.detail)
    for name in names:
        ep = inv.endpoints.get(name)
        if ep is None:
            ep = _describe_endpoint(sm, name)  # not listed yet/any more: ask once directly
        if ep is not None and name in in_place and not (in_place[name] and ep["config"] == in_place[name]):
            add(PlanItem("endpoint", name, "keep", f"keep: fixed in place, serves {ep['config']}", "fixed-in-place",
                         ep["arn"], name, detail={"status": ep["status"], "config": ep["config"],
                                                  "superseded_config": in_place[name]}))
            variants_of[name] = list(ep["variants"] or [])
            if in_place[name] and in_place[name] != ep["config"]:
                configs_of.setdefault(in_place[name], []).append(name)
                if not release_rollback:
                    rollback_cfgs.add(in_place[name])
            continue
        if ep is None:
            old = _remembered(previous, name)
            old_ep = next((i for i in old if i.kind == "endpoint"), None)
            variants_of[name] = list((old_ep.detail.get("variants") if old_ep else None) or [])
            add(PlanItem("endpoint", name, "absent", "already gone", "already-gone", old_ep.arn if old_ep else None,
                         name, detail={"variants": variants_of[name]}))
            for i in old:
                if i.kind == "endpoint-config":
                    configs_of.setdefault(i.name, []).append(name)
                elif i.kind == "model":
                    remembered_models.setdefault(i.name, name)
            if not old:
                notes.append(f"endpoint {name} does not exist and no earlier cleanup record names its config: "
                             "nothing else is reachable from it.")
            continue
        variants = list(dict.fromkeys(ep["variants"] or (inv.configs.get(ep["config"]) or {}).get("variants", [])))
        variants_of[name] = variants
        detail = {"status": ep["status"], "config": ep["config"], "variants": variants}
        if kept_by_user(name, ep["arn"]):
            add(PlanItem("endpoint", name, "keep", "keep: asked to keep (keep parameter)", "asked-to-keep",
                         ep["arn"], name, detail=detail))
        else:
            deleting_eps.add(name)
            guards = endpoint_guards(aws, name, status=ep["status"], variants=variants,
                                     recent_minutes=recent_minutes, verified=verified, now=now, run_dir=run_dir,
                                     deleting=names, kind=(inv.configs.get(ep["config"]) or {}).get("kind"))
            if any(g.code == "no-fix-serving" for g in guards):
                notes.append(f"No fix is serving: {name} is the endpoint step 1 diagnosed, and no endpoint of this "
                             "run was deployed and verified in its place. Deleting it (with its config and model) "
                             "leaves nothing to answer its requests.")
            if guards:
                add(PlanItem("endpoint", name, "refuse", "; ".join(g.reason for g in guards), guards[0].code,
                             ep["arn"], name, [e for g in guards for e in g.evidence],
                             detail | {"guards": [g.code for g in guards]}))
            else:
                add(PlanItem("endpoint", name, "delete", f"delete: endpoint named for cleanup ({ep['status']})",
                             "named", ep["arn"], name, detail=detail))
        if ep["config"]:
            configs_of.setdefault(ep["config"], []).append(name)

    def survivors_using_config(cfg: str) -> list[str]:
        return [e for e in inv.config_users(cfg) if e not in deleting_eps]

    # 2. autoscaling of the named endpoints' variants
    scaling = _scaling_all(aas)
    for name in names:
        policies, targets = _scaling_of(name, scaling)
        ep_item = items[("endpoint", name)]
        going = ep_item.action in ("delete", "refuse", "absent")
        for p in policies:
            pname = f"{p['ResourceId']}:{p['PolicyName']}"
            det = {"resource_id": p["ResourceId"], "dimension": p["ScalableDimension"], "policy_name": p["PolicyName"]}
            if going and not kept_by_user(pname, p.get("PolicyARN")) and not kept_by_user(p["PolicyName"], None):
                add(PlanItem("scaling-policy", pname, "delete", f"delete: scaling policy of endpoint {name}",
                             "unused", p.get("PolicyARN"), name, detail=det))
            else:
                add(PlanItem("scaling-policy", pname, "keep", f"keep: endpoint {name} is kept" if not going
                             else "keep: asked to keep (keep parameter)", "kept-endpoint" if not going
                             else "asked-to-keep", p.get("PolicyARN"), name, detail=det))
        for t in targets:
            det = {"resource_id": t["ResourceId"], "dimension": t["ScalableDimension"]}
            if going and not kept_by_user(t["ResourceId"], t.get("ScalableTargetARN")):
                add(PlanItem("scalable-target", t["ResourceId"], "delete",
                             f"delete: scalable target of endpoint {name}", "unused", t.get("ScalableTargetARN"),
                             name, detail=det))
            else:
                add(PlanItem("scalable-target", t["ResourceId"], "keep", f"keep: endpoint {name} is kept"
                             if not going else "keep: asked to keep (keep parameter)",
                             "kept-endpoint" if not going else "asked-to-keep", t.get("ScalableTargetARN"), name,
                             detail=det))

    # 3. endpoint configs
    deleting_cfgs: set[str] = set()
    models_of: dict[str, str] = {}  # model → endpoint it was reached from
    output_paths: dict[str, list[str]] = {}  # config being deleted → its output paths
    for cfg, eps in configs_of.items():
        info = inv.configs.get(cfg) or _describe_config(sm, cfg)
        owner = eps[0]
        if info is None:
            det = remembered_cfg.get(cfg, {})
            add(PlanItem("endpoint-config", cfg, "absent", "already gone", "already-gone", None, owner, detail=det))
            for m in det.get("models", []):
                models_of.setdefault(m, owner)
            output_paths[cfg] = list(det.get("output_paths", []))  # its objects may still be there
            continue
        for m in info["models"]:
            models_of.setdefault(m, owner)
        det = {"models": info["models"], "output_paths": info["output_paths"], "variants": info["variants"]}
        others = survivors_using_config(cfg)
        if kept_by_user(cfg, info["arn"]):
            add(PlanItem("endpoint-config", cfg, "keep", "keep: asked to keep (keep parameter)", "asked-to-keep",
                         info["arn"], owner, detail=det))
        elif cfg in rollback_cfgs and not others:
            add(PlanItem("endpoint-config", cfg, "keep", f"keep: the rollback target of {owner} (fixed in place); "
                         "set release_rollback to delete it", "rollback-target", info["arn"], owner, detail=det))
        elif others:
            add(PlanItem("endpoint-config", cfg, "keep", "keep: endpoint config also used by endpoint "
                         + ", ".join(others), "shared-config", info["arn"], owner,
                         [f"endpoint {o} uses {cfg}" for o in others], det))
        else:
            deleting_cfgs.add(cfg)
            output_paths[cfg] = info["output_paths"]
            add(PlanItem("endpoint-config", cfg, "delete", "delete: used only by " + ", ".join(eps), "unused",
                         info["arn"], owner, detail=det))
    for m, owner in remembered_models.items():
        models_of.setdefault(m, owner)

    # 4. models
    for m, owner in models_of.items():
        info = _describe_model(sm, m)
        if info is None:
            add(PlanItem("model", m, "absent", "already gone", "already-gone", None, owner))
            continue
        users = [c for c in inv.model_users(m) if c not in deleting_cfgs]
        if kept_by_user(m, info["arn"]):
            add(PlanItem("model", m, "keep", "keep: asked to keep (keep parameter)", "asked-to-keep", info["arn"], owner))
        elif users and set(users) <= rollback_cfgs:
            add(PlanItem("model", m, "keep", f"keep: the model of the rollback target {', '.join(users)}; set "
                         "release_rollback to delete it", "rollback-target", info["arn"], owner))
        elif users:
            def who(c: str) -> str:
                eps = inv.config_users(c)
                return f"config {c} (endpoint {', '.join(eps)})" if eps else f"config {c} (no endpoint)"

            add(PlanItem("model", m, "keep", "keep: model also used by " + "; ".join(who(c) for c in users),
                         "shared-model", info["arn"], owner, [f"endpoint config {c} uses {m}" for c in users]))
        else:
            add(PlanItem("model", m, "delete", "delete: used only by endpoint config(s) being deleted", "unused",
                         info["arn"], owner))

    # 5. async output/failure objects (opt-in)
    if include_outputs:
        s3 = aws.client("s3")
        surviving_paths = {c: info["output_paths"] for c, info in inv.configs.items() if c not in deleting_cfgs}
        listed_any = False
        for cfg, paths in output_paths.items():
            owner = configs_of[cfg][0]
            for path in paths:
                prefix = _narrow(path, output_prefix)
                if prefix is None:
                    continue
                listed_any = True
                sharers = sorted(c for c, ps in surviving_paths.items() if any(_overlaps(prefix, p) for p in ps))
                if sharers:
                    add(PlanItem("s3-prefix", prefix, "keep", "keep: output path shared with config "
                                 + ", ".join(sharers) + "; objects cannot be told apart", "shared-output-path",
                                 None, owner, detail={"config": cfg}))
                    continue
                uris, truncated = _list_objects(s3, prefix, max_objects)
                if truncated:
                    notes.append(f"more than {max_objects} objects under {prefix}: the first {max_objects} are "
                                 "planned; rerun to continue.")
                for uri in uris:
                    add(PlanItem("s3-object", uri, "delete", f"delete: async output of endpoint config {cfg}",
                                 "unused", None, owner, detail={"config": cfg, "prefix": prefix}))
        if output_prefix and output_paths and not listed_any:
            paths = sorted({p for ps in output_paths.values() for p in ps})
            raise InputError(f"output_prefix {output_prefix!r} is not within the endpoint config's output paths "
                             f"({', '.join(paths) or 'none'}).", code="prefix-outside-outputs",
                             hint="Leave output_prefix unset, or name a prefix inside S3OutputPath/S3FailurePath.")

    ordered = sorted(items.values(), key=lambda i: (KINDS.index(i.kind), names.index(i.endpoint)
                                                    if i.endpoint in names else len(names), i.name))
    return CleanupPlan(names, ordered, float(recent_minutes), include_outputs, output_prefix, sorted(keep_set),
                       now.isoformat(timespec="seconds"), notes)
