"""Which IAM permissions an AWS call needs: the action(s) and the resource ARN(s), from its parameters.

One table for the runbook's own calls (:func:`grants_for`), read by the client hooks in :mod:`endpoint_runbook.aws`
(the call log, and the ``access-denied`` finding that names what to add) and by :mod:`endpoint_runbook.policy`,
which prints each step's policy. Facts from the service authorization reference and the API references:

- an API operation usually needs the action of the same name; the exceptions used here are S3's (``HeadObject``
  is ``s3:GetObject``; ``HeadBucket`` and ``ListObjectsV2`` are ``s3:ListBucket``; every multipart upload call
  and ``UploadPartCopy``/``CopyObject`` are ``s3:PutObject`` on the target, a copy also ``s3:GetObject`` on its
  source; ``ListMultipartUploads`` is ``s3:ListBucketMultipartUploads``) and the SageMaker runtime's
  (``sagemaker:InvokeEndpointAsync`` on the endpoint);
- ``HeadObject`` of a key that does not exist answers 403, not 404, unless the caller may also ``s3:ListBucket`` on
  the bucket (S3 API reference, HeadObject "Permissions"), so every HEAD also needs ``s3:ListBucket`` on its bucket;
- ``CreateModel`` passes the execution role: ``iam:PassRole`` on that role (the reference's "dependent actions");
- SageMaker ARNs name resources in lower case (the names in the ARNs SageMaker returns are lower-cased);
- ``sts:GetCallerIdentity`` needs no permission ("No permissions are required to perform this operation", STS API
  reference);
- actions the reference grants on ``*`` only are marked :data:`STAR_ONLY`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

__all__ = ["ACCESS_DENIED_CODES", "Grant", "Where", "STAR_ONLY", "WRITES", "grants_for", "denied_grant",
           "sagemaker_arn", "s3_arn", "log_group_arn", "queue_arn_from_url", "is_write"]

#: The error codes AWS services answer for a missing permission (S3's HEAD requests carry no code: ``403``).
ACCESS_DENIED_CODES = ("AccessDenied", "AccessDeniedException", "AuthorizationError", "AuthorizationErrorException",
                       "UnauthorizedOperation", "403")

#: Actions that take no resource-level permission: AWS grants them on ``"*"`` only.
STAR_ONLY: dict[str, str] = {
    # SageMaker API permissions reference: "Except for the ListTags API, resource-level restrictions are not
    # available on List- calls."
    "sagemaker:ListEndpoints": "SageMaker's List- calls take no resource-level permission",
    "sagemaker:ListEndpointConfigs": "SageMaker's List- calls take no resource-level permission",
    "sagemaker:ListModels": "SageMaker's List- calls take no resource-level permission",
    # CloudWatch permissions reference: "you specify a wildcard character (*) as the resource value".
    "cloudwatch:GetMetricStatistics": "CloudWatch's metric reads take no resource-level permission",
    "cloudwatch:GetMetricData": "CloudWatch's metric reads take no resource-level permission",
    # Application Auto Scaling: its describes take no resource, and a scalable target's ARN holds an id the
    # runbook only learns by describing it.
    "application-autoscaling:DescribeScalableTargets": "Application Auto Scaling's describes take no resource",
    "application-autoscaling:DescribeScalingPolicies": "Application Auto Scaling's describes take no resource",
    "application-autoscaling:DeleteScalingPolicy": "a scalable target's ARN holds a generated id",
    "application-autoscaling:DeregisterScalableTarget": "a scalable target's ARN holds a generated id",
    # S3: ListBuckets takes no resource (s3:ListAllMyBuckets on "*").
    "s3:ListAllMyBuckets": "listing buckets takes no resource",
}

#: Actions that change something (every other action the runbook uses only reads or lists).
WRITES = frozenset({
    "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint",
    "sagemaker:DeleteEndpoint", "sagemaker:DeleteEndpointConfig", "sagemaker:DeleteModel", "sagemaker:AddTags",
    "sagemaker:InvokeEndpointAsync", "sagemaker:InvokeEndpoint", "iam:PassRole",
    "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
    "sqs:CreateQueue", "sqs:SetQueueAttributes", "sqs:DeleteQueue", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
    "sns:Subscribe", "sns:Unsubscribe",
    "application-autoscaling:DeleteScalingPolicy", "application-autoscaling:DeregisterScalableTarget",
})


def is_write(action: str) -> bool:
    return action in WRITES


@dataclass(frozen=True)
class Grant:
    """One permission a call needs: ``action`` on ``resource`` (an ARN, or ``*``), with ``conditions`` that a
    policy statement may hold for it (IAM condition operator → {key: value})."""

    action: str
    resource: str
    conditions: tuple[tuple[str, str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"action": self.action, "resource": self.resource}
        if self.conditions:
            d["conditions"] = [list(c) for c in self.conditions]
        return d


@dataclass(frozen=True)
class Where:
    """The account and region a call's ARNs live in."""

    region: str
    account: str
    partition: str = "aws"


