"""Fixing an endpoint in place: a new endpoint config that copies the serving one except its model,
``UpdateEndpoint`` (SageMaker's blue/green: the old fleet serves until the new one passes its health check),
and the way back (``rollback``: the endpoint onto its recorded previous config).

The previous config is recorded twice: in the deploy record, and as a tag on the new config
(``endpoint-runbook:previous-config``), so a rollback works from the endpoint's name alone.

While and after an update the endpoint's log group holds both fleets: the old containers keep logging (a crash
loop goes on until they stop) beside the new ones. SageMaker (and the local stack) start a new config on new
instances, each logging to a stream of its own (``<variant>/<instance-id>``), so :func:`fleet_window` records
which streams existed when the update began, and :func:`read_fleet_logs` reads only the others: evidence about
the new config never quotes the old one.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from .. import logs as logs_mod
from .. import records
from ..aws import Aws, error_code, is_error, named_aws_errors
from ..errors import CheckFailed, InputError, NotFoundError
from ..progress import Progress
from ..step_records import DeployRecord

__all__ = [
    "IN_PROGRESS",
    "MODES",
    "TAG_PREVIOUS_CONFIG",
    "RollbackResult",
    "copied_data_source",
    "copied_variant",
    "copied_tags",
    "describe_config_or_none",
    "fleet_window",
    "previous_config_of",
    "read_fleet_logs",
    "rollback",
    "update_and_wait",
    "wait_settled",
]

MODES = ("in-place", "new-endpoint")
TAG_PREVIOUS_CONFIG = "endpoint-runbook:previous-config"
IN_PROGRESS = ("Creating", "Updating", "SystemUpdating", "RollingBack")
#: Variant fields an in-place config keeps from the config it replaces (everything but the model): the instances
#: of a real-time or async endpoint, the ServerlessConfig of a serverless one.
_VARIANT_FIELDS = ("VariantName", "InstanceType", "InitialInstanceCount", "InitialVariantWeight",
                   "AcceleratorType", "VolumeSizeInGB", "ModelDataDownloadTimeoutInSeconds",
                   "ContainerStartupHealthCheckTimeoutInSeconds", "EnableSSMAccess", "InferenceAmiVersion",
                   "ServerlessConfig")


def copied_variant(previous: dict[str, Any], model_name: str, *, instance_type: str | None = None,
                   instance_count: int | None = None, serverless_config: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """The previous config's first production variant with the model replaced (instance type/count, or a
    serverless variant's ServerlessConfig, only when given)."""
    v = {k: copy.deepcopy(val) for k, val in ((previous.get("ProductionVariants") or [{}])[0]).items()
         if k in _VARIANT_FIELDS and val is not None}
    v["ModelName"] = model_name
    v.setdefault("VariantName", "AllTraffic")
    v.setdefault("InitialVariantWeight", 1.0)
    if instance_type:
        v["InstanceType"] = instance_type
    if instance_count:
        v["InitialInstanceCount"] = int(instance_count)
    if serverless_config:
        v["ServerlessConfig"] = copy.deepcopy(serverless_config)
    return v


def copied_data_source(sm: Any, model_name: str | None) -> dict[str, Any] | None:
    """The serving model's ``ModelDataSource.S3DataSource`` (uncompressed model data), for the fixed model to
    copy with its new location (:func:`endpoint_runbook.endpoint.model_data.data_source_for`); None when it has none."""
    if not model_name:
        return None
    try:
        model = sm.describe_model(ModelName=model_name)
    except botocore.exceptions.ClientError:
        return None
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    source = (container.get("ModelDataSource") or {}).get("S3DataSource")
    return copy.deepcopy(source) if source else None


def copied_tags(sm: Any, config_arn: str | None, ours: list[dict[str, str]]) -> list[dict[str, str]]:
    """The previous config's tags (not ``aws:`` ones) with ours on top."""
    theirs: list[dict[str, str]] = []
    if config_arn:
        try:
            theirs = sm.list_tags(ResourceArn=config_arn).get("Tags", [])
        except botocore.exceptions.ClientError:
            theirs = []
    mine = {t["Key"] for t in ours}
    return [t for t in theirs if t["Key"] not in mine and not t["Key"].startswith("aws:")] + list(ours)


def previous_config_of(sm: Any, endpoint: dict[str, Any]) -> str | None:
    """The config the endpoint's current config replaced, from the current config's tag."""
    try:
        cfg = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        tags = sm.list_tags(ResourceArn=cfg["EndpointConfigArn"]).get("Tags", [])
    except botocore.exceptions.ClientError:
        return None
    return next((t["Value"] for t in tags if t["Key"] == TAG_PREVIOUS_CONFIG), None)


