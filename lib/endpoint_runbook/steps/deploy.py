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
and as a tag on the new config) for :func:`endpoint_runbook.inplace.rollback`, and the smoke request goes to
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
import dataclasses
import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore
import botocore.exceptions

from . import logs as logs_mod
from . import records
from .aws import AccessDenied, Aws, error_code, error_entry, is_error, named_aws_errors
from .endpoint_kind import ASYNC, KINDS, NAME_INFIX, SERVERLESS, config_kwargs, kind_of, serverless_findings
from .errors import CheckFailed, InputError
from .findings import Finding
from .inplace import (
    IN_PROGRESS,
    MODES,
    TAG_PREVIOUS_CONFIG,
    copied_data_source,
    copied_tags,
    copied_variant,
    describe_config_or_none,
    fleet_window,
    previous_config_of,
    read_fleet_logs,
    update_and_wait,
)
from .inplace import rollback as rollback_endpoint
from .invoke import (
    SYNC_READ_TIMEOUT,
    RequestResult,
    guess_content_type,
    invoke_and_wait,
    invoke_sync,
    payload_limit,
)
from .model_data import container_data, container_data_uri, data_source_for, is_prefix_uri, prefix_identity
from .progress import Progress
from .s3 import parse_s3_uri
from .step_records import DeployRecord, DiagnoseRecord, RebuildRecord

__all__ = [
    "MODES",
    "TAG_ARCHIVE",
    "TAG_RUN_ID",
    "TAG_SOURCE",
    "VARIANT",
    "DeployPlan",
    "DeployResult",
    "Deployment",
    "PreflightFailed",
    "botocore_supports_failure_path",
    "config_name_for",
    "create",
    "default_endpoint_name",
    "lookup_image_uri",
    "model_name_for",
    "name_prefix_for",
    "plan",
    "preflight",
    "prepare",
    "run",
    "smoke",
    "valid_name",
    "wait",
    "wait_for_endpoint",
]

TAG_RUN_ID = "endpoint-runbook:run-id"
TAG_SOURCE = "endpoint-runbook:source-endpoint"
TAG_ARCHIVE = "endpoint-runbook:archive-sha256"
VARIANT = "AllTraffic"
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:.*/)?([\w+=,.@-]{1,64})$")


class PreflightFailed(CheckFailed):
    """Preflight found problems; nothing was created. ``findings`` lists them all."""

    code = "preflight-failed"

    def __init__(self, findings: list[Finding]):
        errors = [f for f in findings if f.severity == "error"]
        lines = "; ".join(f"[{f.code}] {f.message}" for f in errors)
        super().__init__(f"preflight found {len(errors)} problem(s), nothing was created: {lines}",
                         hint="Fix them all, then rerun deploy.")
        self.findings = findings


# ---------------------------------------------------------------------------------------------- names


def valid_name(name: str) -> bool:
    """A valid SageMaker model / endpoint-config / endpoint name (≤ 63 chars, alphanumerics and hyphens)."""
    return bool(_NAME.match(name or ""))


def _clean(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-zA-Z0-9-]", "-", text)).strip("-")


def name_prefix_for(source_endpoint: str | None) -> str:
    """``shop-async-endpoint-20251115-101546`` → ``shop``: the leading words before async/realtime/
    serverless/endpoint/model/config or a number; ``runbook`` when nothing is left."""
    if not source_endpoint:
        return "runbook"
    words: list[str] = []
    for w in _clean(source_endpoint).split("-"):
        if w.lower() in ("async", "realtime", "serverless", "endpoint", "model", "config", "ep") or w[:1].isdigit():
            break
        words.append(w)
    return "-".join(words)[:30].strip("-") or "runbook"


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _compose(*parts: str) -> str:
    """Join parts with hyphens, shortening the first (the prefix) so the name fits in 63 characters."""
    tail = "-".join(p for p in parts[1:] if p)
    room = 63 - len(tail) - 1
    head = _clean(parts[0])[:max(room, 1)].strip("-") or "r"
    return f"{head}-{tail}"


def model_name_for(prefix: str, archive_sha256: str, *, image: str, model_data_url: str,
                   environment: dict[str, str], role_arn: str) -> str:
    """``<prefix>-fixed-<sha12>-<spec6>``: the archive's sha256, and a digest of the rest of the model."""
    spec = _digest({"image": image, "model_data_url": model_data_url, "environment": environment, "role": role_arn})
    return _compose(prefix, "fixed", archive_sha256[:12], spec[:6])


def config_name_for(prefix: str, archive_sha256: str, *, model_name: str, instance_type: str | None,
                    instance_count: int | None, async_config: dict[str, Any] | None,
                    variant: str | dict[str, Any] = VARIANT, kind: str = ASYNC,
                    extra: dict[str, Any] | None = None) -> str:
    """``<prefix>-<kind>-fixed-<sha12>-<spec6>`` (``async-fixed``, ``realtime-fixed``, ``serverless-fixed``): the
    archive's sha256, and a digest of the config (``variant``: its name, or the whole copied variant of an in-place
    config; ``extra``: the rest of a real-time or serverless config, e.g. its data capture)."""
    spec_of: dict[str, Any] = {"model": model_name, "instance_type": instance_type, "instance_count": instance_count,
                               "async": async_config, "variant": variant}
    if kind != ASYNC:
        spec_of.update(kind=kind, extra=extra or {})
    return _compose(prefix, NAME_INFIX[kind], archive_sha256[:12], _digest(spec_of)[:6])


