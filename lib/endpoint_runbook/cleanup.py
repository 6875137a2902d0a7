"""Step 5 — clean up: delete the broken endpoint and what only it uses, and nothing else.

``plan`` looks before anything changes: for the named endpoint(s) it lists, in dependency order, the
application-autoscaling scaling policies and scalable targets of their variants, the endpoint, its endpoint
config, the config's model(s) and (opt-in) the async output/failure objects under the config's S3 paths.
Each item says ``delete``, ``keep`` (with the reason: another endpoint or config still uses it, or the caller
asked to keep it), ``refuse`` (a guard tripped: the endpoint served successful requests in the last N minutes,
it is the endpoint steps 3/4 deployed and verified, or it is Creating/Updating) or ``absent`` (already gone).
Sharing is found by scanning every endpoint and endpoint config of the account/region.

``execute`` deletes the plan's ``delete`` items (and, with ``force``, its ``refuse`` items) in order, only
when ``confirm`` equals the endpoint name(s); guards and sharing are checked again right before each delete,
each delete is waited on until the resource is gone. ``run`` is the notebook's entry point: dry-run by default,
records ``<run-dir>/05-cleanup.json``, and remembers what the named endpoints reached so a rerun after a partial
failure (the endpoint already gone, its config not) finishes the job.

``snapshot`` and ``wrongful_deletions`` audit a run from the outside (tests and the reliability report).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import botocore.exceptions

from .aws import Aws, error_code, is_error, named_aws_errors
from .errors import CheckFailed, InputError
from .logs import log_group_name
from .records import read_record, write_record

__all__ = [
    "KINDS", "ACTIONS", "OUTCOMES", "SCALING_NAMESPACE", "SCALING_DIMENSION", "IN_TRANSITION",
    "PlanItem", "CleanupPlan", "Outcome", "CleanupReport", "Guard", "Inventory",
    "plan", "execute", "run", "scan", "endpoint_guards", "verified_endpoints", "confirm_token", "check_confirm",
    "parse_names", "snapshot", "wrongful_deletions",
]

#: Dependency order: what must go first comes first.
KINDS = ("scaling-policy", "scalable-target", "endpoint", "endpoint-config", "model", "s3-object", "s3-prefix")
#: delete: will be deleted; keep: stays (reason says why); refuse: a guard tripped (deleted only with force);
#: absent: already gone.
ACTIONS = ("delete", "keep", "refuse", "absent")
OUTCOMES = ("deleted", "kept", "already-gone", "failed", "refused", "skipped", "not-run")
SCALING_NAMESPACE = "sagemaker"
SCALING_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
IN_TRANSITION = ("Creating", "Updating", "SystemUpdating", "RollingBack")
_NOT_FOUND = ("ValidationException", "ValidationError", "ResourceNotFound", "ResourceNotFoundException")
_SUCCESS_LINE = "Inference request succeeded"
_AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)

Progress = Callable[[str], None] | None


# ---------------------------------------------------------------------------------------------- data


@dataclass
class PlanItem:
    """One resource the plan looked at. ``endpoint`` is the named endpoint it was reached from."""

    kind: str
    name: str
    action: str
    reason: str
    code: str  # stable: unused, shared-config, shared-model, asked-to-keep, kept-endpoint, recent-traffic, ...
    arn: str | None = None
    endpoint: str | None = None
    evidence: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PlanItem":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class CleanupPlan:
    endpoint_names: list[str]
    items: list[PlanItem]
    recent_minutes: float
    include_outputs: bool
    output_prefix: str | None
    keep: list[str]
    created: str
    notes: list[str] = field(default_factory=list)

    @property
    def confirm_token(self) -> str:
        return confirm_token(self.endpoint_names)

    @property
    def blocked(self) -> bool:
        """True when a guard refused something: nothing is deleted unless ``force``."""
        return any(i.action == "refuse" for i in self.items)

    def by_action(self, action: str) -> list[PlanItem]:
        return [i for i in self.items if i.action == action]

    @property
    def to_delete(self) -> list[PlanItem]:
        return [i for i in self.items if i.action in ("delete", "refuse")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint_names": self.endpoint_names, "confirm_token": self.confirm_token, "blocked": self.blocked,
            "recent_minutes": self.recent_minutes, "include_outputs": self.include_outputs,
            "output_prefix": self.output_prefix, "keep": self.keep, "created": self.created, "notes": self.notes,
            "counts": {a: len(self.by_action(a)) for a in ACTIONS},
            "items": [i.to_dict() for i in self.items],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CleanupPlan":
        return cls(list(d["endpoint_names"]), [PlanItem.from_dict(i) for i in d.get("items", [])],
                   float(d.get("recent_minutes", 60)), bool(d.get("include_outputs")), d.get("output_prefix"),
                   list(d.get("keep", [])), d.get("created", ""), list(d.get("notes", [])))


@dataclass
class Outcome:
    kind: str
    name: str
    outcome: str  # one of OUTCOMES
    message: str
    endpoint: str | None = None
    arn: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class CleanupReport:
    """What a cleanup run did. ``status``: dry-run, blocked, done, partial, nothing-to-do."""

    plan: CleanupPlan
    status: str
    dry_run: bool
    force: bool
    outcomes: list[Outcome] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0

    def names(self, outcome: str) -> list[str]:
        return [f"{o.kind} {o.name}" for o in self.outcomes if o.outcome == outcome]

    @property
    def deleted(self) -> list[str]:
        return self.names("deleted")

    @property
    def failed(self) -> list[str]:
        return self.names("failed")

    @property
    def changed(self) -> bool:
        return any(o.outcome == "deleted" for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": "cleanup", "status": self.status, "dry_run": self.dry_run, "force": self.force,
            "started": self.started, "seconds": self.seconds,
            "endpoint_names": self.plan.endpoint_names, "confirm_token": self.plan.confirm_token,
            "counts": {o: len(self.names(o)) for o in OUTCOMES},
            "deleted": self.names("deleted"), "kept": self.names("kept"), "already_gone": self.names("already-gone"),
            "failed": self.names("failed"), "refused": self.names("refused"), "skipped": self.names("skipped"),
            "outcomes": [o.to_dict() for o in self.outcomes],
            "plan": self.plan.to_dict(),
        }


@dataclass
class Guard:
    """A reason not to delete an endpoint (``code``: recent-traffic, verified-endpoint, in-transition,
    guard-unreadable)."""

    code: str
    reason: str
    evidence: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- names


def parse_names(endpoint_names: str | Sequence[str] | None) -> list[str]:
    """``"a"``, ``"a,b"`` or ``["a", "b"]`` → ``["a", "b"]`` (order kept; blanks and duplicates rejected)."""
    if endpoint_names is None:
        raw: list[str] = []
    elif isinstance(endpoint_names, str):
        raw = endpoint_names.split(",")
    else:
        raw = [str(n) for n in endpoint_names]
    names = [n.strip() for n in raw]
    if not names or any(not n for n in names):
        raise InputError("no endpoint name to clean up.", code="missing-input",
                         hint="Set endpoint_name (several: comma-separated), or run diagnose first with this run_dir.")
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise InputError(f"endpoint name(s) given twice: {', '.join(dups)}", code="bad-input",
                         hint="Name each endpoint once.")
    return names


def confirm_token(endpoint_names: Sequence[str]) -> str:
    """What ``confirm`` must be: the endpoint name, or the names comma-joined in the given order."""
    return ",".join(endpoint_names)


def check_confirm(endpoint_names: Sequence[str], confirm: str | None) -> None:
    """Raise ``InputError(code="confirm-mismatch")`` unless ``confirm`` names exactly these endpoints, in order."""
    given = [t.strip() for t in (confirm or "").split(",")]
    if given != list(endpoint_names):
        expected = confirm_token(endpoint_names)
        raise InputError(f"confirm {confirm!r} does not match the endpoint name(s) {expected!r}: nothing was deleted.",
                         code="confirm-mismatch",
                         hint=f"To delete, set confirm to exactly {expected!r} (and dry_run to False).")


# ---------------------------------------------------------------------------------------------- scanning


def _iso(v: Any) -> str | None:
    return v.isoformat() if isinstance(v, (dt.datetime, dt.date)) else (str(v) if v is not None else None)


def _models_of(cfg: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for v in list(cfg.get("ProductionVariants") or []) + list(cfg.get("ShadowProductionVariants") or []):
        m = v.get("ModelName")
        if m and m not in out:
            out.append(m)
    return out


def _output_paths(cfg: dict[str, Any]) -> list[str]:
    oc = ((cfg.get("AsyncInferenceConfig") or {}).get("OutputConfig") or {})
    return [p for p in (oc.get("S3OutputPath"), oc.get("S3FailurePath")) if p]


@dataclass
class Inventory:
    """Every endpoint (→ config) and endpoint config (→ models, output paths) of the account/region."""

    endpoints: dict[str, dict[str, Any]]
    configs: dict[str, dict[str, Any]]

    def config_users(self, config: str) -> list[str]:
        return sorted(n for n, e in self.endpoints.items() if config in (e["config"], e.get("pending_config")))

    def model_users(self, model: str) -> list[str]:
        return sorted(n for n, c in self.configs.items() if model in c["models"])

    def endpoints_of_config(self, config: str) -> list[str]:
        return self.config_users(config)


def _describe_endpoint(sm: Any, name: str) -> dict[str, Any] | None:
    try:
        ep = sm.describe_endpoint(EndpointName=name)
    except _AWS_ERRORS as e:
        if is_error(e, *_NOT_FOUND):
            return None
        raise
    pending = (ep.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    return {"arn": ep.get("EndpointArn"), "status": ep.get("EndpointStatus"), "config": ep.get("EndpointConfigName"),
            "pending_config": pending,
            "variants": [v["VariantName"] for v in ep.get("ProductionVariants") or [] if v.get("VariantName")]}


def _describe_config(sm: Any, name: str) -> dict[str, Any] | None:
    try:
        cfg = sm.describe_endpoint_config(EndpointConfigName=name)
    except _AWS_ERRORS as e:
        if is_error(e, *_NOT_FOUND):
            return None
        raise
    return {"arn": cfg.get("EndpointConfigArn"), "models": _models_of(cfg), "output_paths": _output_paths(cfg),
            "variants": [v["VariantName"] for v in cfg.get("ProductionVariants") or [] if v.get("VariantName")]}


def _describe_model(sm: Any, name: str) -> dict[str, Any] | None:
    try:
        m = sm.describe_model(ModelName=name)
    except _AWS_ERRORS as e:
        if is_error(e, *_NOT_FOUND):
            return None
        raise
    return {"arn": m.get("ModelArn")}


def _list(sm: Any, op: str, key: str, name_key: str) -> list[str]:
    return [s[name_key] for page in sm.get_paginator(op).paginate() for s in page[key]]


def scan(sm: Any, *, workers: int = 8, progress: Progress = None) -> Inventory:
    """Describe every endpoint and endpoint config (paginated lists, describes in a small thread pool)."""
    say = progress or (lambda _m: None)
    ep_names = _list(sm, "list_endpoints", "Endpoints", "EndpointName")
    cfg_names = _list(sm, "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName")
    say(f"scanning {len(ep_names)} endpoint(s) and {len(cfg_names)} endpoint config(s) for sharing")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        eps = dict(zip(ep_names, pool.map(lambda n: _describe_endpoint(sm, n), ep_names)))
        cfgs = dict(zip(cfg_names, pool.map(lambda n: _describe_config(sm, n), cfg_names)))
    # Gone between list and describe: not there.
    return Inventory({k: v for k, v in eps.items() if v is not None}, {k: v for k, v in cfgs.items() if v is not None})


def _scaling_all(aas: Any) -> tuple[list[dict], list[dict]]:
    """(scaling policies, scalable targets) of the sagemaker namespace (usually few; paginated)."""
    targets = [t for page in aas.get_paginator("describe_scalable_targets").paginate(
        ServiceNamespace=SCALING_NAMESPACE) for t in page["ScalableTargets"]]
    policies = [p for page in aas.get_paginator("describe_scaling_policies").paginate(
        ServiceNamespace=SCALING_NAMESPACE) for p in page["ScalingPolicies"]]
    return policies, targets


def _scaling_of(endpoint: str, everything: tuple[list[dict], list[dict]]) -> tuple[list[dict], list[dict]]:
    """The policies and targets whose resource id is one of the endpoint's variants
    (``endpoint/<name>/variant/<variant>``, any dimension), also when the endpoint itself is gone."""
    prefix = f"endpoint/{endpoint}/variant/"
    policies, targets = everything
    return ([p for p in policies if p["ResourceId"].startswith(prefix)],
            [t for t in targets if t["ResourceId"].startswith(prefix)])


# ---------------------------------------------------------------------------------------------- guards


def _name_of(record: dict[str, Any] | None) -> str | None:
    if not record:
        return None
    ep = record.get("endpoint")
    if isinstance(ep, dict) and isinstance(ep.get("name"), str):
        return ep["name"]
    if isinstance(ep, str):
        return ep
    name = record.get("endpoint_name")
    return name if isinstance(name, str) else None


def verified_endpoints(run_dir: str | None) -> dict[str, str]:
    """Endpoints steps 3/4 deployed and verified in this run dir → which record says so. Guarded whatever the
    record's outcome (a failed verification still names the endpoint meant to replace the broken one)."""
    out: dict[str, str] = {}
    for step, file in (("deploy", "03-deploy.json"), ("verify", "04-verify.json")):
        rec = read_record(run_dir, step)
        name = _name_of(rec)
        if name and name not in out:
            ok = rec.get("ok") if isinstance(rec, dict) else None
            out[name] = file + (f" (ok: {str(ok).lower()})" if isinstance(ok, bool) else "")
    return out


