"""The IAM policy each step needs, scoped to the resources the params and the earlier records name.

``endpoint-runbook policy params/<env>.yaml [--steps …] [--run-dir DIR]`` prints one policy document per step
and their union. The resources come from a :class:`Subject`: the params (endpoint, rebuild target, verify inputs,
deploy's overrides) and the broken endpoint as step 1 recorded it (``--run-dir``) or, without a record, as
``DescribeEndpoint`` → ``DescribeEndpointConfig`` → ``DescribeModel`` and the topics' subscriptions say (read with
the params' credentials: the same reads step 1 makes). Names the runbook generates (deploy's model and endpoint
config, a new endpoint, verify's temporary queue) are granted by their prefix.

What each step calls is declared here, read from the steps' code; ``tests/test_policy_e2e.py`` records every call
the chain and the scenarios make (:data:`endpoint_runbook.aws.CALL_LOG_ENV`) and fails when one is not covered by
the printed policy, or when the policy grants an action no step calls. Actions AWS grants on ``*`` only
(:data:`endpoint_runbook.permissions.STAR_ONLY`) go in a statement of their own, each with the reason.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .endpoint.kind import NAME_INFIX
from .logs import log_group_name
from .permissions import STAR_ONLY, Grant, Where, is_write, log_group_arn, s3_arn, sagemaker_arn
from .records import STEPS
from .s3 import parse_s3_prefix

__all__ = ["Need", "Subject", "StepPolicy", "step_policies", "union", "subject_from", "covers", "policy_main"]

_VERSION = "2012-10-17"
PASSED_TO_SAGEMAKER = ("StringEquals", "iam:PassedToService", "sagemaker.amazonaws.com")


@dataclass(frozen=True)
class Need:
    """Actions a step needs on resources, with the reason (the statement's Sid names it).
    ``on_failure``: only called when something fails (logs read for evidence, an unfinished upload aborted)."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    why: str
    condition: tuple[str, str, str] | None = None
    on_failure: bool = False


@dataclass
class Subject:
    """The resources a run touches, as far as they are known before it runs."""

    where: Where
    endpoint: str
    config: str | None = None
    model: str | None = None
    model_data_url: str | None = None  # the archive (or, ending in /, the prefix of uncompressed model data)
    role_arn: str | None = None
    output_path: str | None = None
    failure_path: str | None = None
    topics: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)  # ARNs of queues subscribed to every topic
    name_prefix: str = "runbook"
    kind: str = "async"  # async | real-time | serverless: which call invokes it, what deploy names its configs
    sources: dict[str, str] = field(default_factory=dict)  # what each value came from


@dataclass
class StepPolicy:
    step: str
    needs: list[Need]

    @property
    def document(self) -> dict[str, Any]:
        return _document(self.needs)

    @property
    def actions(self) -> set[str]:
        return {a for n in self.needs for a in n.actions}

    @property
    def read_only(self) -> bool:
        return not any(is_write(a) for a in self.actions)

    def notes(self) -> dict[str, str]:
        return {n.sid: n.why for n in self.needs}


# ---------------------------------------------------------------------------------------------- resources


def _bucket_key(uri: str) -> tuple[str, str]:
    bucket, key = parse_s3_prefix(uri)
    return bucket, key


def _objects(w: Where, uri: str | None, *, prefix: bool = False) -> list[str]:
    """The object ARN of ``uri`` (``prefix``: everything under it)."""
    if not uri:
        return []
    bucket, key = _bucket_key(uri)
    if prefix or uri.endswith("/"):
        key = key.rstrip("/")
        return [s3_arn(w, bucket, f"{key}/*" if key else "*")]
    return [s3_arn(w, bucket, key)]


def _buckets(w: Where, *uris: str | None) -> list[str]:
    return list(dict.fromkeys(s3_arn(w, _bucket_key(u)[0]) for u in uris if u))