def default_endpoint_name(prefix: str, now: dt.datetime | None = None, *, kind: str = ASYNC) -> str:
    """``<prefix>-<kind>-fixed-<YYYYmmdd-HHMMSS>`` (UTC)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return _compose(prefix, NAME_INFIX[kind], now.strftime("%Y%m%d-%H%M%S"))


# ---------------------------------------------------------------------------------------------- image, botocore


def lookup_image_uri(*, region: str, framework: str = "pytorch", version: str | None, py_version: str | None,
                     instance_type: str | None) -> str:
    """The serving image from the SageMaker SDK's offline table (SDK 3.x ``sagemaker.core.image_uris``,
    else 2.x ``sagemaker.image_uris``). InputError ``sagemaker-sdk-missing`` / ``image-lookup-failed``."""
    try:
        from sagemaker.core import image_uris  # SDK 3.x
    except ImportError:
        try:
            from sagemaker import image_uris  # SDK 2.x
        except ImportError as e:
            raise InputError("the serving image is unknown and the SageMaker SDK is not installed to look it up.",
                             code="sagemaker-sdk-missing",
                             hint="Pass image_uri (e.g. the crashing endpoint's image), or `pip install sagemaker` "
                             "(either major) and set framework_version and py_version.") from e
    try:
        return image_uris.retrieve(framework=framework, region=region, version=version, py_version=py_version,
                                   instance_type=instance_type, image_scope="inference")
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"the SageMaker SDK has no {framework} {version} {py_version} inference image for "
                         f"{instance_type} in {region}: {e}", code="image-lookup-failed",
                         hint="Check framework_version / py_version, or pass image_uri.") from e


def botocore_supports_failure_path(sagemaker_client: Any, runtime_client: Any | None = None) -> bool:
    """True when the loaded service models know ``S3FailurePath`` (and the runtime's ``FailureLocation``)."""
    try:
        shape = sagemaker_client.meta.service_model.shape_for("AsyncInferenceOutputConfig")
        ok = "S3FailurePath" in shape.members
        if runtime_client is not None:
            out = runtime_client.meta.service_model.operation_model("InvokeEndpointAsync").output_shape
            ok = ok and "FailureLocation" in out.members
        return ok
    except (KeyError, AttributeError, LookupError):  # the shape is missing altogether: far too old
        return False


# ---------------------------------------------------------------------------------------------- the plan


@dataclass
class DeployPlan:
    """Every value deploy will use, resolved from parameters, records and defaults (``sources`` says where
    each came from)."""

    run_id: str
    source_endpoint: dict[str, Any]
    model_data_url: str | None = None  # the archive, or the prefix (ending in /) of uncompressed model data
    model_data_source: dict[str, Any] | None = None  # a prefix's S3DataSource (None: ModelDataUrl, an archive)
    archive_sha256: str | None = None
    archive_digest_source: str | None = None
    image_uri: str | None = None
    image_source: str | None = None
    instance_type: str | None = None
    instance_count: int | None = 1  # None: serverless (no instances)
    execution_role_arn: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    async_config: dict[str, Any] | None = None
    kind: str = ASYNC  # async | real-time | serverless: the broken endpoint's (endpoint_kind)
    serverless_config: dict[str, Any] | None = None  # serverless: MemorySizeInMB, MaxConcurrency, ...
    data_capture_config: dict[str, Any] | None = None  # copied from the broken config (not serverless)
    kms_key_id: str | None = None  # copied from the broken config (not serverless)
    smoke_input: str | None = None
    smoke_content_type: str | None = None
    smoke_accept: str | None = None  # real-time / serverless: the Accept header of the smoke request
    prefix: str = "runbook"
    model_name: str | None = None
    endpoint_config_name: str | None = None
    endpoint_name: str | None = None
    endpoint_action: str = "create"  # create | reuse | update (in-place)
    mode: str = "new-endpoint"  # in-place | new-endpoint
    previous_endpoint_config_name: str | None = None  # in-place: the config the update replaces
    previous_model_name: str | None = None
    variant: dict[str, Any] | None = None  # in-place: the previous config's variant, with the fixed model
    replaces_failed_endpoint: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: copy.deepcopy(getattr(self, k)) for k in self.__dataclass_fields__}


def _missing(name: str, how: str) -> Finding:
    return Finding("missing-parameter", "error", f"{name} is not set and no record gives it: {how}", [name])