def _metric_sum(cw: Any, metric: str, endpoint: str, variant: str, start: dt.datetime, end: dt.datetime) -> float:
    minutes = max(1.0, (end - start).total_seconds() / 60)
    period = 60 * max(1, math.ceil(minutes / 1440))
    r = cw.get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName=metric, StartTime=start, EndTime=end, Period=period,
        Statistics=["Sum"],
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}])
    return float(sum(d.get("Sum", 0.0) for d in r.get("Datapoints", [])))


def _metric_guard(cw: Any, endpoint: str, variants: list[str], minutes: float, now: dt.datetime) -> Guard | None:
    start = now - dt.timedelta(minutes=minutes)
    evidence = []
    for v in variants:
        inv = _metric_sum(cw, "Invocations", endpoint, v, start, now + dt.timedelta(minutes=1))
        if inv <= 0:
            continue
        err = _metric_sum(cw, "InvocationModelErrors", endpoint, v, start, now + dt.timedelta(minutes=1))
        if inv - err > 0:
            evidence.append(f"CloudWatch AWS/SageMaker variant {v}: Invocations {inv:g} - InvocationModelErrors "
                            f"{err:g} = {inv - err:g} successful in the last {minutes:g} min")
    if evidence:
        return Guard("recent-traffic", f"refuse: endpoint served successful requests in the last {minutes:g} min "
                     "(CloudWatch metrics)", evidence)
    return None


