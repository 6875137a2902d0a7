"""Step 3 — deploy: model, endpoint config of the broken endpoint's own kind (async, real-time, serverless) and
endpoint for the fixed archive; a bounded wait; then a real smoke request with the kind's own call
(``InvokeEndpointAsync``, or ``InvokeEndpoint``), because ``/ping`` says Healthy while the workers crash.

Idempotent: the model and endpoint-config names are derived from the archive's sha256 (plus a short digest
of the rest of their spec), so a rerun finds them and reuses them; the endpoint of a previous run (its
record) or a named endpoint is reused when it already serves that config. Rerunning deploy creates nothing
new. Everything created is tagged with the run id and the endpoint it replaces.

Preflight runs before anything is created and reports every problem at once: role, model data, output and
failure bucket paths, SNS topics, botocore new enough for ``S3FailurePath``, the smoke input, the image,
name conflicts.

Two modes. ``in-place`` (the default when the broken endpoint exists) keeps the endpoint's name: a new
endpoint config copies the serving one (variant name, instance type/count or ServerlessConfig, AsyncInferenceConfig,
DataCaptureConfig, KMS key, tags) with
the fixed model, ``UpdateEndpoint`` shifts traffic blue/green, the previous config is recorded (in the record
and as a tag on the new config) for :func:`endpoint_runbook.endpoint.inplace.rollback`, and the smoke request goes to
the same name. ``new-endpoint`` creates a new endpoint beside the broken one (the seed's procedure).

Values left unset come from the diagnose record (``01-diagnose.json``: ``endpoint`` = name, config_name,
model_name, image, model_data_url, environment, execution_role_arn, instance_type, instance_count,
async_config, kind, serverless_config) and the rebuild record (``02-rebuild_archive.json``: ``target_uri``, ``result_sha256``).

A fixed model whose data is a prefix (``model_data_url`` ending in ``/``: uncompressed model data) is created
with ``ModelDataSource`` (the source model's ``S3DataSource`` with the new ``S3Uri``, in place from the serving
model itself), named from a digest of the prefix's listing; an archive keeps ``ModelDataUrl``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore
import botocore.exceptions

from .. import logs as logs_mod
from .. import records
from ..aws import AccessDenied, Aws, error_code, error_entry, is_error, named_aws_errors
from ..endpoint.inplace import (
    IN_PROGRESS,
    TAG_PREVIOUS_CONFIG,
    copied_tags,
    fleet_window,
    read_fleet_logs,
    update_and_wait,
)
from ..endpoint.inplace import rollback as rollback_endpoint
from ..endpoint.kind import ASYNC, SERVERLESS, config_kwargs
from ..endpoint.model_data import (
    container_data,
)
from ..endpoint.names import VARIANT
from ..endpoint.plan import DeployPlan, plan
from ..endpoint.preflight import PreflightFailed, preflight
from ..errors import CheckFailed, InputError
from ..findings import Finding
from ..invocation.invoke import (
    SYNC_READ_TIMEOUT,
    RequestResult,
    invoke_and_wait,
    invoke_sync,
    payload_limit,
)
from ..progress import Progress
from ..step_records import DeployRecord

__all__ = ["DeployResult", "Deployment", "create", "prepare", "run", "smoke", "wait", "wait_for_endpoint"]



# ---------------------------------------------------------------------------------------------- wait


def wait_for_endpoint(sm: Any, name: str, *, timeout: float, poll_seconds: float = 5.0,
                      progress: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Poll DescribeEndpoint until it leaves Creating/Updating or ``timeout`` passes; returns the last
    description (its EndpointStatus tells which)."""
    t0 = time.monotonic()
    bar = Progress(progress, total=timeout, desc=f"waiting for {name}")
    try:
        while True:
            d = sm.describe_endpoint(EndpointName=name)
            status = d["EndpointStatus"]
            elapsed = time.monotonic() - t0
            bar.update(elapsed, status)
            if status not in ("Creating", "Updating", "SystemUpdating"):
                return d
            if elapsed > timeout:
                return d
            time.sleep(min(poll_seconds, max(0.1, timeout - elapsed + 0.1)))
    finally:
        bar.close()


