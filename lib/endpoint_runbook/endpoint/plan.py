"""Step 3's plan: every value of the model, endpoint config and endpoint, from the params, the diagnose and
rebuild records and the serving config; the endpoint's kind; in-place vs new endpoint (:func:`_resolve_mode`)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore
import botocore.exceptions

from ..aws import Aws, is_error
from ..errors import InputError
from ..findings import Finding
from ..invocation.invoke import (
    guess_content_type,
)
from ..s3 import parse_s3_uri
from ..step_records import DeployRecord, DiagnoseRecord, RebuildRecord
from . import remedies as remedy_mod
from .image import lookup_image_uri
from .inplace import (
    MODES,
    copied_data_source,
    copied_variant,
    describe_config_or_none,
    previous_config_of,
)
from .kind import ASYNC, KINDS, SERVERLESS, kind_of
from .model_data import (
    data_source_for,
    is_prefix_uri,
    prefix_identity,
)
from .names import (
    TAG_ARCHIVE,
    TAG_RUN_ID,
    TAG_SOURCE,
    VARIANT,
    _clean,
    _digest,
    config_name_for,
    model_name_for,
    name_prefix_for,
    valid_name,
)

__all__ = ["DeployPlan", "plan"]

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
    # The broken model's EnableNetworkIsolation / VpcConfig: the fixed model reaches what it reached, no more, no less.
    model_network: dict[str, Any] = field(default_factory=dict)
    async_config: dict[str, Any] | None = None
    kind: str = ASYNC  # async | real-time | serverless: the broken endpoint's (endpoint.kind)
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
    # Step 1's remedies as deployed (params applied): each with before/after; ``remedy_diff``: the lines they change.
    remedies: list[dict[str, Any]] = field(default_factory=list)
    remedy_diff: list[str] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: copy.deepcopy(getattr(self, k)) for k in self.__dataclass_fields__}


def _describe(call: Callable[..., dict[str, Any]], **kw: Any) -> dict[str, Any] | None:
    """A SageMaker describe call; None when the resource does not exist (SageMaker says ValidationException)."""
    try:
        return call(**kw)
    except botocore.exceptions.ClientError as e:
        if is_error(e, "ValidationException", "ResourceNotFound"):
            return None
        raise


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
         serverless_config: dict[str, Any] | None = None,
         remedies: dict[str, Any] | None = None) -> tuple[DeployPlan, list[Finding]]:
    """Resolve every value (parameter → ``copy_from_config`` → record → default) without changing anything;
    problems come back as findings so that preflight can report them together. ``output_path``,
    ``failure_path``, ``success_topic``, ``error_topic`` set (or override) the async config's parts, so the
    step runs alone without any record. ``kind`` (async, real-time, serverless) and ``serverless_config``: only
    to run alone; by default the config deploy copies says (the serving config in place, ``copy_from_config``, or
    the diagnosed endpoint's). ``remedies`` (``deploy.remedies``): step 1's remedies turned off (``off``) or set."""
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
    p.model_network = {**({"EnableNetworkIsolation": True} if src.network_isolation else {}),
                       **({"VpcConfig": copy.deepcopy(src.vpc_config)} if src.vpc_config else {})}
    sources.update({"model_network": "diagnose record"} if p.model_network else {})
    chosen = remedy_mod.with_params([remedy_mod.Remedy.from_dict(r) for r in diag.remedies], remedies)
    env_fix, variant_fix = remedy_mod.environment_overrides(chosen), remedy_mod.variant_overrides(chosen)
    for r in chosen:  # before: what this deploy would otherwise use
        if r.where == "model":
            r.before = p.environment.get(r.field)
        elif r.field == "InstanceType":
            r.before = p.instance_type
    p.environment.update(env_fix)
    sources.update({f"environment.{k}": "remedy" for k in env_fix})
    if variant_fix.get("InstanceType") and p.kind != SERVERLESS:
        p.instance_type, sources["instance_type"] = variant_fix.pop("InstanceType"), "remedy"
    yours = [k for k in ("environment", "instance_type", "image_uri", "model_data_url") if sources.get(k) == "parameter"]
    if rebuild.status == "unchanged" and chosen and not any(r.enabled for r in chosen) and not yours:
        findings.append(Finding("nothing-changes", "error", "Every remedy step 1 proposed is turned off in "
                                "deploy.remedies and step 2 passed the archive through: the update would deploy what "
                                "is broken again. Turn a remedy back on (or set its value), or set the change yourself "
                                "(environment, instance_type).", [r.field for r in chosen]))
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
            for r in chosen:  # before: the copied variant's own value
                if r.where == "endpoint-config" and r.field != "InstanceType":
                    r.before = p.variant.get(r.field)
            p.variant.update({k: v for k, v in variant_fix.items() if p.kind != SERVERLESS})
        elif variant_fix and p.kind != SERVERLESS:  # a new endpoint: its variant gets the fields too
            p.variant = {"VariantName": VARIANT, "ModelName": p.model_name, "InitialInstanceCount": p.instance_count,
                         "InstanceType": p.instance_type, "InitialVariantWeight": 1.0, **variant_fix}
        if p.instance_type and p.async_config or p.kind != ASYNC and (p.instance_type or p.serverless_config):
            p.endpoint_config_name = config_name_for(
                p.prefix, p.archive_sha256, model_name=p.model_name, instance_type=p.instance_type,
                instance_count=p.instance_count, async_config=p.async_config, variant=p.variant or VARIANT,
                kind=p.kind, extra={"serverless": p.serverless_config, "data_capture": p.data_capture_config,
                                    "kms": p.kms_key_id})
    p.remedies, p.remedy_diff = [r.to_dict() for r in chosen], remedy_mod.diff_lines(chosen)
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