def _common_prefix(uris: Iterable[str]) -> str | None:
    """``s3://bucket/a/b/x.png`` and ``s3://bucket/a/c/y.png`` → ``s3://bucket/a/`` (None across buckets)."""
    uris = [u for u in uris if u]
    if not uris:
        return None
    buckets = {_bucket_key(u)[0] for u in uris}
    if len(buckets) != 1:
        return None
    dirs = [posixpath.dirname(_bucket_key(u)[1]) for u in uris]
    common = posixpath.commonpath(dirs) if all(dirs) else ""
    return f"s3://{buckets.pop()}/{common + '/' if common else ''}"


def _log_group(w: Where, endpoint: str) -> list[str]:
    arn = log_group_arn(w, log_group_name(endpoint))
    return [arn, f"{arn}:*"]


def _sm(w: Where, kind: str, *names: str | None) -> list[str]:
    return [sagemaker_arn(w, kind, n) for n in names if n]


# ---------------------------------------------------------------------------------------------- the steps


def _diagnose(s: Subject, p: dict[str, Any]) -> list[Need]:
    w = s.where
    data = s.model_data_url
    needs = [
        Need("DescribeTheEndpoint", ("sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig",
                                     "sagemaker:DescribeModel"),
             (*_sm(w, "endpoint", s.endpoint), *_sm(w, "endpoint-config", s.config or "*"),
              *_sm(w, "model", s.model or "*")),
             "the endpoint, its endpoint config and its model"),
        Need("ReadItsLogs", ("logs:DescribeLogStreams", "logs:FilterLogEvents"), tuple(_log_group(w, s.endpoint)),
             "the crash signatures in the endpoint's CloudWatch logs"),
        Need("StarOnlyBacklog", ("cloudwatch:GetMetricStatistics",), ("*",),
             "the endpoint's queued requests (ApproximateBacklogSize); " + STAR_ONLY["cloudwatch:GetMetricStatistics"]),
    ]
    if data:
        needs.append(Need("ReadTheModelData", ("s3:GetObject", "s3:ListBucket"),
                          (*_objects(w, data), *_buckets(w, data)),
                          "the model archive, streamed (and listed: a missing key answers 403 without s3:ListBucket)"))
    return needs


def _rebuild(s: Subject, p: dict[str, Any]) -> list[Need]:
    w = s.where
    source = p.get("source_uri") or s.model_data_url
    target = p.get("target_uri") or _default_target(source)
    needs = []
    if source:
        needs.append(Need("ReadTheSourceArchive", ("s3:GetObject", "s3:ListBucket"),
                          (*_objects(w, source), *_buckets(w, source)), "the archive to fix, only ever read"))
    if target:
        needs.append(Need("WriteTheFixedArchive", ("s3:PutObject", "s3:ListBucketMultipartUploads"),
                          (*_objects(w, target), *_buckets(w, target)),
                          "the fixed archive under its new key (a multipart upload; unfinished ones of that key are "
                          "looked for first)"))
        needs.append(Need("AbortAnUnfinishedUpload", ("s3:AbortMultipartUpload",), tuple(_objects(w, target)),
                          "an upload that fails is aborted, so no unfinished upload of the target is left",
                          on_failure=True))
        # upload auto or server-side: a large archive may be composed inside S3, then verified once written
        splice = not target.endswith("/") and (p.get("upload") or "auto") != "full"
        if splice:
            needs.append(Need("DeleteAWrongWrite", ("s3:DeleteObject",), tuple(_objects(w, target)),
                              "a large archive composed inside S3 that fails its verification once written is "
                              "deleted (this key only, and only then)", on_failure=True))
        if splice or not p.get("overwrite"):
            why = [*(["an existing target is refused unless overwrite"] if not p.get("overwrite") else []),
                   *(["a large archive composed inside S3 is read back to verify it"] if splice else [])]
            needs.append(Need("ReadTheTarget", ("s3:GetObject", "s3:ListBucket"),
                              (*_objects(w, target), *_buckets(w, target)), "; ".join(why)))
    return needs