def _datalog_guard(logs: Any, endpoint: str, minutes: float, now: dt.datetime, *, max_streams: int = 100,
                   max_pages: int = 20) -> Guard | None:
    group = log_group_name(endpoint)
    start_ms = int((now - dt.timedelta(minutes=minutes)).timestamp() * 1000)
    streams: list[str] = []
    try:
        # Not filtered on lastEventTimestamp: CloudWatch updates it lazily; the event filter bounds the window.
        for page in logs.get_paginator("describe_log_streams").paginate(
                logGroupName=group, orderBy="LastEventTime", descending=True):
            streams += [s["logStreamName"] for s in page["logStreams"] if s["logStreamName"].endswith("/data-log")]
            if len(streams) >= max_streams:
                break
    except _AWS_ERRORS as e:
        if is_error(e, "ResourceNotFoundException"):
            return None
        raise
    streams = streams[:max_streams]
    if not streams:
        return None
    kwargs: dict[str, Any] = {"logGroupName": group, "logStreamNames": streams, "startTime": start_ms,
                              "filterPattern": f'"{_SUCCESS_LINE}"'}
    for _ in range(max_pages):
        r = logs.filter_log_events(**kwargs)
        hits = [e for e in r.get("events", []) if _SUCCESS_LINE in e.get("message", "")
                and e.get("timestamp", 0) >= start_ms]
        if hits:
            e = hits[-1]
            when = dt.datetime.fromtimestamp(e["timestamp"] / 1000, dt.timezone.utc).isoformat(timespec="seconds")
            return Guard("recent-traffic", f"refuse: endpoint served successful requests in the last {minutes:g} min "
                         "(data-log)", [f"{group} {e.get('logStreamName', '')} {when}: {e['message'].strip()[:300]}"])
        token = r.get("nextToken")
        if not token:
            break
        kwargs["nextToken"] = token
    return None