# ---------------------------------------------------------------------------------------------- result


@dataclass
class DeployResult:
    ok: bool = False
    status: str = "not-started"  # preflight-failed | endpoint-failed | update-failed | timeout | smoke-failed |
    #                               deployed | rolled-back | error (between sub-steps: planned, created, in-service)
    mode: str | None = None  # in-place | new-endpoint
    kind: str | None = None  # async | real-time | serverless
    previous_endpoint_config_name: str | None = None  # in-place: what a rollback returns to
    previous_model_name: str | None = None
    rollback: dict[str, Any] | None = None  # the last rollback of this endpoint (inplace.RollbackResult)
    run_id: str | None = None
    endpoint_name: str | None = None
    endpoint_arn: str | None = None
    endpoint_status: str | None = None
    endpoint_config_name: str | None = None
    endpoint_config_arn: str | None = None
    model_name: str | None = None
    model_arn: str | None = None
    actions: dict[str, str] = field(default_factory=dict)  # model/endpoint_config/endpoint → created|reused
    created: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)
    preflight: list[Finding] = field(default_factory=list)
    timings: dict[str, float | None] = field(default_factory=dict)
    smoke: RequestResult | None = None
    failure_reason: str | None = None
    log_evidence: dict[str, Any] | None = None
    update_window: dict[str, Any] | None = None  # in place: when the update began, the old fleet's log streams
    started_at: str | None = None
    error: dict[str, Any] | None = None

    @property
    def smoke_input(self) -> str | None:
        return self.smoke.input if self.smoke else self.plan.get("smoke_input")

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["preflight"] = [f.to_dict() for f in self.preflight]
        d["smoke"] = self.smoke.to_dict() if self.smoke else None
        d["source_endpoint"] = self.plan.get("source_endpoint")
        return records.to_jsonable({"step": "deploy", **d})


# ---------------------------------------------------------------------------------------------- the step


def run(
    aws: Aws,
    *,
    run_dir: str,
    model_data_url: str | None = None,
    archive_sha256: str | None = None,
    endpoint_name: str | None = None,
    name_prefix: str | None = None,
    image_uri: str | None = None,
    framework: str = "pytorch",
    framework_version: str | None = None,
    py_version: str | None = None,
    instance_type: str | None = None,
    instance_count: int | None = None,
    execution_role_arn: str | None = None,
    environment: dict[str, str] | None = None,
    async_config: dict[str, Any] | None = None,
    max_concurrent_invocations: int | None = None,
    smoke_input: str | None = None,
    smoke_content_type: str | None = None,
    wait_timeout: float = 900,
    smoke_timeout: float = 300,
    poll_seconds: float = 5.0,
    run_id: str | None = None,
    mode: str | None = None,
    rollback: bool = False,
    progress: Callable[[str], Any] | None = None,
    **alone: Any,
) -> DeployResult:
    """Deploy the fixed archive as an endpoint of the broken one's kind (async, real-time, serverless) and prove it
    serves with a request of that kind; write ``03-deploy.json``.

    mode: ``in-place`` (update the broken endpoint; the default when it exists) or ``new-endpoint``.
    rollback: instead of deploying, put the endpoint of this run's in-place deploy back on its previous config.
    ``alone``: :func:`plan`'s parameters for running without records (``copy_from_config``, the async paths
    and topics). The four sub-steps (:func:`prepare`, :func:`create`, :func:`wait`, :func:`smoke`) in one call.

    Raises (after writing the record): PreflightFailed (``preflight-failed``, nothing created), CheckFailed
    ``endpoint-failed`` (FailureReason + log evidence), ``deploy-timeout``, ``smoke-failed`` (the failure
    object or timeout + log evidence).
    """
    if rollback:
        return _rollback_step(aws, run_dir=run_dir, endpoint_name=endpoint_name, wait_timeout=wait_timeout,
                              poll_seconds=poll_seconds, progress=progress)
    dep = prepare(aws, run_dir=run_dir, model_data_url=model_data_url, archive_sha256=archive_sha256,
                  endpoint_name=endpoint_name, name_prefix=name_prefix, image_uri=image_uri,
                  framework=framework, framework_version=framework_version, py_version=py_version,
                  instance_type=instance_type, instance_count=instance_count,
                  execution_role_arn=execution_role_arn, environment=environment,
                  async_config=async_config, max_concurrent_invocations=max_concurrent_invocations,
                  smoke_input=smoke_input, smoke_content_type=smoke_content_type, run_id=run_id, mode=mode,
                  **alone)
    create(dep)
    wait(dep, timeout=wait_timeout, poll_seconds=poll_seconds, progress=progress)
    return smoke(dep, timeout=smoke_timeout, progress=progress)