def _default_target(source: str | None) -> str | None:
    if not source:
        return None
    bucket, key = _bucket_key(source)
    folder = posixpath.dirname(key.rstrip("/"))
    return f"s3://{bucket}/{folder}-fixed/" + ("model.tar.gz" if not source.endswith("/") else "")


def _fixed_names(s: Subject) -> tuple[str, str]:
    """The prefixes of the names deploy derives (``<prefix>-fixed-<sha>…``, ``<prefix>-<kind>-fixed-<sha>…``: the
    async, real-time or serverless config, and a new endpoint of the same name)."""
    return f"{s.name_prefix}-fixed-*", f"{s.name_prefix}-{NAME_INFIX.get(s.kind, NAME_INFIX['async'])}-*"


def _invoke(s: Subject) -> str:
    """The call that sends the endpoint a request: InvokeEndpointAsync (async), else InvokeEndpoint."""
    return "sagemaker:InvokeEndpointAsync" if s.kind == "async" else "sagemaker:InvokeEndpoint"


def _async_paths(s: Subject, p: dict[str, Any]) -> tuple[str | None, str | None, list[str]]:
    out = p.get("output_path") or s.output_path
    fail = p.get("failure_path") or s.failure_path
    topics = [t for t in (p.get("success_topic"), p.get("error_topic")) if t] or s.topics
    return out, fail, list(dict.fromkeys(topics))


def _results(w: Where, out: str | None, fail: str | None) -> Need:
    return Need("ReadTheResults", ("s3:GetObject", "s3:ListBucket"),
                (*_objects(w, out, prefix=True), *_objects(w, fail, prefix=True), *_buckets(w, out, fail)),
                "the requests' result and failure objects, polled until they appear (a missing key answers 403 "
                "without s3:ListBucket)")


def _deploy(s: Subject, p: dict[str, Any]) -> list[Need]:
    w = s.where
    model_pat, config_pat = _fixed_names(s)
    in_place = p.get("mode") in (None, "in-place")
    endpoint = s.endpoint if in_place else (p.get("fixed_endpoint_name") or config_pat)
    data = p.get("model_data_url") or s.sources.get("rebuild_target") or None
    out, fail, topics = _async_paths(s, p)
    role = p.get("execution_role_arn") or s.role_arn
    smoke = p.get("smoke_input")
    needs = [
        Need("DescribeWhatItDeploys", ("sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig",
                                       "sagemaker:DescribeModel"),
             (*_sm(w, "endpoint", s.endpoint, endpoint), *_sm(w, "endpoint-config", s.config, config_pat),
              *_sm(w, "model", s.model, model_pat)),
             "the broken endpoint's config to copy, and the fixed model and config if a rerun made them already"),
        Need("CreateTheFixedModelAndConfig", ("sagemaker:CreateModel", "sagemaker:CreateEndpointConfig",
                                              "sagemaker:AddTags"),
             (*_sm(w, "model", model_pat), *_sm(w, "endpoint-config", config_pat)),
             f"the model of the fixed archive and its {s.kind} endpoint config, tagged with the run id"),
        Need("CheckThePaths", ("s3:GetObject", "s3:ListBucket"),
             (*_objects(w, data), *_objects(w, smoke), *_buckets(w, data, smoke, out, fail)),
             "preflight: the model data and the smoke input exist" + (
                 ", the output and failure buckets answer" if s.kind == "async" else
                 " (and fits the payload InvokeEndpoint takes); the smoke request sends its bytes")),
        *([_results(w, out, fail)] if s.kind == "async" else []),
        Need("SmokeRequest", (_invoke(s),), tuple(_sm(w, "endpoint", endpoint)),
             f"a real {'async' if s.kind == 'async' else 'synchronous'} request on the deployed endpoint (/ping "
             "proves nothing)"),
        Need("ReadTheLogsOfAFailure", ("logs:DescribeLogStreams", "logs:FilterLogEvents"),
             tuple(_log_group(w, endpoint if in_place else s.endpoint)),
             "a failed start or smoke request is reported with the endpoint's log evidence", on_failure=True),
    ]
    if in_place:
        needs += [
            Need("CopyTheServingConfigsTags", ("sagemaker:ListTags",), tuple(_sm(w, "endpoint-config", s.config)),
                 "in place: the new config carries the broken config's tags"),
            Need("UpdateTheEndpoint", ("sagemaker:UpdateEndpoint",), tuple(_sm(w, "endpoint", s.endpoint)),
                 "in place: the endpoint moves to the fixed config (blue/green)"),
        ]
    else:
        needs.append(Need("CreateTheFixedEndpoint", ("sagemaker:CreateEndpoint", "sagemaker:AddTags"),
                          tuple(_sm(w, "endpoint", endpoint)), "a new endpoint beside the broken one"))
    if role:
        needs += [
            Need("CheckTheExecutionRole", ("iam:GetRole",), (role,), "preflight: the execution role exists"),
            Need("PassTheExecutionRole", ("iam:PassRole",), (role,),
                 "CreateModel passes the execution role to SageMaker (and to nothing else)",
                 condition=PASSED_TO_SAGEMAKER),
        ]
    if topics:
        needs.append(Need("CheckTheTopics", ("sns:GetTopicAttributes",), tuple(topics),
                          "preflight: the async config's SNS topics exist"))
    return needs