def endpoint_guards(aws: Aws, name: str, *, status: str | None, variants: list[str], recent_minutes: float,
                    verified: dict[str, str], now: dt.datetime | None = None) -> list[Guard]:
    """Why ``name`` must not be deleted (empty: nothing against it). A guard that cannot be read refuses too."""
    now = now or dt.datetime.now(dt.timezone.utc)
    guards: list[Guard] = []
    if status in IN_TRANSITION:
        guards.append(Guard("in-transition", f"refuse: endpoint is {status}; wait until it settles",
                            [f"EndpointStatus {status}"]))
    if name in verified:
        guards.append(Guard("verified-endpoint", "refuse: this is the endpoint steps 3/4 deployed and verified",
                            [f"{verified[name]} names {name}"]))
    if recent_minutes and recent_minutes > 0:
        for label, check in (("CloudWatch metrics", lambda: _metric_guard(aws.client("cloudwatch"), name, variants,
                                                                          recent_minutes, now)),
                             ("data-log", lambda: _datalog_guard(aws.client("logs"), name, recent_minutes, now))):
            try:
                g = check()
            except _AWS_ERRORS as e:
                g = Guard("guard-unreadable", f"refuse: could not read {label} to rule out recent traffic "
                          f"({error_code(e) or type(e).__name__})", [str(e)[:300]])
            if g:
                guards.append(g)
    return guards