def plan(aws: Aws, *, run_dir: str, model_data_url: str | None = None, archive_sha256: str | None = None,
         endpoint_name: str | None = None, name_prefix: str | None = None, image_uri: str | None = None,
         framework: str = "pytorch", framework_version: str | None = None, py_version: str | None = None,
         instance_type: str | None = None, instance_count: int | None = None,
         execution_role_arn: str | None = None, environment: dict[str, str] | None = None,
         async_config: dict[str, Any] | None = None, max_concurrent_invocations: int | None = None,
         smoke_input: str | None = None, smoke_content_type: str | None = None, smoke_accept: str | None = None,
         run_id: str | None = None, mode: str | None = None, copy_from_config: str | None = None,
         output_path: str | None = None, failure_path: str | None = None, success_topic: str | None = None,
         error_topic: str | None = None, kind: str | None = None,
         serverless_config: dict[str, Any] | None = None) -> tuple[DeployPlan, list[Finding]]:
    """Resolve every value (parameter → ``copy_from_config`` → record → default) without changing anything;
    problems come back as findings so that preflight can report them together. ``output_path``,
    ``failure_path``, ``success_topic``, ``error_topic`` set (or override) the async config's parts, so the
    step runs alone without any record. ``kind`` (async, real-time, serverless) and ``serverless_config``: only
    to run alone; by default the config deploy copies says (the serving config in place, ``copy_from_config``, or
    the diagnosed endpoint's)."""
    findings: list[Finding] = []
    diag = DiagnoseRecord.read(run_dir) or DiagnoseRecord()
    rebuild = RebuildRecord.read(run_dir) or RebuildRecord()
    prev = DeployRecord.read(run_dir) or DeployRecord()
    src = diag.endpoint
    sources: dict[str, str] = {}
    copied, copied_from = _copy_config(aws, copy_from_config, findings), f"endpoint config {copy_from_config}"

    def pick(name: str, param: Any, *fallbacks: tuple[str, Any]) -> Any:
        if param is not None:
            sources[name] = "parameter"
            return param
        for where, value in fallbacks:
            if value is not None:
                sources[name] = where
                return value
        return None

    p = DeployPlan(
        run_id=pick("run_id", run_id, ("deploy record", prev.run_id), ("diagnose record", diag.run_id),
                    ("run dir", Path(run_dir).name)),
        source_endpoint={k: getattr(src, k) for k in ("name", "config_name", "model_name") if getattr(src, k)},
    )
    prev_cfg = _resolve_mode(aws, p, mode, endpoint_name, prev, findings, sources)
    if prev_cfg is not None:  # in-place: the serving config's values stand in for the diagnose record's
        v0 = (prev_cfg.get("ProductionVariants") or [{}])[0]
        src = dataclasses.replace(src, instance_type=v0.get("InstanceType"),
                                  instance_count=v0.get("InitialInstanceCount"),
                                  async_config=prev_cfg.get("AsyncInferenceConfig") or src.async_config)
    template = prev_cfg if prev_cfg is not None else copied.get("config") or _source_config(aws, src.config_name)
    _resolve_kind(p, kind, serverless_config, template, src, findings, sources)
    p.model_data_url = pick("model_data_url", model_data_url, ("rebuild record", rebuild.target_uri))
    if not p.model_data_url:
        findings.append(_missing("model_data_url", "pass the fixed archive's s3:// URI, or run rebuild_archive."))
    if p.kind == SERVERLESS:  # no instances: memory and max concurrency instead
        p.instance_type, p.instance_count = None, None
        if instance_type or instance_count:
            name = p.source_endpoint.get("name") or "The endpoint"
            findings.append(Finding("instances-on-serverless", "error", f"{name} is serverless: it has no instance "
                                    "type or count. Leave instance_type and instance_count unset (its "
                                    "ServerlessConfig is copied).", [str(instance_type or instance_count)]))
    else:
        p.instance_type = pick("instance_type", instance_type, (copied_from, copied.get("instance_type")),
                               ("diagnose record", src.instance_type))
        if not p.instance_type:
            findings.append(_missing("instance_type", "pass e.g. 'ml.m5.xlarge'."))
        p.instance_count = int(pick("instance_count", instance_count, (copied_from, copied.get("instance_count")),
                                    ("diagnose record", src.instance_count),
                                    ("default", 1)))
    p.execution_role_arn = pick("execution_role_arn", execution_role_arn,
                                (copied_from, copied.get("execution_role_arn")),
                                ("diagnose record", src.execution_role_arn))
    if not p.execution_role_arn:
        findings.append(_missing("execution_role_arn", "pass the SageMaker execution role's ARN."))
    p.environment = dict(pick("environment", environment, (copied_from, copied.get("environment")),
                              ("diagnose record", src.environment),
                              ("default", {"SAGEMAKER_PROGRAM": "inference.py",
                                           "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"})))
    if "SAGEMAKER_PROGRAM" not in p.environment:
        findings.append(Finding("no-sagemaker-program", "warning",
                                "The environment has no SAGEMAKER_PROGRAM: the container will not run your "
                                "inference.py. Add SAGEMAKER_PROGRAM=inference.py.", sorted(p.environment)))
    aic = pick("async_config", async_config, (copied_from, copied.get("async_config")),
               ("diagnose record", src.async_config))
    aic = _with_async_parts(aic, sources, output_path=output_path, failure_path=failure_path,
                            success_topic=success_topic, error_topic=error_topic)
    if p.kind != ASYNC:
        if aic and (async_config or output_path or failure_path or success_topic or error_topic):
            findings.append(Finding("async-config-on-sync-endpoint", "error", f"The endpoint is {p.kind}: it has "
                                    "no async output paths or topics. Leave async_config, output_path, failure_path, "
                                    "success_topic and error_topic unset.", [p.kind]))
        aic = None
    elif not aic:
        findings.append(_missing("async_config", "pass the AsyncInferenceConfig (S3OutputPath, S3FailurePath, "
                                 "NotificationConfig), or run diagnose on the crashing endpoint."))
    else:
        aic = copy.deepcopy(aic)
        if max_concurrent_invocations is not None:
            aic.setdefault("ClientConfig", {})["MaxConcurrentInvocationsPerInstance"] = int(max_concurrent_invocations)
            sources["max_concurrent_invocations"] = "parameter"
    p.async_config = aic

    if is_prefix_uri(p.model_data_url):  # uncompressed model data: ModelDataSource, as the source model had it
        base = copied_data_source(aws.client("sagemaker"), p.previous_model_name) if prev_cfg is not None else None
        p.model_data_source = data_source_for(p.model_data_url, base or diag.model_data_source)

    # The archive's identity: the rebuild record's sha256 when it is that object, else the object's ETag (a
    # prefix: a digest of its listing).
    if archive_sha256:
        p.archive_sha256, p.archive_digest_source = archive_sha256, "parameter"
    elif p.model_data_url and p.model_data_url == rebuild.target_uri and rebuild.result_sha256:
        p.archive_sha256, p.archive_digest_source = rebuild.result_sha256, "rebuild record"
    elif p.model_data_source is not None:
        try:
            p.archive_sha256 = prefix_identity(aws.client("s3"), p.model_data_url)  # type: ignore[arg-type]
            p.archive_digest_source = "prefix listing" if p.archive_sha256 else None
        except InputError as e:
            findings.append(Finding("bad-s3-uri", "error", f"model_data_url: {e}", [p.model_data_url]))
        except botocore.exceptions.ClientError:
            pass  # preflight reports the missing prefix
    elif p.model_data_url:
        try:
            bucket, key = parse_s3_uri(p.model_data_url)
            head = aws.client("s3").head_object(Bucket=bucket, Key=key)
            p.archive_sha256 = _digest({"url": p.model_data_url, "etag": head.get("ETag")})
            p.archive_digest_source = "etag"
        except InputError as e:
            findings.append(Finding("bad-s3-uri", "error", f"model_data_url: {e}", [p.model_data_url]))
        except botocore.exceptions.ClientError:
            pass  # preflight reports the missing object

    # Image: parameter → the crashing endpoint's own image → the SageMaker SDK's table.
    if image_uri:
        p.image_uri, p.image_source = image_uri, "parameter"
    elif copied.get("image"):
        p.image_uri, p.image_source = copied["image"], copied_from
    elif src.image:
        p.image_uri, p.image_source = src.image, "diagnose record"
    else:
        missing = [n for n, v in (("framework_version", framework_version), ("py_version", py_version)) if not v]
        if missing:
            findings.append(Finding("image-unknown", "error",
                                    "No image_uri, no diagnose record with the crashing endpoint's image, and "
                                    f"{' and '.join(missing)} not set for the SDK lookup: pass image_uri, or "
                                    "framework_version and py_version.", missing))
        else:
            try:
                p.image_uri = lookup_image_uri(region=aws.region, framework=framework, version=framework_version,
                                               py_version=py_version, instance_type=p.instance_type)
                p.image_source = "sagemaker sdk"
            except InputError as e:
                findings.append(Finding(e.code, "error", str(e), [f"{framework} {framework_version} {py_version}"]))

    # Smoke input: a parameter only (the runner passes the first verify input when it is unset): no model
    # input can be guessed.
    if smoke_input:
        p.smoke_input = smoke_input
        sources["smoke_input"] = "parameter"
    p.smoke_content_type = smoke_content_type or (guess_content_type(p.smoke_input) if p.smoke_input else None)
    p.smoke_accept = smoke_accept

    # Names.
    p.prefix = _clean(name_prefix) if name_prefix else name_prefix_for(src.name or copy_from_config)
    if p.archive_sha256 and p.image_uri and p.model_data_url and p.execution_role_arn:
        p.model_name = model_name_for(p.prefix, p.archive_sha256, image=p.image_uri, model_data_url=p.model_data_url,
                                      environment=p.environment, role_arn=p.execution_role_arn)
        if prev_cfg is not None:
            p.variant = copied_variant(prev_cfg, p.model_name, instance_type=p.instance_type,
                                       instance_count=p.instance_count, serverless_config=p.serverless_config)
        if p.instance_type and p.async_config or p.kind != ASYNC and (p.instance_type or p.serverless_config):
            p.endpoint_config_name = config_name_for(
                p.prefix, p.archive_sha256, model_name=p.model_name, instance_type=p.instance_type,
                instance_count=p.instance_count, async_config=p.async_config, variant=p.variant or VARIANT,
                kind=p.kind, extra={"serverless": p.serverless_config, "data_capture": p.data_capture_config,
                                    "kms": p.kms_key_id})
    if endpoint_name and p.mode == "in-place":
        pass  # the endpoint fixed in place (checked in _resolve_mode)
    elif endpoint_name:
        p.endpoint_name = endpoint_name
        sources["endpoint_name"] = "parameter"
        if not valid_name(endpoint_name):
            findings.append(Finding("bad-endpoint-name", "error",
                                    f"{endpoint_name!r} is not a valid endpoint name: up to 63 letters, digits "
                                    "and hyphens, starting with a letter or digit.", [endpoint_name]))
    p.tags = [{"Key": TAG_RUN_ID, "Value": p.run_id}]
    if p.source_endpoint.get("name"):
        p.tags.append({"Key": TAG_SOURCE, "Value": p.source_endpoint["name"]})
    if p.archive_sha256 and p.archive_digest_source not in ("etag", "prefix listing"):
        p.tags.append({"Key": TAG_ARCHIVE, "Value": p.archive_sha256})
    p.sources = sources
    return p, findings