@dataclass
class Deployment:
    """A deploy in progress, between its sub-steps (a notebook runs each in its own cell)."""

    aws: Aws
    run_dir: str
    plan: DeployPlan | None
    result: DeployResult
    t0: float
    created_at: float | None = None
    described: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def _recording(dep: Deployment) -> Any:
    """Every sub-step: on failure, record the error in ``03-deploy.json`` and re-raise."""
    result = dep.result
    try:
        yield
    except Exception as e:
        result.ok = False
        if isinstance(e, AccessDenied):  # what this run had made or changed, each whole: a rerun reuses it
            e.with_done(*(f"created {c.replace('_', ' ').replace('/', ' ', 1)} (a rerun reuses it)"
                          for c in result.created),
                        *([f"updated {dep.plan.endpoint_name} to {dep.plan.endpoint_config_name}"]
                          if result.actions.get("endpoint") == "updated" and dep.plan else []))
            result.status = "access-denied"
        if result.status in ("not-started", "planned", "created", "in-service", "deployed"):
            result.status = "error"
        result.error = error_entry(e)
        result.timings["total_s"] = round(time.monotonic() - dep.t0, 3)
        records.write_record(dep.run_dir, "deploy", result.to_dict())
        with named_aws_errors("deploying (names are derived from the archive: the rerun reuses what exists)",
                              changed_nothing=False):
            raise