# ---------------------------------------------------------------------------------------------- planning


def _s3_split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise InputError(f"not an s3:// URI: {uri!r}", code="bad-input", hint="Use s3://bucket/prefix/.")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


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
    bucket, prefix = _s3_split(prefix_uri)
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
         now: dt.datetime | None = None, progress: Progress = None) -> CleanupPlan:
    """The plan for deleting ``endpoint_names`` and what only they use. Changes nothing.

    ``keep``: names or ARNs to keep whatever else says. ``run_dir``: where 03-deploy/04-verify records name the
    verified endpoint (guarded). ``previous``: an earlier 05-cleanup record, so a named endpoint that is already
    gone still reaches the config/models/targets it had (a rerun after a partial failure finishes the job).
    ``output_prefix`` (with ``include_outputs``): only objects under this s3:// prefix, which must lie within
    the config's S3OutputPath/S3FailurePath.
    """
    names = parse_names(endpoint_names)
    if output_prefix is not None:
        _s3_split(output_prefix)
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
    for name in names:
        ep = inv.endpoints.get(name)
        if ep is None:
            ep = _describe_endpoint(sm, name)  # not listed yet/any more: ask once directly
        if ep is None:
            old = _remembered(previous, name)
            old_ep = next((i for i in old if i.kind == "endpoint"), None)
            variants_of[name] = list((old_ep.detail.get("variants") if old_ep else None) or [])
            add(PlanItem("endpoint", name, "absent", "already gone", "already-gone", old_ep.arn if old_ep else None,
                         name, detail={"variants": variants_of[name]}))
            for i in old:
                if i.kind == "endpoint-config":
                    configs_of.setdefault(i.name, []).append(name)
                    remembered_cfg[i.name] = i.detail
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
                                     recent_minutes=recent_minutes, verified=verified, now=now)
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