def _copy_config(aws: Aws, name: str | None, findings: list[Finding]) -> dict[str, Any]:
    """What deploy copies from an existing endpoint config (and its first variant's model), shaped like the
    diagnose record's ``endpoint``; a missing config is a finding."""
    if not name:
        return {}
    sm = aws.client("sagemaker")
    cfg = _describe(sm.describe_endpoint_config, EndpointConfigName=name)
    if cfg is None:
        findings.append(Finding("copy-config-not-found", "error", f"The endpoint config {name} (copy_from_config) "
                                "does not exist: name an existing one, or set the values explicitly.", [name]))
        return {}
    variant = (cfg.get("ProductionVariants") or [{}])[0]
    model = _describe(sm.describe_model, ModelName=variant.get("ModelName", "")) or {}
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    return {"image": container.get("Image"), "environment": container.get("Environment"),
            "execution_role_arn": model.get("ExecutionRoleArn"), "instance_type": variant.get("InstanceType"),
            "instance_count": variant.get("InitialInstanceCount"), "async_config": cfg.get("AsyncInferenceConfig"),
            "config": cfg}


def _source_config(aws: Aws, name: str | None) -> dict[str, Any] | None:
    """The diagnosed endpoint's config (what a new endpoint copies its kind, data capture and KMS key from); None
    when unnamed or gone."""
    return _describe(aws.client("sagemaker").describe_endpoint_config, EndpointConfigName=name) if name else None