def _verify(s: Subject, p: dict[str, Any], deploy_p: dict[str, Any]) -> list[Need]:
    w = s.where
    _model_pat, config_pat = _fixed_names(s)
    in_place = deploy_p.get("mode") in (None, "in-place")
    endpoint = p.get("fixed_endpoint_name") or (
        s.endpoint if in_place else (deploy_p.get("fixed_endpoint_name") or config_pat))
    out, fail, topics = _async_paths(s, deploy_p)
    inputs = list(p.get("inputs") or []) + ([deploy_p["smoke_input"]] if deploy_p.get("smoke_input") else [])
    common = _common_prefix(inputs)
    needs = [
        Need("DescribeTheFixedEndpoint", ("sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig"),
             (*_sm(w, "endpoint", endpoint), *_sm(w, "endpoint-config", config_pat)),
             f"the endpoint and its (fixed) {s.kind} config"),
        Need("InvokeTheFixedEndpoint", (_invoke(s),), tuple(_sm(w, "endpoint", endpoint)),
             "async requests on real inputs" + (", and the failed ones replayed" if p.get("replay_failed") else "")
             if s.kind == "async" else "synchronous requests on real inputs (InvokeEndpoint with their bytes)"),
        *([_results(w, out, fail)] if s.kind == "async" else [
            Need("StarOnlyOutageMetrics", ("cloudwatch:GetMetricData",), ("*",),
                 "the outage's request errors and latency (Invocation4XXErrors, Invocation5XXErrors, ModelLatency): "
                 "a failed synchronous request cannot be replayed; " + STAR_ONLY["cloudwatch:GetMetricData"])]),
        Need("ReadItsHealthLines", ("logs:DescribeLogStreams", "logs:FilterLogEvents"),
             tuple(_log_group(w, endpoint if "*" not in endpoint else s.endpoint)),
             "the model's own health lines in the endpoint's logs"),
    ]
    if common or inputs:
        needs.append(Need("ReadTheInputs", ("s3:GetObject", "s3:ListBucket"),
                          tuple(_objects(w, common, prefix=True) if common else
                                [a for u in inputs for a in _objects(w, u)]) + tuple(_buckets(w, *inputs)),
                          "the inputs, checked first (a missing key answers 403 without s3:ListBucket), sent (real-"
                          "time, serverless) and shown beside their results (the replayed requests' inputs where "
                          "they lie under the same prefix)"))
    if topics:
        needs.append(Need("FindTheSubscribedQueue", ("sns:ListSubscriptionsByTopic",), tuple(topics),
                          "the SQS queue subscribed to the endpoint's topics, where the notifications arrive"))
        if s.queues:
            needs.append(Need("ReadTheNotifications", ("sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                                                       "sqs:ChangeMessageVisibility"), tuple(s.queues),
                              "the requests' notifications: ours are deleted, others made visible again at once"))
        else:
            queue = f"arn:{w.partition}:sqs:{w.region}:{w.account}:endpoint-runbook-verify-*"
            needs += [
                Need("ATemporaryQueue", ("sqs:CreateQueue", "sqs:TagQueue", "sqs:GetQueueAttributes",
                                         "sqs:SetQueueAttributes", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                                         "sqs:DeleteQueue"), (queue,),
                     "no queue is subscribed to the topics: a temporary one, removed afterwards"),
                Need("SubscribeItToTheTopics", ("sns:Subscribe", "sns:Unsubscribe"), tuple(topics),
                     "the temporary queue's subscriptions, removed afterwards"),
            ]
    return needs


def _cleanup(s: Subject, p: dict[str, Any], deploy_p: dict[str, Any]) -> list[Need]:
    w = s.where
    in_place = deploy_p.get("mode") in (None, "in-place")
    _model_pat, config_pat = _fixed_names(s)
    endpoint = p.get("endpoint_name") or s.endpoint
    needs = [
        Need("StarOnlyInventory", ("sagemaker:ListEndpoints", "sagemaker:ListEndpointConfigs"), ("*",),
             "what else uses a config or model before it is deleted; "
             + STAR_ONLY["sagemaker:ListEndpoints"]),
        Need("StarOnlyAutoscaling", ("application-autoscaling:DescribeScalableTargets",
                                     "application-autoscaling:DescribeScalingPolicies"), ("*",),
             "the endpoint's scaling targets and policies, deleted first; "
             + STAR_ONLY["application-autoscaling:DescribeScalableTargets"]),
        Need("DescribeWhatItDeletes", ("sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig",
                                       "sagemaker:DescribeModel"),
             (*_sm(w, "endpoint", endpoint), *_sm(w, "endpoint-config", s.config, config_pat),
              *_sm(w, "model", s.model)), "the endpoint, its configs and models, before and after each delete"),
        Need("DescribeWhatElseUsesThem", ("sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig"),
             tuple(_sm(w, "endpoint", "*")) + tuple(_sm(w, "endpoint-config", "*")),
             "every endpoint and endpoint config of the account and region, described to see which configs and "
             "models another endpoint still uses (those are kept)"),
    ]
    if in_place:
        if p.get("release_rollback") and not p.get("dry_run", True):
            needs.append(Need("DeleteTheSupersededConfigAndModel", ("sagemaker:DeleteEndpointConfig",
                                                                    "sagemaker:DeleteModel"),
                              (*_sm(w, "endpoint-config", s.config), *_sm(w, "model", s.model)),
                              "fixed in place: the broken config and its model, once the rollback is released"))
    else:
        if not p.get("dry_run", True):
            needs.append(Need("DeleteTheBrokenEndpoint", ("sagemaker:DeleteEndpoint", "sagemaker:DeleteEndpointConfig",
                                                          "sagemaker:DeleteModel"),
                              (*_sm(w, "endpoint", endpoint), *_sm(w, "endpoint-config", s.config),
                               *_sm(w, "model", s.model)), "the broken endpoint, its config and its model"))
            needs.append(Need("StarOnlyScalingDeletes", ("application-autoscaling:DeleteScalingPolicy",
                                                         "application-autoscaling:DeregisterScalableTarget"), ("*",),
                              "the broken endpoint's scaling policies and target; "
                              + STAR_ONLY["application-autoscaling:DeregisterScalableTarget"], on_failure=True))
        needs.append(Need("StarOnlyRecentTraffic", ("cloudwatch:GetMetricStatistics",), ("*",),
                          "an endpoint that served recently (or holds queued requests) is refused; "
                          + STAR_ONLY["cloudwatch:GetMetricStatistics"]))
        if s.kind == "async":
            needs.append(Need("ReadItsDataLog", ("logs:DescribeLogStreams",), tuple(_log_group(w, endpoint)),
                              "recent async traffic in the endpoint's data-log streams"))
        if p.get("include_outputs") and not p.get("dry_run", True):
            out, fail, _ = _async_paths(s, deploy_p)
            needs.append(Need("DeleteItsOutputs", ("s3:DeleteObject", "s3:ListBucket"),
                              (*_objects(w, out, prefix=True), *_objects(w, fail, prefix=True),
                               *_buckets(w, out, fail)), "its async output and failure objects (include_outputs)"))
    return needs


def step_policies(params: dict[str, dict[str, Any]], subject: Subject,
                  steps: Iterable[str] = STEPS) -> dict[str, StepPolicy]:
    """Each step's needs (``params``: :func:`endpoint_runbook.params.load_params`)."""
    subject = copy.copy(subject)
    subject.sources = dict(subject.sources)
    target = params["rebuild_archive"].get("target_uri") or _default_target(
        params["rebuild_archive"].get("source_uri") or subject.model_data_url)
    subject.sources.setdefault("rebuild_target", target or "")
    build = {
        "diagnose": lambda: _diagnose(subject, params["diagnose"]),
        "rebuild_archive": lambda: _rebuild(subject, params["rebuild_archive"]),
        "deploy": lambda: _deploy(subject, params["deploy"]),
        "verify": lambda: _verify(subject, params["verify"], params["deploy"]),
        "cleanup": lambda: _cleanup(subject, params["cleanup"], params["deploy"]),
    }
    return {step: StepPolicy(step, build[step]()) for step in STEPS if step in set(steps)}


def union(policies: Iterable[StepPolicy]) -> StepPolicy:
    """One policy for the whole chain: every step's statements, prefixed with the step."""
    needs = []
    for sp in policies:
        for n in sp.needs:
            needs.append(Need(_camel(sp.step) + n.sid, n.actions, n.resources, n.why, n.condition, n.on_failure))
    return StepPolicy("all", needs)


def _camel(step: str) -> str:
    return "".join(w.title() for w in step.split("_"))


def _document(needs: list[Need]) -> dict[str, Any]:
    statements = []
    for n in needs:
        st: dict[str, Any] = {"Sid": n.sid, "Effect": "Allow", "Action": sorted(set(n.actions)),
                              "Resource": list(dict.fromkeys(n.resources))}
        if st["Resource"] == ["*"]:
            st["Resource"] = "*"
        if n.condition:
            op, key, value = n.condition
            st["Condition"] = {op: {key: value}}
        statements.append(st)
    return {"Version": _VERSION, "Statement": statements}


# ---------------------------------------------------------------------------------------------- coverage


def _matches(pattern: str, value: str) -> bool:
    return pattern == "*" or fnmatch.fnmatchcase(value, pattern)


def _same_role(a: str, b: str) -> bool:
    """iam:GetRole names a role by name: IAM judges it on the role's ARN, path included."""
    return ":role/" in a and ":role/" in b and a.split(":")[4] == b.split(":")[4] and \
        a.rsplit("/", 1)[-1] == b.rsplit("/", 1)[-1]


def covers(document: dict[str, Any], grant: Grant) -> bool:
    """Whether an Allow statement of ``document`` grants ``grant`` (its action and its resource)."""
    for st in document.get("Statement", []):
        if st.get("Effect") != "Allow":
            continue
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        if not any(_matches(a, grant.action) for a in actions):
            continue
        if any(_matches(r, grant.resource) or _same_role(r, grant.resource) for r in resources):
            return True
    return False


# ---------------------------------------------------------------------------------------------- the subject


def subject_from(aws: Any, params: dict[str, dict[str, Any]], *, run_dir: str | None = None) -> Subject:
    """The resources of ``params``' endpoint: from step 1's record in ``run_dir`` when there is one, else read
    from AWS with ``aws`` (the reads step 1 makes, and the topics' subscriptions)."""
    from .endpoint.names import name_prefix_for
    from .step_records import DiagnoseRecord

    endpoint = params["diagnose"]["endpoint_name"]
    rec = DiagnoseRecord.read(run_dir) if run_dir else None
    sources: dict[str, str] = {}
    if rec is not None and rec.endpoint.name:
        e = rec.endpoint
        arn = e.arn
        facts = {"config_name": e.config_name, "model_name": e.model_name, "role": e.execution_role_arn,
                 "async": e.async_config or {}, "data": rec.model_data_url or rec.model_data_prefix,
                 "kind": e.kind or ("async" if e.async_config else "real-time")}
        sources["endpoint"] = f"{run_dir}/01-diagnose.json"
    else:
        from .endpoint.facts import endpoint_facts

        f = endpoint_facts(aws.client("sagemaker"), endpoint)
        arn = f.arn
        facts = {"config_name": f.config_name, "model_name": f.model_name, "role": f.execution_role_arn,
                 "async": f.async_config or {}, "data": f.model_data_url or f.model_data_prefix, "kind": f.kind}
        sources["endpoint"] = "DescribeEndpoint/EndpointConfig/Model"
    if arn:
        parts = arn.split(":")
        where = Where(parts[3], parts[4], parts[1])
    else:
        where = aws.where
    oc = (facts["async"].get("OutputConfig") or {})
    nc = oc.get("NotificationConfig") or {}
    topics = list(dict.fromkeys(t for t in (nc.get("SuccessTopic"), nc.get("ErrorTopic")) if t))
    queues = _subscribed_queues(aws, topics) if topics else []
    return Subject(where=where, endpoint=endpoint, config=facts["config_name"], model=facts["model_name"],
                   model_data_url=facts["data"], role_arn=facts["role"], output_path=oc.get("S3OutputPath"),
                   failure_path=oc.get("S3FailurePath"), topics=topics, queues=queues,
                   name_prefix=name_prefix_for(endpoint), kind=facts["kind"], sources=sources)


def _subscribed_queues(aws: Any, topics: list[str]) -> list[str]:
    """SQS queues subscribed to every topic (verify reads the notifications there); [] when there are none."""
    from .invocation.notifications import NotificationWatcher

    watcher = NotificationWatcher(aws.client("sns"), aws.client("sqs"), topics)
    url = watcher.subscribed_queue()
    if not url:
        return []
    from .permissions import queue_arn_from_url

    return [queue_arn_from_url(aws.where, url)]


# ---------------------------------------------------------------------------------------------- the command


def policy_main(args: Any, say: Any) -> int:
    """``endpoint-runbook policy``: each step's policy and the union, with the reasons as comments; ``--out DIR``
    writes ``policy-<step>.json`` and ``policy-all.json``."""
    from pathlib import Path

    from .aws import Aws, AwsParams
    from .params import load_params
    from .runner import parse_steps

    params = load_params(args.params)
    common = params["diagnose"]
    aws = Aws(AwsParams(region=common.get("region"), profile=common.get("profile"),
                        endpoint_url=common.get("endpoint_url"), max_attempts=common.get("max_attempts") or 8))
    steps = parse_steps(args.steps)
    subject = subject_from(aws, params, run_dir=args.run_dir)
    policies = step_policies(params, subject, steps)
    everything = union(policies.values())
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for name, sp in [*policies.items(), ("all", everything)]:
        say(f"# ---- {name}{' (read-only)' if sp.read_only else ''}")
        for sid, why in sp.notes().items():
            star = " [only grantable on *]" if sid.startswith(("StarOnly",)) or "StarOnly" in sid else ""
            say(f"# {sid}: {why}{star}")
        text = json.dumps(sp.document, indent=2)
        say(text)
        if out is not None:
            (out / f"policy-{name}.json").write_text(text + "\n")
    if out is not None:
        say(f"# written to {out}/policy-<step>.json and policy-all.json")
    return 0