# -------------------------------------------------------------------------------------------------- ARNs


def sagemaker_arn(where: Where, kind: str, name: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:<kind>/<name>`` (SageMaker's ARNs hold the name in lower case)."""
    return f"arn:{where.partition}:sagemaker:{where.region}:{where.account}:{kind}/{name.lower()}"


def s3_arn(where: Where, bucket: str, key: str | None = None) -> str:
    return f"arn:{where.partition}:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def log_group_arn(where: Where, group: str) -> str:
    return f"arn:{where.partition}:logs:{where.region}:{where.account}:log-group:{group}"


def queue_arn_from_url(where: Where, url: str) -> str:
    """``https://sqs.<region>.amazonaws.com/<account>/<name>`` (or a local stack's URL) → the queue's ARN."""
    parts = [p for p in urlparse(url).path.split("/") if p]
    account, name = (parts[-2], parts[-1]) if len(parts) >= 2 else (where.account, parts[-1] if parts else url)
    return f"arn:{where.partition}:sqs:{where.region}:{account}:{name}"


def _queue_arn(where: Where, name: str, account: str | None = None) -> str:
    return f"arn:{where.partition}:sqs:{where.region}:{account or where.account}:{name}"


def _role_arn(where: Where, name: str) -> str:
    return f"arn:{where.partition}:iam::{where.account}:role/{name}"


def _copy_source(src: Any) -> tuple[str, str] | None:
    if isinstance(src, dict):
        return src.get("Bucket", ""), src.get("Key", "")
    if isinstance(src, str):
        path = unquote(src.split("?", 1)[0]).lstrip("/")
        bucket, _, key = path.partition("/")
        return bucket, key
    return None


# -------------------------------------------------------------------------------------------------- the table

Rule = Callable[[dict[str, Any], Where], list[Grant]]


def _on(kind: str, param: str) -> Callable[[str], Rule]:
    """A SageMaker action on the resource ``kind`` named by ``param``."""

    def for_action(action: str) -> Rule:
        return lambda p, w: [Grant(action, sagemaker_arn(w, kind, str(p.get(param, ""))))]

    return for_action


def _tagged(action: str, kind: str, param: str) -> Rule:
    """A SageMaker create: the action on the new resource, ``sagemaker:AddTags`` on it when the call tags it (the
    creates here always tag what they make), and for CreateModel ``iam:PassRole`` on the execution role."""

    def rule(p: dict[str, Any], w: Where) -> list[Grant]:
        arn = sagemaker_arn(w, kind, str(p.get(param, "")))
        out = [Grant(action, arn)]
        if p.get("Tags"):
            out.append(Grant("sagemaker:AddTags", arn))
        if action == "sagemaker:CreateModel" and p.get("ExecutionRoleArn"):
            out.append(Grant("iam:PassRole", str(p["ExecutionRoleArn"]),
                             (("StringEquals", "iam:PassedToService", "sagemaker.amazonaws.com"),)))
        return out

    return rule


def _s3_object(action: str, *, head: bool = False) -> Rule:
    def rule(p: dict[str, Any], w: Where) -> list[Grant]:
        out = [Grant(action, s3_arn(w, p.get("Bucket", ""), p.get("Key", "")))]
        if head:  # a missing key answers 403 unless the caller may list the bucket
            out.append(Grant("s3:ListBucket", s3_arn(w, p.get("Bucket", ""))))
        return out

    return rule


def _s3_bucket(action: str) -> Rule:
    return lambda p, w: [Grant(action, s3_arn(w, p.get("Bucket", "")))]


def _s3_copy(p: dict[str, Any], w: Where) -> list[Grant]:
    out = [Grant("s3:PutObject", s3_arn(w, p.get("Bucket", ""), p.get("Key", "")))]
    src = _copy_source(p.get("CopySource"))
    if src:
        out.append(Grant("s3:GetObject", s3_arn(w, *src)))
    return out


def _logs(action: str) -> Rule:
    return lambda p, w: [Grant(action, log_group_arn(w, str(p.get("logGroupName", ""))))]


def _star(action: str) -> Rule:
    return lambda p, w: [Grant(action, "*")]


def _topic(action: str) -> Rule:
    return lambda p, w: [Grant(action, str(p.get("TopicArn", "")))]


def _unsubscribe(p: dict[str, Any], w: Where) -> list[Grant]:
    arn = str(p.get("SubscriptionArn", ""))
    return [Grant("sns:Unsubscribe", arn.rsplit(":", 1)[0] if arn.count(":") >= 6 else arn)]


def _sqs_url(action: str) -> Rule:
    return lambda p, w: [Grant(action, queue_arn_from_url(w, str(p.get("QueueUrl", ""))))]


_SQS_BY_URL = ("ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes", "SetQueueAttributes",
               "DeleteQueue")

RULES: dict[tuple[str, str], Rule] = {
    # SageMaker
    ("sagemaker", "DescribeEndpoint"): _on("endpoint", "EndpointName")("sagemaker:DescribeEndpoint"),
    ("sagemaker", "UpdateEndpoint"): _on("endpoint", "EndpointName")("sagemaker:UpdateEndpoint"),
    ("sagemaker", "DeleteEndpoint"): _on("endpoint", "EndpointName")("sagemaker:DeleteEndpoint"),
    ("sagemaker", "DescribeEndpointConfig"): _on("endpoint-config", "EndpointConfigName")(
        "sagemaker:DescribeEndpointConfig"),
    ("sagemaker", "DeleteEndpointConfig"): _on("endpoint-config", "EndpointConfigName")("sagemaker:DeleteEndpointConfig"),
    ("sagemaker", "DescribeModel"): _on("model", "ModelName")("sagemaker:DescribeModel"),
    ("sagemaker", "DeleteModel"): _on("model", "ModelName")("sagemaker:DeleteModel"),
    ("sagemaker", "CreateModel"): _tagged("sagemaker:CreateModel", "model", "ModelName"),
    ("sagemaker", "CreateEndpointConfig"): _tagged("sagemaker:CreateEndpointConfig", "endpoint-config",
                                                   "EndpointConfigName"),
    ("sagemaker", "CreateEndpoint"): _tagged("sagemaker:CreateEndpoint", "endpoint", "EndpointName"),
    ("sagemaker", "ListTags"): lambda p, w: [Grant("sagemaker:ListTags", str(p.get("ResourceArn", "")))],
    ("sagemaker", "ListEndpoints"): _star("sagemaker:ListEndpoints"),
    ("sagemaker", "ListEndpointConfigs"): _star("sagemaker:ListEndpointConfigs"),
    ("sagemaker", "ListModels"): _star("sagemaker:ListModels"),
    ("sagemaker-runtime", "InvokeEndpointAsync"): _on("endpoint", "EndpointName")("sagemaker:InvokeEndpointAsync"),
    ("sagemaker-runtime", "InvokeEndpoint"): _on("endpoint", "EndpointName")("sagemaker:InvokeEndpoint"),
    # S3
    ("s3", "GetObject"): _s3_object("s3:GetObject"),
    ("s3", "HeadObject"): _s3_object("s3:GetObject", head=True),
    ("s3", "PutObject"): _s3_object("s3:PutObject"),
    ("s3", "DeleteObject"): _s3_object("s3:DeleteObject"),
    ("s3", "CreateMultipartUpload"): _s3_object("s3:PutObject"),
    ("s3", "UploadPart"): _s3_object("s3:PutObject"),
    ("s3", "CompleteMultipartUpload"): _s3_object("s3:PutObject"),
    ("s3", "AbortMultipartUpload"): _s3_object("s3:AbortMultipartUpload"),
    ("s3", "ListParts"): _s3_object("s3:ListMultipartUploadParts"),
    ("s3", "UploadPartCopy"): _s3_copy,
    ("s3", "CopyObject"): _s3_copy,
    ("s3", "HeadBucket"): _s3_bucket("s3:ListBucket"),
    ("s3", "ListObjectsV2"): _s3_bucket("s3:ListBucket"),
    ("s3", "ListObjects"): _s3_bucket("s3:ListBucket"),
    ("s3", "ListMultipartUploads"): _s3_bucket("s3:ListBucketMultipartUploads"),
    ("s3", "ListBuckets"): _star("s3:ListAllMyBuckets"),
    # CloudWatch Logs and metrics
    ("logs", "DescribeLogStreams"): _logs("logs:DescribeLogStreams"),
    ("logs", "FilterLogEvents"): _logs("logs:FilterLogEvents"),
    ("logs", "GetLogEvents"): _logs("logs:GetLogEvents"),
    ("cloudwatch", "GetMetricStatistics"): _star("cloudwatch:GetMetricStatistics"),
    ("cloudwatch", "GetMetricData"): _star("cloudwatch:GetMetricData"),
    # SNS and SQS
    ("sns", "GetTopicAttributes"): _topic("sns:GetTopicAttributes"),
    ("sns", "ListSubscriptionsByTopic"): _topic("sns:ListSubscriptionsByTopic"),
    ("sns", "Subscribe"): _topic("sns:Subscribe"),
    ("sns", "Unsubscribe"): _unsubscribe,
    ("sqs", "GetQueueUrl"): lambda p, w: [Grant("sqs:GetQueueUrl", _queue_arn(w, str(p.get("QueueName", "")),
                                                                                p.get("QueueOwnerAWSAccountId")))],
    ("sqs", "CreateQueue"): lambda p, w: [Grant("sqs:CreateQueue", _queue_arn(w, str(p.get("QueueName", ""))))]
    + ([Grant("sqs:TagQueue", _queue_arn(w, str(p.get("QueueName", ""))))] if p.get("tags") else []),
    **{("sqs", op): _sqs_url(f"sqs:{op}") for op in _SQS_BY_URL},
    # IAM, STS
    ("iam", "GetRole"): lambda p, w: [Grant("iam:GetRole", _role_arn(w, str(p.get("RoleName", ""))))],
    ("sts", "GetCallerIdentity"): lambda p, w: [],  # needs no permission
    # Application Auto Scaling (endpoints' variants)
    **{("application-autoscaling", op): _star(f"application-autoscaling:{op}")
       for op in ("DescribeScalableTargets", "DescribeScalingPolicies", "DeleteScalingPolicy",
                  "DeregisterScalableTarget")},
}


def grants_for(service: str, operation: str, params: dict[str, Any], where: Where) -> list[Grant]:
    """The permissions ``service``'s ``operation`` with ``params`` needs. An operation the table does not know
    needs ``<prefix>:<operation>`` (the usual rule) on a resource it cannot name (``*``)."""
    rule = RULES.get((service, operation))
    if rule is None:
        prefix = {"sagemaker-runtime": "sagemaker"}.get(service, service)
        return [Grant(f"{prefix}:{operation}", "*")]
    return rule(params or {}, where)


_DENIED_MESSAGE = re.compile(r"perform:?\s+([a-z0-9-]+:[A-Za-z0-9]+)(?:\s+on resource:?\s+\"?([^\s\"<]+))?")


def denied_grant(message: str) -> Grant | None:
    """The action (and resource) an AWS "not authorized to perform: <action> on resource: <arn>" message names
    (the resource may be quoted, as S3 quotes it; the message may still be wrapped in an XML error body)."""
    m = _DENIED_MESSAGE.search(message or "")
    if not m:
        return None
    return Grant(m.group(1), (m.group(2) or "").rstrip(".,") or "*")