def _resolve_kind(p: DeployPlan, kind: str | None, serverless: dict[str, Any] | None,
                  template: dict[str, Any] | None, src: Any, findings: list[Finding], sources: dict[str, str]) -> None:
    """The fixed config's kind and what goes with it: a parameter, else the config copied (``template``), else the
    diagnose record's, else async."""
    if kind is not None and kind not in KINDS:
        findings.append(Finding("bad-kind", "error", f"kind {kind!r} is not one of {', '.join(KINDS)}.", [kind]))
        kind = None
    if kind is not None:
        p.kind, sources["kind"] = kind, "parameter"
    elif template is not None:
        p.kind, sources["kind"] = kind_of(template), f"endpoint config {template.get('EndpointConfigName')}"
    elif getattr(src, "kind", None):
        p.kind, sources["kind"] = src.kind, "diagnose record"
    else:  # nothing says: async, the runbook's first kind (its parts are then asked for)
        p.kind, sources["kind"] = ASYNC, "default (no record, copied config or kind parameter)"
    if template is not None and p.kind != SERVERLESS:
        p.data_capture_config = template.get("DataCaptureConfig") or None
        p.kms_key_id = template.get("KmsKeyId") or None
    if p.kind == SERVERLESS:
        v0 = ((template or {}).get("ProductionVariants") or [{}])[0]
        p.serverless_config = copy.deepcopy(serverless or v0.get("ServerlessConfig") or src.serverless_config)
        sources["serverless_config"] = ("parameter" if serverless else "endpoint config" if v0.get("ServerlessConfig")
                                        else "diagnose record")
        if not p.serverless_config:
            findings.append(_missing("serverless_config", "pass {MemorySizeInMB: 2048, MaxConcurrency: 5} for a "
                                     "serverless endpoint."))


def _with_async_parts(aic: dict[str, Any] | None, sources: dict[str, str], **parts: str | None) -> dict[str, Any] | None:
    """The async config with the output/failure paths and topics given as parameters set in it."""
    keys = {"output_path": ("S3OutputPath",), "failure_path": ("S3FailurePath",),
            "success_topic": ("NotificationConfig", "SuccessTopic"), "error_topic": ("NotificationConfig", "ErrorTopic")}
    given = {k: v for k, v in parts.items() if v}
    if not given:
        return aic
    aic = copy.deepcopy(aic) if aic else {}
    for name, value in given.items():
        where = aic.setdefault("OutputConfig", {})
        *path, last = keys[name]
        for k in path:
            where = where.setdefault(k, {})
        where[last] = value
        sources[name] = "parameter"
    return aic


def _resolve_mode(aws: Aws, p: DeployPlan, mode: str | None, endpoint_name: str | None, prev: DeployRecord,
                  findings: list[Finding], sources: dict[str, str]) -> dict[str, Any] | None:
    """Decide the mode; for in-place, the endpoint and the config it replaces (returned, described)."""
    if mode is not None and mode not in MODES:
        findings.append(Finding("bad-mode", "error", f"mode {mode!r} is not one of {', '.join(MODES)}.", [mode]))
        return None
    target = endpoint_name if mode == "in-place" and endpoint_name else p.source_endpoint.get("name")
    sm = aws.client("sagemaker")
    ep = _describe(sm.describe_endpoint, EndpointName=target) if target else None
    if mode == "new-endpoint" or (mode is None and ep is None):
        p.mode = "new-endpoint"
        sources["mode"] = "parameter" if mode else "default (no broken endpoint to fix in place)"
        return None
    p.mode = "in-place"
    sources["mode"] = "parameter" if mode else "default (the broken endpoint exists)"
    if ep is None:
        findings.append(Finding("endpoint-not-found", "error", f"mode in-place needs the endpoint to fix, but "
                                f"{target or '(none named)'} does not exist: run diagnose on it, or use mode "
                                "new-endpoint.", [target or ""]))
        return None
    p.endpoint_name, p.endpoint_action = target, "update"
    sources["endpoint_name"] = "the broken endpoint (in place)"
    # The config the update replaces: this run's record (a rerun), else what the endpoint serves now, else
    # (the endpoint already serves a runbook config) that config's previous-config tag.
    previous = None
    if prev.mode == "in-place" and prev.endpoint_name == target:
        previous = prev.previous_endpoint_config_name
        sources["previous_endpoint_config_name"] = "deploy record"
    if not previous:
        previous = previous_config_of(sm, ep) or ep.get("EndpointConfigName")
        sources["previous_endpoint_config_name"] = "endpoint"
    p.previous_endpoint_config_name = previous
    cfg = describe_config_or_none(sm, previous)
    if cfg is None:
        findings.append(Finding("previous-config-not-found", "error", f"The endpoint config {previous} that "
                                f"{target} served no longer exists: nothing to copy. Use mode new-endpoint.",
                                [previous or ""]))
        return None
    p.previous_model_name = ((cfg.get("ProductionVariants") or [{}])[0]).get("ModelName")
    p.source_endpoint.setdefault("config_arn", cfg.get("EndpointConfigArn"))
    return cfg