def _object_exists(s3: Any, uri: str) -> bool:
    bucket, key = _s3_split(uri)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except _AWS_ERRORS as e:
        if is_error(e, "404", "NoSuchKey", "NotFound", "NoSuchBucket"):
            return False
        raise


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
    phase_inv: dict[str, Inventory] = {}
    stopped: set[str] = set()  # endpoints whose items must not be touched any more

    def inventory(kind: str) -> Inventory:
        if kind not in phase_inv:  # one fresh scan when each of these phases starts (after the previous deletes)
            phase_inv[kind] = scan(sm)
        return phase_inv[kind]

    def guards_now(endpoint: str) -> tuple[dict[str, Any] | None, list[Guard]]:
        ep = _describe_endpoint(sm, endpoint)
        if ep is None:
            return None, []
        variants = ep["variants"] or plan_item_variants(endpoint)
        g = endpoint_guards(aws, endpoint, status=ep["status"], variants=variants,
                            recent_minutes=plan.recent_minutes, verified=verified, now=now)
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
        except _AWS_ERRORS as e:
            out(i, "failed", f"{error_code(e) or type(e).__name__}: {str(e)[:300]}")
            if i.kind in ("scaling-policy", "scalable-target", "endpoint") and i.endpoint:
                stopped.add(i.endpoint)
    close()
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
    bucket, key = _s3_split(i.name)
    _delete_simple(lambda: s3.delete_object(Bucket=bucket, Key=key), lambda: not _object_exists(s3, i.name), i, out,
                   absent_first=lambda: not _object_exists(s3, i.name))


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


# ---------------------------------------------------------------------------------------------- the step


def run(aws: Aws, *, run_dir: str, endpoint_name: str | Sequence[str] | None = None, confirm: str = "",
        dry_run: bool = True, force: bool = False, include_outputs: bool = False, output_prefix: str | None = None,
        keep: Iterable[str] = (), recent_minutes: float = 60.0, wait_timeout: float = 900.0,
        poll_seconds: float = 5.0, progress: Progress = None) -> CleanupReport:
    """Plan (always), then delete unless ``dry_run``; record ``05-cleanup.json``.

    ``endpoint_name`` defaults to the endpoint step 1 diagnosed. A ``confirm`` that does not match the name(s)
    is rejected before any AWS call (also in a dry run when it is set). Raises ``CheckFailed`` after writing
    the record when a guard blocked the plan or something could not be deleted (rerun to finish).
    """
    if endpoint_name is None or (isinstance(endpoint_name, str) and not endpoint_name.strip()):
        diag = read_record(run_dir, "diagnose") or {}
        endpoint_name = (diag.get("endpoint") or {}).get("name") if isinstance(diag.get("endpoint"), dict) else None
    names = parse_names(endpoint_name)
    if not dry_run or (confirm or "").strip():
        check_confirm(names, confirm)
    previous = read_record(run_dir, "cleanup")
    if previous and list(previous.get("endpoint_names") or []) != names:
        previous = None
    started = dt.datetime.now(dt.timezone.utc)
    with named_aws_errors("planning the cleanup"):
        p = plan(aws, names, include_outputs=include_outputs, output_prefix=output_prefix, keep=keep,
                 recent_minutes=recent_minutes, run_dir=run_dir, previous=previous, progress=progress)
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
