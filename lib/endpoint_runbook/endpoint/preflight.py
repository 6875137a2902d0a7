"""Step 3's preflight: every problem at once, before anything is created (role, model data, output and failure
paths, SNS topics, botocore, the smoke input, the image, name conflicts); the in-place check of the serving endpoint."""

from __future__ import annotations

from typing import Any

import botocore
import botocore.exceptions

from ..aws import Aws, error_code, is_error
from ..errors import CheckFailed, InputError
from ..findings import Finding
from ..invocation.invoke import (
    payload_limit,
)
from ..s3 import parse_s3_uri
from .image import botocore_supports_failure_path
from .inplace import (
    IN_PROGRESS,
)
from .kind import ASYNC, SERVERLESS, serverless_findings
from .model_data import (
    container_data_uri,
)
from .names import _ROLE_ARN, VARIANT, default_endpoint_name
from .plan import DeployPlan, _describe, _missing

__all__ = ["PreflightFailed", "preflight"]


class PreflightFailed(CheckFailed):
    """Preflight found problems; nothing was created. ``findings`` lists them all."""

    code = "preflight-failed"

    def __init__(self, findings: list[Finding]):
        errors = [f for f in findings if f.severity == "error"]
        lines = "; ".join(f"[{f.code}] {f.message}" for f in errors)
        super().__init__(f"preflight found {len(errors)} problem(s), nothing was created: {lines}",
                         hint="Fix them all, then rerun deploy.")
        self.findings = findings


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