# ---------------------------------------------------------------------------------------------- preflight


def _s3_uri_finding(uri: str, what: str) -> tuple[str, str] | Finding:
    try:
        if uri.endswith("/") or "/" not in uri[5:]:  # a prefix (output paths): only its bucket is checked
            bucket, _ = parse_s3_uri(uri.rstrip("/") + "/_")
            return bucket, uri[5:].partition("/")[2]
        return parse_s3_uri(uri)
    except InputError as e:
        return Finding("bad-s3-uri", "error", f"{what}: {e}", [uri])


def _object_findings(s3: Any, uri: str, what: str, *, missing: tuple[str, str],
                     unreadable: tuple[str, str, str]) -> list[Finding]:
    """HeadObject ``uri``: nothing when it exists, else the ``missing`` or ``unreadable`` finding
    (``unreadable``'s message may hold ``{code}``, the AWS error code)."""
    r = _s3_uri_finding(uri, what)
    if isinstance(r, Finding):
        return [r]
    try:
        s3.head_object(Bucket=r[0], Key=r[1])
    except botocore.exceptions.ClientError as e:
        if is_error(e, "404", "NoSuchKey", "NotFound", "NoSuchBucket"):
            return [Finding(missing[0], "error", missing[1], [uri])]
        code, severity, message = unreadable
        return [Finding(code, severity, message.format(code=error_code(e)), [str(e)])]
    return []


def _prefix_findings(s3: Any, uri: str) -> list[Finding]:
    """Uncompressed model data: the prefix must hold objects (ListObjectsV2, nothing read)."""
    r = _s3_uri_finding(uri, "model_data_url")
    if isinstance(r, Finding):
        return [r]
    try:
        held = s3.list_objects_v2(Bucket=r[0], Prefix=r[1], MaxKeys=1).get("KeyCount", 0)
    except botocore.exceptions.ClientError as e:
        if is_error(e, "NoSuchBucket", "404", "NotFound"):
            held = 0
        else:
            return [Finding("model-data-unreadable", "error", f"Cannot list {uri} ({error_code(e)}): check "
                            "s3:ListBucket on its bucket.", [str(e)])]
    if not held:
        return [Finding("model-data-not-found", "error", f"The model prefix {uri} holds no objects: run "
                        "rebuild_archive, or pass model_data_url of the fixed prefix (ending in /).", [uri])]
    return []