def wait_settled(sm: Any, name: str, *, timeout: float, poll_seconds: float = 5.0,
                 progress: Callable[[str], Any] | None = None, desc: str | None = None) -> dict[str, Any]:
    """Poll DescribeEndpoint until it leaves Creating/Updating (or ``timeout`` passes); the last description."""
    t0 = time.monotonic()
    bar = Progress(progress, total=timeout, desc=desc or f"waiting for {name}")
    try:
        while True:
            d = sm.describe_endpoint(EndpointName=name)
            elapsed = time.monotonic() - t0
            pending = (d.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
            bar.update(elapsed, d["EndpointStatus"] + (f" → {pending}" if pending else ""))
            if d["EndpointStatus"] not in IN_PROGRESS or elapsed > timeout:
                return d
            time.sleep(min(poll_seconds, max(0.1, timeout - elapsed + 0.1)))
    finally:
        bar.close()


def update_and_wait(sm: Any, name: str, config_name: str, *, timeout: float, poll_seconds: float = 5.0,
                    progress: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """UpdateEndpoint to ``config_name`` (unless it is already updating to it) and wait until it settles.
    Returns the last description: ``EndpointConfigName == config_name`` means the update took."""
    d = sm.describe_endpoint(EndpointName=name)
    pending = (d.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if d["EndpointStatus"] in IN_PROGRESS and pending != config_name:
        d = wait_settled(sm, name, timeout=timeout, poll_seconds=poll_seconds, progress=progress,
                         desc=f"{name} is {d['EndpointStatus']}: waiting before the update")
    if d.get("EndpointConfigName") != config_name and pending != config_name:
        try:
            sm.update_endpoint(EndpointName=name, EndpointConfigName=config_name)
        except botocore.exceptions.ClientError as e:
            # A retried call whose first answer was lost meets our own update in progress.
            if not (is_error(e, "ValidationException") and "in-progress" in str(e)):
                raise
    return wait_settled(sm, name, timeout=timeout, poll_seconds=poll_seconds, progress=progress,
                        desc=f"updating {name} → {config_name}")


#: How long before an update's start the new fleet's logs are read (clock skew between this machine and AWS);
#: the streams, not the time, tell the fleets apart.
_SKEW = dt.timedelta(seconds=60)


def fleet_window(sm: Any, logs_client: Any, endpoint: str, config: str, *, described: dict[str, Any],
                 recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    """What tells the containers of ``config`` apart from the endpoint's earlier ones in its logs: when the update
    to it began and the streams (``<variant>/<instance-id>``) of the fleet before it.

    About to update (``described`` neither serves nor is updating to ``config``): now, and the streams that exist
    now. Otherwise ``recorded`` (an earlier attempt's window for ``config``), else the streams created before
    the update began (``PendingDeploymentSummary.StartTime``) or, once it is done, before ``config`` was created
    (the update cannot have begun earlier). ``old_streams`` None: they could not be listed (lines are then told
    apart by time only)."""
    pending = described.get("PendingDeploymentSummary") or {}
    cutoff: int | None = None
    if described.get("EndpointConfigName") != config and pending.get("EndpointConfigName") != config:
        started, how = dt.datetime.now(dt.timezone.utc), "the streams that existed right before UpdateEndpoint"
    elif recorded and recorded.get("config") == config:
        return recorded
    elif pending.get("EndpointConfigName") == config and isinstance(pending.get("StartTime"), dt.datetime):
        started, how = pending["StartTime"], "the streams created before the update began (its StartTime)"
        cutoff = logs_mod.to_ms(started)
    else:
        created = (describe_config_or_none(sm, config) or {}).get("CreationTime")
        started = created if isinstance(created, dt.datetime) else dt.datetime.now(dt.timezone.utc)
        how = f"the streams created before {config} existed"
        cutoff = logs_mod.to_ms(started)
    old: list[str] | None
    try:
        old = sorted({st.instance for st in logs_mod.list_log_streams(logs_client, endpoint)
                      if cutoff is None or (st.created or 0) < cutoff})
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        old, how = None, f"the streams could not be listed ({error_code(e) or type(e).__name__}): lines since then only"
    return {"config": config, "started_at": started.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds"),
            "old_streams": old, "how": how}


def read_fleet_logs(logs_client: Any, endpoint: str, window: dict[str, Any], *,
                    max_events: int = 20_000) -> logs_mod.LogRead:
    """The endpoint's log lines from the containers of ``window['config']`` only (:func:`fleet_window`): the
    streams of the fleet before it left out, from shortly before the update began."""
    started = dt.datetime.fromisoformat(window["started_at"])
    old = window.get("old_streams")
    if old is None:  # the fleets cannot be told apart by stream: by time only
        return logs_mod.read_endpoint_logs(logs_client, endpoint, start=started, max_events=max_events)
    gone = set(old)
    return logs_mod.read_endpoint_logs(logs_client, endpoint, start=started - _SKEW, max_events=max_events,
                                       streams=lambda st: st.instance not in gone)


@dataclass
class RollbackResult:
    ok: bool = False
    endpoint_name: str = ""
    from_config: str | None = None
    to_config: str | None = None
    previous_from: str | None = None  # "deploy record" | "config tag" | "parameter"
    endpoint_status: str | None = None
    failure_reason: str | None = None
    seconds: float | None = None
    at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def rollback(aws: Aws, endpoint_name: str, *, run_dir: str | None = None, to_config: str | None = None,
             wait_timeout: float = 900, poll_seconds: float = 5.0,
             progress: Callable[[str], Any] | None = None) -> RollbackResult:
    """Put ``endpoint_name`` back on its previous endpoint config (``to_config``, else the deploy record's
    ``previous_endpoint_config_name`` in ``run_dir``, else the current config's previous-config tag); wait.

    The rollback is written into the deploy record (``rollback``) when ``run_dir`` has one. Raises InputError
    ``no-previous-config`` / ``previous-config-gone``, CheckFailed ``rollback-failed``.
    """
    t0 = time.monotonic()
    sm = aws.client("sagemaker")
    res = RollbackResult(endpoint_name=endpoint_name, at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    with named_aws_errors(f"rolling back {endpoint_name}", changed_nothing=False):
        try:
            d = sm.describe_endpoint(EndpointName=endpoint_name)
        except botocore.exceptions.ClientError as e:
            if is_error(e, "ValidationException", "ResourceNotFound"):
                raise NotFoundError(f"endpoint {endpoint_name!r} does not exist in {aws.region}.",
                                    code="endpoint-not-found", hint="Check the name and region.") from e
            raise
        res.from_config = d["EndpointConfigName"]
        rec = records.read_record(run_dir, "deploy") if run_dir else None  # the record itself: amended below
        dep = DeployRecord.from_dict(rec) if rec else DeployRecord()
        if to_config:
            res.to_config, res.previous_from = to_config, "parameter"
        elif dep.endpoint_name == endpoint_name and dep.previous_endpoint_config_name:
            res.to_config, res.previous_from = dep.previous_endpoint_config_name, "deploy record"
        else:
            res.to_config, res.previous_from = previous_config_of(sm, d), "config tag"
        if not res.to_config:
            raise InputError(f"no previous config is recorded for {endpoint_name} (its config "
                             f"{res.from_config} has no {TAG_PREVIOUS_CONFIG} tag and no deploy record names one).",
                             code="no-previous-config",
                             hint="Pass the config to return to (--to-config), or the run dir of the in-place deploy.")
        if res.to_config == res.from_config and d["EndpointStatus"] == "InService":
            res.ok, res.endpoint_status = True, d["EndpointStatus"]
            res.seconds = round(time.monotonic() - t0, 3)
            _remember(run_dir, rec, endpoint_name, res)
            return res
        try:
            sm.describe_endpoint_config(EndpointConfigName=res.to_config)
        except botocore.exceptions.ClientError as e:
            if is_error(e, "ValidationException", "ResourceNotFound"):
                raise InputError(f"the previous config {res.to_config} no longer exists (a cleanup released the "
                                 "rollback).", code="previous-config-gone",
                                 hint="Recreate it from the deploy record's plan, or deploy another fix.") from e
            raise
        d = update_and_wait(sm, endpoint_name, res.to_config, timeout=wait_timeout, poll_seconds=poll_seconds,
                            progress=progress)
    res.endpoint_status, res.failure_reason = d["EndpointStatus"], d.get("FailureReason")
    res.ok = d["EndpointStatus"] == "InService" and d.get("EndpointConfigName") == res.to_config
    res.seconds = round(time.monotonic() - t0, 3)
    _remember(run_dir, rec, endpoint_name, res)
    if not res.ok:
        raise CheckFailed(f"rollback of {endpoint_name} to {res.to_config} did not take: it is {d['EndpointStatus']} "
                          f"on {d.get('EndpointConfigName')} ({d.get('FailureReason') or 'no FailureReason'}).",
                          code="rollback-failed", hint="See the endpoint's CloudWatch logs; rerun to retry.")
    return res


def _remember(run_dir: str | None, rec: dict[str, Any] | None, endpoint_name: str, res: RollbackResult) -> None:
    if run_dir and rec and rec.get("endpoint_name") == endpoint_name:
        rec["rollback"] = res.to_dict()
        records.write_record(run_dir, "deploy", rec)


def describe_config_or_none(sm: Any, name: str | None) -> dict[str, Any] | None:
    if not name:
        return None
    try:
        return sm.describe_endpoint_config(EndpointConfigName=name)
    except botocore.exceptions.ClientError as e:
        if is_error(e, "ValidationException", "ResourceNotFound"):
            return None
        raise