def prepare(aws: Aws, *, run_dir: str, rollback: bool = False, rollback_timeout: float = 900,
            poll_seconds: float = 5.0, progress: Callable[[str], Any] | None = None,
            **plan_kw: Any) -> Deployment:
    """Sub-step 1, preflight: resolve the plan (:func:`plan`'s parameters) and check it; nothing is created.
    Raises PreflightFailed (after writing the record) when any finding is an error. With ``rollback``, the
    endpoint of this run's in-place deploy goes back on its previous config instead, and the later sub-steps
    have nothing to do."""
    dep = Deployment(aws, run_dir, None, DeployResult(
        started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")), time.monotonic())
    if rollback:
        dep.result = _rollback_step(aws, run_dir=run_dir, endpoint_name=plan_kw.get("endpoint_name"),
                                    wait_timeout=rollback_timeout, poll_seconds=poll_seconds, progress=progress)
        return dep
    result = dep.result
    with _recording(dep):
        p, findings = plan(aws, run_dir=run_dir, **plan_kw)
        dep.plan = p
        result.run_id, result.mode, result.kind = p.run_id, p.mode, p.kind
        result.previous_endpoint_config_name, result.previous_model_name = (p.previous_endpoint_config_name,
                                                                            p.previous_model_name)
        previous = records.read_record(run_dir, "deploy")
        findings += preflight(aws, p, previous=previous)
        earlier = DeployRecord.from_dict(previous)
        if p.mode == "in-place" and earlier.endpoint_name == p.endpoint_name:
            result.update_window = earlier.update_window  # a rerun: whose logs are the new config's
        result.plan = p.to_dict()
        result.preflight = findings
        result.timings["preflight_s"] = round(time.monotonic() - dep.t0, 3)
        if any(f.severity == "error" for f in findings):
            result.status = "preflight-failed"
            raise PreflightFailed(findings)
        result.model_name, result.endpoint_config_name, result.endpoint_name = (
            p.model_name, p.endpoint_config_name, p.endpoint_name)
        result.status = "planned"
    return dep


def _new_variant(p: DeployPlan) -> dict[str, Any]:
    """A new endpoint's variant: instances, or (serverless) the copied ServerlessConfig."""
    v: dict[str, Any] = {"VariantName": VARIANT, "ModelName": p.model_name}
    if p.kind == SERVERLESS:
        return v | {"ServerlessConfig": copy.deepcopy(p.serverless_config)}
    return v | {"InitialInstanceCount": p.instance_count, "InstanceType": p.instance_type, "InitialVariantWeight": 1.0}


def _planned(dep: Deployment) -> DeployPlan:
    if dep.plan is None or dep.result.status in ("preflight-failed", "not-started"):
        raise InputError("the preflight did not pass: nothing to create.", code="not-prepared",
                         hint="Rerun the preflight cell (deploy.prepare) and fix what it reports.")
    return dep.plan


def create(dep: Deployment) -> DeployResult:
    """Sub-step 2: the model and the async endpoint config (each reused when it exists), and a new endpoint
    (mode new-endpoint). In place, the endpoint is updated by :func:`wait`."""
    if dep.result.status == "rolled-back":
        return dep.result
    p, result = _planned(dep), dep.result
    with _recording(dep):
        sm = dep.aws.client("sagemaker")
        result.model_arn = _ensure(result, "model", p.model_name, lambda: sm.describe_model(ModelName=p.model_name),
                                   lambda: sm.create_model(
                                       ModelName=p.model_name, ExecutionRoleArn=p.execution_role_arn, Tags=p.tags,
                                       PrimaryContainer={"Image": p.image_uri, "Environment": p.environment,
                                                         **container_data(p.model_data_url, p.model_data_source)},
                                       **p.model_network),
                                   "ModelArn")
        variant = p.variant or _new_variant(p)
        config_tags = p.tags
        if p.mode == "in-place":  # the broken config's own tags, ours, and the way back
            config_tags = copied_tags(sm, p.source_endpoint.get("config_arn"), [
                *p.tags, {"Key": TAG_PREVIOUS_CONFIG, "Value": p.previous_endpoint_config_name or ""}])
        result.endpoint_config_arn = _ensure(
            result, "endpoint_config", p.endpoint_config_name,
            lambda: sm.describe_endpoint_config(EndpointConfigName=p.endpoint_config_name),
            lambda: sm.create_endpoint_config(
                EndpointConfigName=p.endpoint_config_name, Tags=config_tags, ProductionVariants=[variant],
                **config_kwargs(p.kind, async_config=p.async_config, data_capture=p.data_capture_config,
                                kms_key_id=p.kms_key_id)),
            "EndpointConfigArn")
        if p.endpoint_action == "reuse":
            result.actions["endpoint"] = "reused"
            if f"endpoint/{p.endpoint_name}" not in result.reused:
                result.reused.append(f"endpoint/{p.endpoint_name}")
        elif p.endpoint_action == "create" and result.actions.get("endpoint") != "created":  # rerun: not twice
            dep.created_at = time.monotonic()
            existing = _create("CreateEndpoint", lambda: sm.create_endpoint(
                EndpointName=p.endpoint_name, EndpointConfigName=p.endpoint_config_name, Tags=p.tags),
                lambda: sm.describe_endpoint(EndpointName=p.endpoint_name))
            if existing.get("EndpointConfigName", p.endpoint_config_name) != p.endpoint_config_name:
                raise CheckFailed(f"{p.endpoint_name} exists and serves {existing['EndpointConfigName']}, not "
                                  f"{p.endpoint_config_name}.", code="endpoint-exists",
                                  hint="Choose another fixed_endpoint_name; deploy never repoints a live endpoint.")
            result.actions["endpoint"] = "created"
            result.created.append(f"endpoint/{p.endpoint_name}")
        result.status = "created"
        records.write_record(dep.run_dir, "deploy", result.to_dict())
    return result


def wait(dep: Deployment, *, timeout: float = 900, poll_seconds: float = 5.0,
         progress: Callable[[str], Any] | None = None) -> DeployResult:
    """Sub-step 3: a bounded wait for InService (in place: UpdateEndpoint to the fixed config, blue/green, and
    its wait); a failure or a timeout comes with its log evidence."""
    if dep.result.status == "rolled-back":
        return dep.result
    p, result, aws = _planned(dep), dep.result, dep.aws
    with _recording(dep):
        sm = aws.client("sagemaker")
        if p.mode == "in-place":  # before the update: which log streams are the old fleet's
            result.update_window = fleet_window(sm, aws.client("logs"), p.endpoint_name, p.endpoint_config_name,
                                                described=sm.describe_endpoint(EndpointName=p.endpoint_name),
                                                recorded=result.update_window)
            records.write_record(dep.run_dir, "deploy", result.to_dict())
        window = result.update_window if p.mode == "in-place" else None
        if p.endpoint_action == "update":
            dep.created_at = time.monotonic()
            d = update_and_wait(sm, p.endpoint_name, p.endpoint_config_name, timeout=timeout,
                                poll_seconds=poll_seconds, progress=progress)
            result.actions["endpoint"] = "updated"
            result.timings["update_s"] = round(time.monotonic() - dep.created_at, 3)
            if d["EndpointStatus"] not in IN_PROGRESS and d.get("EndpointConfigName") != p.endpoint_config_name:
                result.endpoint_status, result.failure_reason = d["EndpointStatus"], d.get("FailureReason")
                result.endpoint_config_name = d.get("EndpointConfigName")
                result.log_evidence = _log_evidence(aws, p.endpoint_name, d, window=window)
                result.status = "update-failed"
                cause = _said(result.log_evidence)
                raise CheckFailed(f"the update of {p.endpoint_name} to {p.endpoint_config_name} failed; it stays on "
                                  f"{d.get('EndpointConfigName')} ({d['EndpointStatus']}): "
                                  f"{(d.get('FailureReason') or 'no FailureReason').rstrip('.')}. Log evidence: "
                                  f"{cause}.", code="update-failed",
                                  hint="The endpoint still serves its previous config. See log_evidence in "
                                  "03-deploy.json; fix the archive, then rerun deploy.")
        else:
            d = wait_for_endpoint(sm, p.endpoint_name, timeout=timeout, poll_seconds=poll_seconds,
                                  progress=progress)
        dep.described = d
        result.endpoint_arn, result.endpoint_status = d.get("EndpointArn"), d["EndpointStatus"]
        if dep.created_at is not None and d["EndpointStatus"] == "InService" and p.endpoint_action != "update":
            result.timings["create_to_in_service_s"] = round(time.monotonic() - dep.created_at, 3)
        if d["EndpointStatus"] != "InService":
            result.failure_reason = d.get("FailureReason")
            result.log_evidence = _log_evidence(aws, p.endpoint_name, d, window=window)
            cause = _said(result.log_evidence)
            if d["EndpointStatus"] in ("Creating", "Updating", "SystemUpdating"):
                result.status = "timeout"
                raise CheckFailed(f"{p.endpoint_name} is still {d['EndpointStatus']} after {timeout:.0f} s. "
                                  f"Logs so far: {cause}.", code="deploy-timeout",
                                  hint="Rerun deploy with the same run_dir to keep waiting (nothing is duplicated), "
                                  "or raise wait_timeout.")
            result.status = "endpoint-failed"
            raise CheckFailed(f"{p.endpoint_name} is {d['EndpointStatus']}: {(d.get('FailureReason') or '').rstrip('.')}. "
                              f"Log evidence: {cause}.", code="endpoint-failed",
                              hint="See log_evidence in 03-deploy.json; fix the archive or config, then rerun.")
        result.status = "in-service"
    return result


def smoke(dep: Deployment, *, timeout: float = 300, progress: Callable[[str], Any] | None = None) -> DeployResult:
    """Sub-step 4: a real request with the kind's own call (``/ping`` says nothing about the workers): async, an
    ``InvokeEndpointAsync`` and its result in S3; real-time and serverless, ``InvokeEndpoint`` with the input's bytes
    (its content type and ``smoke_accept``). Writes the record."""
    if dep.result.status == "rolled-back":
        return dep.result
    p, result, aws = _planned(dep), dep.result, dep.aws
    if result.endpoint_status != "InService":
        raise InputError(f"{p.endpoint_name} is not known to be InService yet.", code="not-in-service",
                         hint="Run the wait cell (deploy.wait) first.")
    with _recording(dep):
        smoke_started = time.monotonic()
        bar = Progress(progress, total=timeout, desc=f"smoke request on {p.endpoint_name}")
        result.smoke = None
        try:
            if p.kind == ASYNC:
                result.smoke = invoke_and_wait(
                    aws.client("sagemaker-runtime"), aws.client("s3"), endpoint_name=p.endpoint_name,
                    input_uri=p.smoke_input, content_type=p.smoke_content_type,
                    deadline=time.monotonic() + timeout + 15, invocation_timeout=int(max(1, min(3600, timeout))),
                    index=1, kind="smoke", tick=lambda msg: bar.update(time.monotonic() - smoke_started, msg))
            else:
                result.smoke = _sync_smoke(dep, p, deadline=smoke_started + timeout,
                                           tick=lambda msg: bar.update(time.monotonic() - smoke_started, msg))
        finally:
            bar.close(result.smoke.status if result.smoke else None)
        result.timings["smoke_latency_s"] = result.smoke.latency_s
        if dep.created_at is not None and result.smoke.ok:
            result.timings["deploy_to_first_result_s"] = round(time.monotonic() - dep.created_at, 3)
        if not result.smoke.ok:
            result.status = "smoke-failed"
            result.failure_reason = result.smoke.failure_reason
            result.log_evidence = _log_evidence(aws, p.endpoint_name, dep.described,
                                                window=result.update_window if p.mode == "in-place" else None)
            cause = _said(result.log_evidence)
            raise CheckFailed(f"{p.endpoint_name} is InService but the smoke request {result.smoke.status}: "
                              f"{(result.smoke.failure_reason or '').rstrip('.')}. Log evidence: {cause}.", code="smoke-failed",
                              hint="InService only means /ping answers. See log_evidence in 03-deploy.json.")
        result.ok, result.status = True, "deployed"
        result.error = None
    result.timings["total_s"] = round(time.monotonic() - dep.t0, 3)
    records.write_record(dep.run_dir, "deploy", result.to_dict())
    return result


#: A synchronous smoke request that got no answer is sent again while the workers are still loading the model (the
#: new containers' logs name no failure): an endpoint is InService once /ping answers, which on TorchServe images is
#: before a slow model has loaded; requests sent meanwhile wait and time out at SageMaker's 60 s.
SMOKE_RETRY_PAUSE = 5.0


def _sync_smoke(dep: Deployment, p: DeployPlan, *, deadline: float, tick: Callable[[str], Any]) -> Any:
    """InvokeEndpoint with the smoke input, again after a request without an answer while the logs of the new
    containers say nothing failed and the smoke's time allows; each attempt is counted in ``smoke.attempts``."""
    aws, attempts = dep.aws, []
    while True:
        tick(f"InvokeEndpoint ({p.kind})" + (f", attempt {len(attempts) + 1}" if attempts else ""))
        rr = invoke_sync(aws.client("sagemaker-runtime", read_timeout=SYNC_READ_TIMEOUT, max_attempts=1),
                         aws.client("s3"), endpoint_name=p.endpoint_name, input_uri=p.smoke_input,
                         content_type=p.smoke_content_type, accept=p.smoke_accept, deadline=deadline,
                         max_payload=payload_limit(p.kind), index=1, kind="smoke")
        if rr.ok or not rr.unanswered or time.monotonic() + SMOKE_RETRY_PAUSE + 10 > deadline:
            break
        said = _log_evidence(aws, p.endpoint_name, dep.described, settle=0,
                             window=dep.result.update_window if p.mode == "in-place" else None)["cause"]
        if said.get("code") not in _NOTHING_YET:
            break
        attempts.append({"status": rr.status, "latency_s": rr.latency_s, "logs": said.get("code")})
        time.sleep(SMOKE_RETRY_PAUSE)
    if attempts:
        rr.attempts = attempts
    return rr


def _rollback_step(aws: Aws, *, run_dir: str, endpoint_name: str | None, wait_timeout: float,
                   poll_seconds: float, progress: Callable[[str], Any] | None) -> DeployResult:
    """deploy's ``rollback`` parameter: the endpoint of this run's in-place deploy back on its previous config."""
    rec = DeployRecord.read(run_dir) or DeployRecord()
    name = endpoint_name or rec.endpoint_name
    if not name:
        raise InputError("rollback: no endpoint named and no deploy record in this run dir.", code="missing-input",
                         hint="Pass the endpoint name, or the run_dir of the in-place deploy.")
    rb = rollback_endpoint(aws, name, run_dir=run_dir, wait_timeout=wait_timeout, poll_seconds=poll_seconds,
                           progress=progress)
    out = DeployResult(ok=rb.ok, status="rolled-back", run_id=rec.run_id, endpoint_name=name,
                       endpoint_status=rb.endpoint_status, endpoint_config_name=rb.to_config, mode=rec.mode,
                       previous_endpoint_config_name=rb.from_config, rollback=rb.to_dict(),
                       started_at=rb.at)
    return out


def _create_failed(what: str, e: BaseException) -> CheckFailed:
    return CheckFailed(f"{what} failed: {error_code(e)}: {e}", code="create-failed",
                       hint="Fix the permission or limit it names, then rerun deploy (what exists is reused).")


def _create(what: str, create: Callable[[], Any], describe: Callable[[], dict[str, Any]]) -> Any:
    """Create; when the answer to our create was lost and botocore's retry met "already existing", the
    resource is ours (its name comes from this very spec or run), so describe it. SageMaker says so only in
    the message: there is no distinct error code."""
    try:
        return create()
    except botocore.exceptions.ClientError as e:
        if is_error(e, "ValidationException") and "already existing" in str(e):
            return describe()
        raise _create_failed(what, e) from e


def _ensure(result: DeployResult, kind: str, name: str, describe: Callable[[], dict[str, Any]],
            create: Callable[[], dict[str, Any]], arn_key: str) -> str | None:
    """Reuse the resource when it exists (preflight checked it matches), else create it."""
    try:
        d = describe()
        result.actions[kind] = "reused"
        result.reused.append(f"{kind}/{name}")
        return d.get(arn_key)
    except botocore.exceptions.ClientError as e:
        if not is_error(e, "ValidationException", "ResourceNotFound"):
            raise
    r = _create(f"Create{''.join(w.title() for w in kind.split('_'))}", create, describe)
    result.actions[kind] = "created"
    result.created.append(f"{kind}/{name}")
    return r.get(arn_key)


# CloudWatch shows a container's line some seconds after it was written; the failure just seen may not be in the
# log yet. The read is repeated (every LOG_SETTLE_POLL s, for at most LOG_SETTLE_SECONDS) while it names no cause
# and holds nothing logged since the failure.
LOG_SETTLE_SECONDS = 30.0
LOG_SETTLE_POLL = 2.0
_NOTHING_YET = ("healthy", "no-known-signature", "no-logs")


def _log_evidence(aws: Aws, endpoint_name: str, d: dict[str, Any], *,
                  window: dict[str, Any] | None = None, settle: float = LOG_SETTLE_SECONDS) -> dict[str, Any]:
    """What the endpoint's logs say about the failure seen now (:func:`_read_evidence`), read again while the
    logs have not caught up with it (``settle``: seconds at most); ``settle`` says how long that took."""
    failed_at_ms, t0, reads = int(time.time() * 1000), time.monotonic(), 0
    while True:
        evidence, newest = _read_evidence(aws, endpoint_name, d, window=window)
        reads += 1
        caught_up = newest is not None and newest >= failed_at_ms
        waited = time.monotonic() - t0
        if evidence["cause"]["code"] not in _NOTHING_YET or caught_up or waited + LOG_SETTLE_POLL > settle:
            evidence["settle"] = {"reads": reads, "waited_s": round(waited, 1), "caught_up": caught_up}
            return evidence
        time.sleep(LOG_SETTLE_POLL)


def _read_evidence(aws: Aws, endpoint_name: str, d: dict[str, Any], *,
                   window: dict[str, Any] | None = None) -> tuple[dict[str, Any], int | None]:
    """What the endpoint's logs say: since it was created, or (``window``, in place) only what the containers of
    the new config logged (:func:`endpoint_runbook.endpoint.inplace.read_fleet_logs`), never the old fleet's lines.
    Also the newest event's timestamp (epoch ms)."""
    if window:
        read = read_fleet_logs(aws.client("logs"), endpoint_name, window)
        ev = logs_mod.analyze(read)
        if ev.cause.code == "no-logs" and read.group_exists:
            ev.cause.summary = (f"the containers of {window['config']} logged nothing since {window['started_at']} "
                                f"(the {len(read.left_out)} stream(s) of the fleet before the update are left out)")
        scope = {"config": window["config"], "since": window["started_at"], "how": window.get("how"),
                 "streams": [st.name for st in read.streams], "left_out_streams": read.left_out}
        return {**ev.to_dict(), "read": read.to_dict(), "scope": scope}, _newest(read)
    created = d.get("CreationTime")
    start: Any = created - dt.timedelta(minutes=5) if isinstance(created, dt.datetime) else dt.timedelta(hours=1)
    read = logs_mod.read_endpoint_logs(aws.client("logs"), endpoint_name, start=start)
    return {**logs_mod.analyze(read).to_dict(), "read": read.to_dict()}, _newest(read)


def _newest(read: logs_mod.LogRead) -> int | None:
    return max((e.timestamp for e in read.events if e.timestamp is not None), default=None)


def _said(evidence: dict[str, Any]) -> str:
    """The log evidence in an error message: the cause, where and when its first line was logged, and (in place)
    that only the new config's containers were read."""
    cause = evidence.get("cause") or {}
    text = str(cause.get("summary") or "").rstrip(".")
    first = (cause.get("logged") or [None])[0]
    if first and first.get("first_seen"):
        when = (f"at {first['first_seen']}" if first.get("count", 1) == 1 or first["last_seen"] == first["first_seen"]
                else f"{first['count']} times, {first['first_seen']} … {first['last_seen']}")
        text += f" (logged {when} in {first.get('stream') or 'the log'})"
    scope = evidence.get("scope")
    if scope:
        text += f"; read from the containers of {scope['config']} only, since {scope['since']}"
    return text