def preflight(aws: Aws, p: DeployPlan, *, previous: dict[str, Any] | None = None) -> list[Finding]:
    """Check everything deploy needs before creating anything; returns all findings (errors and notes).

    Also decides the endpoint: reuse the named one (or the previous run's) when it serves this config,
    else a new name; a named endpoint that serves another config is a conflict.
    """
    out: list[Finding] = []
    sm, s3 = aws.client("sagemaker"), aws.client("s3")

    if p.kind == ASYNC and not botocore_supports_failure_path(sm, aws.client("sagemaker-runtime")):
        version = botocore.__version__
        out.append(Finding("botocore-too-old", "error",
                           f"botocore {version} does not know S3FailurePath / FailureLocation: "
                           "upgrade with `pip install -U boto3 botocore` (boto3 ≥ 1.28.57).", [version]))

    # Role.
    if p.execution_role_arn:
        m = _ROLE_ARN.match(p.execution_role_arn)
        if not m:
            out.append(Finding("bad-role-arn", "error", f"{p.execution_role_arn!r} is not an IAM role ARN.",
                               [p.execution_role_arn]))
        else:
            try:
                aws.client("iam").get_role(RoleName=m.group(1))
            except botocore.exceptions.ClientError as e:
                if is_error(e, "NoSuchEntity", "NoSuchEntityException"):
                    out.append(Finding("role-not-found", "error",
                                       f"The execution role {m.group(1)} does not exist: create it or pass "
                                       "execution_role_arn of one that SageMaker can assume.",
                                       [p.execution_role_arn]))
                else:
                    out.append(Finding("role-unverifiable", "warning",
                                       f"Could not check the role {m.group(1)} ({error_code(e)}); CreateModel "
                                       "will say if it is wrong.", [str(e)]))

    # Model data.
    if p.model_data_source is not None:
        out += _prefix_findings(s3, p.model_data_url or "")
    elif p.model_data_url:
        out += _object_findings(s3, p.model_data_url, "model_data_url", missing=(
            "model-data-not-found", f"The model archive {p.model_data_url} does not exist: run rebuild_archive, "
            "or pass model_data_url of the fixed archive."), unreadable=(
            "model-data-unreadable", "error", f"Cannot read {p.model_data_url} ({{code}}): check s3:GetObject on it."))

    # Output / failure paths and topics.
    aic = p.async_config or {}
    oc = aic.get("OutputConfig") or {}
    if p.async_config is not None:
        if not oc.get("S3OutputPath"):
            out.append(Finding("no-output-path", "error", "AsyncInferenceConfig.OutputConfig.S3OutputPath is not "
                               "set: results would have nowhere to go.", []))
        if not oc.get("S3FailurePath"):
            out.append(Finding("no-failure-path", "warning", "AsyncInferenceConfig.OutputConfig.S3FailurePath is "
                               "not set: failed requests leave no failure object. Set it.", []))
    buckets: dict[str, list[str]] = {}
    for what in ("S3OutputPath", "S3FailurePath"):
        uri = oc.get(what)
        if not uri:
            continue
        r = _s3_uri_finding(uri, what)
        if isinstance(r, Finding):
            out.append(r)
        else:
            buckets.setdefault(r[0], []).append(what)
    for bucket, whats in buckets.items():
        try:
            s3.head_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError as e:
            code = "output-bucket-not-found" if is_error(e, "404", "NoSuchBucket", "NotFound") else \
                "output-bucket-unreachable"
            out.append(Finding(code, "error", f"The bucket {bucket} of {' and '.join(whats)} is not reachable "
                               f"({error_code(e)}): create it or fix the path.", [bucket]))
    nc = oc.get("NotificationConfig") or {}
    sns = aws.client("sns")
    for topic in dict.fromkeys(t for t in (nc.get("SuccessTopic"), nc.get("ErrorTopic")) if t):
        try:
            sns.get_topic_attributes(TopicArn=topic)
        except botocore.exceptions.ClientError as e:
            if is_error(e, "NotFound", "NotFoundException", "InvalidParameter"):
                out.append(Finding("topic-not-found", "error", f"The SNS topic {topic} does not exist: create it, "
                                   "or fix NotificationConfig.", [topic]))
            else:
                out.append(Finding("topic-unverifiable", "warning", f"Could not check the topic {topic} "
                                   f"({error_code(e)}).", [str(e)]))

    # Smoke input.
    if not p.smoke_input:
        out.append(_missing("smoke_input", "pass an s3:// input the model accepts."))
    else:
        found = _object_findings(s3, p.smoke_input, "smoke_input", missing=(
            "smoke-input-not-found", f"The smoke input {p.smoke_input} does not exist: pass smoke_input of an "
            "object the model accepts."), unreadable=(
            "smoke-input-unverifiable", "warning", f"Could not check {p.smoke_input} ({{code}})."))
        out += found
        if not found and p.kind != ASYNC:
            out += _payload_findings(s3, p.smoke_input, p.kind)

    # A serverless endpoint's limits (memory, concurrency, no GPU image).
    if p.kind == SERVERLESS and p.serverless_config:
        out += [f for f in serverless_findings(p.serverless_config, image=p.image_uri) if f.severity != "info"]

    # Existing model / config of the same name must be the same thing.
    if p.model_name:
        out.extend(_check_existing_model(sm, p))
    if p.endpoint_config_name:
        out.extend(_check_existing_config(sm, p))
    if p.endpoint_config_name and p.mode == "in-place":
        out.extend(_choose_in_place(sm, p))
    elif p.endpoint_config_name:
        out.extend(_choose_endpoint(sm, p, previous or {}))
    return out


def _payload_findings(s3: Any, uri: str, kind: str) -> list[Finding]:
    """InvokeEndpoint carries the input itself: it must fit the kind's payload limit."""
    bucket, key = parse_s3_uri(uri)
    size = int(s3.head_object(Bucket=bucket, Key=key).get("ContentLength") or 0)
    limit = payload_limit(kind)
    if size > limit:
        return [Finding("smoke-input-too-large", "error", f"The smoke input {uri} is {size} bytes; a {kind} endpoint's "
                        f"InvokeEndpoint takes at most {limit // 2**20} MB: pass a smaller smoke_input.", [uri])]
    return []


def _choose_in_place(sm: Any, p: DeployPlan) -> list[Finding]:
    """Update unless the endpoint already serves (or is updating to) this plan's config."""
    ep = _describe(sm.describe_endpoint, EndpointName=p.endpoint_name) or {}
    pending = (ep.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if ep.get("EndpointConfigName") == p.endpoint_config_name and ep.get("EndpointStatus") not in IN_PROGRESS:
        p.endpoint_action = "reuse"
    elif ep.get("EndpointStatus") in ("Deleting", "OutOfService"):
        return [Finding("endpoint-unusable", "error", f"The endpoint {p.endpoint_name} is {ep['EndpointStatus']}: "
                        "it cannot be updated in place; use mode new-endpoint.", [p.endpoint_name or ""])]
    elif pending == p.endpoint_config_name:
        p.endpoint_action = "update"  # our update is in progress: wait for it
    return []


def _describe(call: Callable[..., dict[str, Any]], **kw: Any) -> dict[str, Any] | None:
    """A SageMaker describe call; None when the resource does not exist (SageMaker says ValidationException)."""
    try:
        return call(**kw)
    except botocore.exceptions.ClientError as e:
        if is_error(e, "ValidationException", "ResourceNotFound"):
            return None
        raise


def _model_matches(d: dict[str, Any], p: DeployPlan) -> bool:
    c = d.get("PrimaryContainer") or {}
    return (c.get("Image") == p.image_uri and container_data_uri(c) == p.model_data_url
            and (c.get("Environment") or {}) == p.environment and d.get("ExecutionRoleArn") == p.execution_role_arn)


def _config_matches(d: dict[str, Any], p: DeployPlan) -> bool:
    v = (d.get("ProductionVariants") or [{}])[0]
    return (v.get("ModelName") == p.model_name and v.get("VariantName") == (p.variant or {}).get("VariantName", VARIANT) and v.get("InstanceType") == p.instance_type
            and int(v.get("InitialInstanceCount") or 0) == int(p.instance_count or 0)
            and _norm(v.get("ServerlessConfig")) == _norm(p.serverless_config)
            and _norm(d.get("AsyncInferenceConfig")) == _norm(p.async_config))


def _norm(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _norm(v) for k, v in obj.items() if v not in (None, {}, [])}
    return obj


def _check_existing_model(sm: Any, p: DeployPlan) -> list[Finding]:
    d = _describe(sm.describe_model, ModelName=p.model_name)
    if d is not None and not _model_matches(d, p):
        return [Finding("name-conflict", "error", f"A model named {p.model_name} exists but differs from this plan "
                        "(image, model data, environment or role): pass another name_prefix.", [p.model_name])]
    return []


def _check_existing_config(sm: Any, p: DeployPlan) -> list[Finding]:
    d = _describe(sm.describe_endpoint_config, EndpointConfigName=p.endpoint_config_name)
    if d is not None and not _config_matches(d, p):
        return [Finding("name-conflict", "error", f"An endpoint config named {p.endpoint_config_name} exists but "
                        "differs from this plan: pass another name_prefix.", [p.endpoint_config_name])]
    return []


def _choose_endpoint(sm: Any, p: DeployPlan, previous: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    if p.endpoint_name:
        ep = _describe(sm.describe_endpoint, EndpointName=p.endpoint_name)
        if ep is None:
            p.endpoint_action = "create"
        elif ep.get("EndpointConfigName") != p.endpoint_config_name:
            out.append(Finding("endpoint-exists", "error",
                               f"The endpoint {p.endpoint_name} exists and serves {ep.get('EndpointConfigName')}, "
                               "not this plan's config: pass another endpoint_name (deploy never repoints a "
                               "serving endpoint).", [p.endpoint_name]))
        elif ep["EndpointStatus"] in ("Failed", "Deleting", "OutOfService"):
            out.append(Finding("endpoint-unusable", "error",
                               f"The endpoint {p.endpoint_name} is {ep['EndpointStatus']}: delete it (cleanup) or "
                               "pass another endpoint_name.", [p.endpoint_name, ep.get("FailureReason") or ""]))
        else:
            p.endpoint_action = "reuse"
        return out
    prev_name = previous.get("endpoint_name")
    if prev_name:
        ep = _describe(sm.describe_endpoint, EndpointName=prev_name)
        if ep is not None and ep.get("EndpointConfigName") == p.endpoint_config_name:
            if ep["EndpointStatus"] in ("InService", "Creating", "Updating", "SystemUpdating"):
                p.endpoint_name, p.endpoint_action = prev_name, "reuse"
                p.sources["endpoint_name"] = "deploy record"
                return out
            if ep["EndpointStatus"] == "Failed":
                p.replaces_failed_endpoint = prev_name
                out.append(Finding("previous-endpoint-failed", "warning",
                                   f"The previous run's endpoint {prev_name} is Failed; a new one is created. "
                                   "Delete the failed one in cleanup.", [prev_name]))
    p.endpoint_name, p.endpoint_action = default_endpoint_name(p.prefix, kind=p.kind), "create"
    p.sources["endpoint_name"] = "default"
    return out


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
                                                         **container_data(p.model_data_url, p.model_data_source)}),
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
                bar.update(0, f"InvokeEndpoint ({p.kind})")
                result.smoke = invoke_sync(
                    aws.client("sagemaker-runtime", read_timeout=SYNC_READ_TIMEOUT, max_attempts=1),
                    aws.client("s3"), endpoint_name=p.endpoint_name, input_uri=p.smoke_input,
                    content_type=p.smoke_content_type, accept=p.smoke_accept, deadline=time.monotonic() + timeout,
                    max_payload=payload_limit(p.kind), index=1, kind="smoke")
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


def _log_evidence(aws: Aws, endpoint_name: str, d: dict[str, Any], *,
                  window: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the endpoint's logs say: since it was created, or (``window``, in place) only what the containers of
    the new config logged (:func:`endpoint_runbook.inplace.read_fleet_logs`), never the old fleet's lines."""
    if window:
        read = read_fleet_logs(aws.client("logs"), endpoint_name, window)
        ev = logs_mod.analyze(read)
        if ev.cause.code == "no-logs" and read.group_exists:
            ev.cause.summary = (f"the containers of {window['config']} logged nothing since {window['started_at']} "
                                f"(the {len(read.left_out)} stream(s) of the fleet before the update are left out)")
        scope = {"config": window["config"], "since": window["started_at"], "how": window.get("how"),
                 "streams": [st.name for st in read.streams], "left_out_streams": read.left_out}
        return {**ev.to_dict(), "read": read.to_dict(), "scope": scope}
    created = d.get("CreationTime")
    start: Any = created - dt.timedelta(minutes=5) if isinstance(created, dt.datetime) else dt.timedelta(hours=1)
    read = logs_mod.read_endpoint_logs(aws.client("logs"), endpoint_name, start=start)
    return {**logs_mod.analyze(read).to_dict(), "read": read.to_dict()}


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
