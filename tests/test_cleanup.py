"""Step 5 (cleanup) against the plain moto server: plan, guards, confirm, dry run, delete, rerun.

Every test builds its own uniquely named models/configs/endpoints (plain moto: CreateEndpoint starts no
container, the endpoint is InService at once) and removes what is left at the end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import cleanup_audit
import pytest
from endpoint_runbook import cleanup
from endpoint_runbook.aws import Aws, AwsParams
from endpoint_runbook.errors import CheckFailed, InputError
from endpoint_runbook.records import read_record, write_record
from endpoint_runbook.steps import cleanup as cleanup_step

ROLE = "arn:aws:iam::123456789012:role/runbook-cleanup-test"
DIM = cleanup.SCALING_DIMENSION


class Account:
    """Builds resources in moto under a unique prefix and deletes what is left of them afterwards."""

    def __init__(self, aws: Aws, prefix: str | None = None):
        self.aws = aws
        self.prefix = prefix or f"t{uuid.uuid4().hex[:8]}"
        self.sm = aws.client("sagemaker")
        self.aas = aws.client("application-autoscaling")
        self.buckets: list[str] = []

    def n(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def model(self, name: str) -> str:
        full = self.n(name)
        self.sm.create_model(ModelName=full, ExecutionRoleArn=ROLE,
                             PrimaryContainer={"Image": "123.dkr.ecr.ap-south-1.amazonaws.com/x:1",
                                               "ModelDataUrl": "s3://nowhere/model.tar.gz"})
        return full

    def config(self, name: str, models: list[str], *, output: str | None = None, failure: str | None = None) -> str:
        full = self.n(name)
        variants = [{"VariantName": "AllTraffic" if len(models) == 1 else f"v{k}", "ModelName": m,
                     "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"} for k, m in enumerate(models)]
        kwargs: dict[str, Any] = {}
        if output:
            oc = {"S3OutputPath": output} | ({"S3FailurePath": failure} if failure else {})
            kwargs["AsyncInferenceConfig"] = {"OutputConfig": oc}
        self.sm.create_endpoint_config(EndpointConfigName=full, ProductionVariants=variants, **kwargs)
        return full

    def endpoint(self, name: str, config: str) -> str:
        full = self.n(name)
        self.sm.create_endpoint(EndpointName=full, EndpointConfigName=config)
        return full

    def autoscale(self, endpoint: str, variant: str = "AllTraffic", policy: str | None = "invocations") -> str:
        rid = f"endpoint/{endpoint}/variant/{variant}"
        self.aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension=DIM,
                                          MinCapacity=1, MaxCapacity=3)
        if policy:
            self.aas.put_scaling_policy(
                PolicyName=policy, ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension=DIM,
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "TargetValue": 5.0,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})
        return rid

    def bucket(self) -> str:
        b = f"{self.prefix}-outputs"
        self.aws.client("s3").create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
        self.buckets.append(b)
        return b

    def put(self, uri: str, body: bytes = b"x") -> None:
        bucket, _, key = uri[5:].partition("/")
        self.aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)

    def traffic_metric(self, endpoint: str, invocations: float, errors: float = 0.0,
                       variant: str = "AllTraffic") -> None:
        dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        data = [{"MetricName": "Invocations", "Dimensions": dims, "Value": invocations, "Unit": "Count"}]
        if errors:
            data.append({"MetricName": "InvocationModelErrors", "Dimensions": dims, "Value": errors, "Unit": "Count"})
        self.aws.client("cloudwatch").put_metric_data(Namespace="AWS/SageMaker", MetricData=data)

    def data_log(self, endpoint: str, message: str, *, age_minutes: float = 0.0, variant: str = "AllTraffic") -> None:
        logs = self.aws.client("logs")
        group, stream = f"/aws/sagemaker/Endpoints/{endpoint}", f"{variant}/i-0123456789abcdef0/data-log"
        for call, kw in (("create_log_group", {"logGroupName": group}),
                         ("create_log_stream", {"logGroupName": group, "logStreamName": stream})):
            try:
                getattr(logs, call)(**kw)
            except botocore.exceptions.ClientError as e:
                if e.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                    raise
        ts = int((time.time() - age_minutes * 60) * 1000)
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": ts, "message": message}])

    def mine(self, names: Any) -> set[str]:
        return {n for n in names if str(n).startswith(self.prefix) or f"/{self.prefix}-" in str(n)}

    def snapshot(self) -> dict[str, Any]:
        """The account's snapshot restricted to this prefix (other tests share the moto server)."""
        snap = cleanup_audit.snapshot(self.aws, buckets=self.buckets)
        out: dict[str, Any] = {}
        for kind, v in snap.items():
            if isinstance(v, dict):
                out[kind] = {k: x for k, x in v.items() if k.startswith(self.prefix)}
            else:
                out[kind] = sorted(self.mine(v) | ({x for x in v if kind == "s3-object"}))
        return out

    def teardown(self) -> None:
        sm = self.sm
        for e in [x["EndpointName"] for p in sm.get_paginator("list_endpoints").paginate(NameContains=self.prefix)
                  for x in p["Endpoints"]]:
            sm.delete_endpoint(EndpointName=e)
        for c in [x["EndpointConfigName"] for p in sm.get_paginator("list_endpoint_configs").paginate(
                NameContains=self.prefix) for x in p["EndpointConfigs"]]:
            sm.delete_endpoint_config(EndpointConfigName=c)
        for m in [x["ModelName"] for p in sm.get_paginator("list_models").paginate(NameContains=self.prefix)
                  for x in p["Models"]]:
            sm.delete_model(ModelName=m)
        for t in self.aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]:
            if f"/{self.prefix}-" in t["ResourceId"]:
                self.aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=t["ResourceId"],
                                                    ScalableDimension=t["ScalableDimension"])


@pytest.fixture()
def acct(aws):
    a = Account(aws)
    yield a
    a.teardown()


def simple(acct: Account, tag: str = "a", **cfg: Any) -> tuple[str, str, str]:
    m = acct.model(f"{tag}-model")
    c = acct.config(f"{tag}-config", [m], **cfg)
    e = acct.endpoint(f"{tag}-endpoint", c)
    return e, c, m


def actions(plan: cleanup.CleanupPlan) -> dict[tuple[str, str], str]:
    return {(i.kind, i.name): i.action for i in plan.items}


def item(plan: cleanup.CleanupPlan, kind: str, name: str) -> cleanup.PlanItem:
    return next(i for i in plan.items if i.kind == kind and i.name == name)


def deleted_between(before: dict[str, Any], after: dict[str, Any]) -> set[tuple[str, str]]:
    return {(k, n) for k in before for n in set(before[k]) - set(after.get(k, ()))}


# ---------------------------------------------------------------------------------------------- plan


def test_plan_lists_everything_in_dependency_order(aws, acct):
    e, c, m = simple(acct)
    rid = acct.autoscale(e)
    p = cleanup.plan(aws, e)
    assert [(i.kind, i.name, i.action) for i in p.items] == [
        ("scaling-policy", f"{rid}:invocations", "delete"),
        ("scalable-target", rid, "delete"),
        ("endpoint", e, "delete"),
        ("endpoint-config", c, "delete"),
        ("model", m, "delete"),
    ]
    assert not p.blocked and p.confirm_token == e
    assert all(i.endpoint == e for i in p.items)
    assert item(p, "endpoint", e).arn.endswith(f"endpoint/{e}")
    assert item(p, "scalable-target", rid).detail == {"resource_id": rid, "dimension": DIM}


def test_shared_config_is_kept_with_the_reason(aws, acct):
    m = acct.model("m")
    c = acct.config("shared", [m])
    e1, e2 = acct.endpoint("e1", c), acct.endpoint("e2", c)
    p = cleanup.plan(aws, e1)
    assert actions(p) == {("endpoint", e1): "delete", ("endpoint-config", c): "keep", ("model", m): "keep"}
    ci = item(p, "endpoint-config", c)
    assert ci.code == "shared-config" and ci.reason == f"keep: endpoint config also used by endpoint {e2}"
    mi = item(p, "model", m)
    assert mi.code == "shared-model" and f"config {c} (endpoint {e1}, {e2})" in mi.reason


def test_shared_model_is_kept_and_names_config_and_endpoint(aws, acct):
    m, only = acct.model("m"), acct.model("only")
    c1, c2 = acct.config("c1", [m, only]), acct.config("c2", [m])
    orphan = acct.config("orphan", [only])
    e1, e2 = acct.endpoint("e1", c1), acct.endpoint("e2", c2)
    p = cleanup.plan(aws, e1)
    assert actions(p) == {("endpoint", e1): "delete", ("endpoint-config", c1): "delete",
                          ("model", m): "keep", ("model", only): "keep"}
    assert item(p, "model", m).reason == f"keep: model also used by config {c2} (endpoint {e2})"
    # a config no endpoint uses still holds its model: kept, and the plan says so
    assert item(p, "model", only).reason == f"keep: model also used by config {orphan} (no endpoint)"


def test_two_named_endpoints_on_one_config_delete_it_and_need_both_names(aws, acct):
    m = acct.model("m")
    c = acct.config("c", [m])
    e1, e2 = acct.endpoint("e1", c), acct.endpoint("e2", c)
    p = cleanup.plan(aws, [e2, e1])
    assert set(actions(p).values()) == {"delete"} and len(p.items) == 4
    assert p.confirm_token == f"{e2},{e1}"
    with pytest.raises(InputError) as ei:
        cleanup.execute(aws, p, confirm=f"{e1},{e2}", progress=lambda _m: None)  # wrong order
    assert ei.value.code == "confirm-mismatch"
    rep = cleanup.execute(aws, p, confirm=f"{e2}, {e1}", progress=lambda _m: None)
    assert rep.status == "done" and len(rep.deleted) == 4


def test_plan_never_reaches_unrelated_resources(aws, acct):
    e, c, m = simple(acct, "a")
    other = simple(acct, "b")
    acct.autoscale(other[0])
    p = cleanup.plan(aws, e)
    names = {i.name for i in p.items}
    assert names == {e, c, m}
    assert not names & set(other)


def test_keep_parameter_keeps_a_model(aws, acct):
    e, c, m = simple(acct)
    p = cleanup.plan(aws, e, keep=[m])
    mi = item(p, "model", m)
    assert (mi.action, mi.code) == ("keep", "asked-to-keep")
    before = acct.snapshot()
    cleanup.execute(aws, p, confirm=e, progress=lambda _m: None)
    assert deleted_between(before, acct.snapshot()) == {("endpoint", e), ("endpoint-config", c)}


def test_unknown_endpoint_without_record_plans_nothing(aws, acct):
    name = acct.n("never-existed")
    p = cleanup.plan(aws, name)
    assert [(i.kind, i.action) for i in p.items] == [("endpoint", "absent")]
    assert p.notes and not p.to_delete
    rep = cleanup.execute(aws, p, confirm=name, progress=lambda _m: None)
    assert rep.status == "nothing-to-do" and not rep.changed


# ---------------------------------------------------------------------------------------------- outputs


def test_outputs_are_opt_in_and_only_under_the_config_prefixes(aws, acct):
    b = acct.bucket()
    e, c, m = simple(acct, output=f"s3://{b}/async/out", failure=f"s3://{b}/async/fail/")
    for k in ("async/out/1.out", "async/out/2.out", "async/fail/3-error.out", "async/outside.txt", "other/x"):
        acct.put(f"s3://{b}/{k}")
    assert not [i for i in cleanup.plan(aws, e).items if i.kind.startswith("s3")]
    p = cleanup.plan(aws, e, include_outputs=True)
    objs = sorted(i.name for i in p.items if i.kind == "s3-object")
    assert objs == [f"s3://{b}/async/fail/3-error.out", f"s3://{b}/async/out/1.out", f"s3://{b}/async/out/2.out"]
    assert p.items[-1].kind == "s3-object"
    narrowed = cleanup.plan(aws, e, include_outputs=True, output_prefix=f"s3://{b}/async/out/1")
    assert [i.name for i in narrowed.items if i.kind == "s3-object"] == [f"s3://{b}/async/out/1.out"]
    with pytest.raises(InputError) as ei:
        cleanup.plan(aws, e, include_outputs=True, output_prefix=f"s3://{b}/other/")
    assert ei.value.code == "prefix-outside-outputs"
    before = acct.snapshot()
    rep = cleanup.execute(aws, p, confirm=e, progress=lambda _m: None)
    assert rep.status == "done"
    gone = deleted_between(before, acct.snapshot())
    assert gone == {(i.kind, i.name) for i in p.items if i.action == "delete"}
    assert ("s3-object", f"s3://{b}/other/x") not in gone and ("s3-object", f"s3://{b}/async/outside.txt") not in gone


def test_outputs_shared_with_a_surviving_config_are_kept(aws, acct):
    b = acct.bucket()
    e1, c1, _ = simple(acct, "a", output=f"s3://{b}/async/")
    simple(acct, "b", output=f"s3://{b}/async/fixed/")  # the fixed endpoint writes under the same path
    acct.put(f"s3://{b}/async/1.out")
    p = cleanup.plan(aws, e1, include_outputs=True)
    assert not [i for i in p.items if i.kind == "s3-object"]
    kept = item(p, "s3-prefix", f"s3://{b}/async/")
    assert kept.action == "keep" and kept.code == "shared-output-path" and acct.n("b-config") in kept.reason


# ---------------------------------------------------------------------------------------------- confirm / dry run


def test_wrong_confirm_is_rejected_before_any_change(aws, acct):
    e, c, m = simple(acct)
    acct.autoscale(e)
    p = cleanup.plan(aws, e)
    before = acct.snapshot()
    for bad in ("", e + "x", e.upper(), f"{e},{e}"):
        with pytest.raises(InputError) as ei:
            cleanup.execute(aws, p, confirm=bad, force=True)
        assert ei.value.code == "confirm-mismatch"
    assert acct.snapshot() == before


def test_run_rejects_a_wrong_confirm_before_any_aws_call(tmp_path):
    # Nothing listens on port 9: any AWS call would fail with a connection error, not confirm-mismatch.
    dead = Aws(AwsParams(region="ap-south-1", endpoint_url="http://127.0.0.1:9", max_attempts=1, connect_timeout=1))
    with pytest.raises(InputError) as ei:
        cleanup_step.run(dead, run_dir=str(tmp_path), endpoint_name="stygig-async-endpoint-20251115-101546",
                    confirm="stygig-async-endpoint", dry_run=False)
    assert ei.value.code == "confirm-mismatch"
    assert read_record(tmp_path, "cleanup") is None


def test_dry_run_is_the_default_and_changes_nothing(aws, acct, tmp_path):
    e, c, m = simple(acct)
    before = acct.snapshot()
    rep = cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=e, confirm=e, progress=lambda _m: None)
    assert rep.status == "dry-run" and rep.dry_run and not rep.outcomes
    assert acct.snapshot() == before
    rec = read_record(tmp_path, "cleanup")
    assert rec["status"] == "dry-run" and rec["plan"]["counts"]["delete"] == 3


def test_endpoint_defaults_to_the_diagnosed_one(aws, acct, tmp_path):
    e, c, m = simple(acct)
    write_record(tmp_path, "diagnose", {"endpoint": {"name": e}})
    rep = cleanup_step.run(aws, run_dir=str(tmp_path), progress=lambda _m: None)
    assert rep.plan.endpoint_names == [e]
    with pytest.raises(InputError) as ei:
        cleanup_step.run(aws, run_dir=str(tmp_path / "empty"))
    assert ei.value.code == "missing-input"


# ---------------------------------------------------------------------------------------------- delete / rerun


def test_delete_removes_exactly_the_plan_and_a_rerun_changes_nothing(aws, acct, tmp_path):
    e, c, m = simple(acct, "broken")
    rid = acct.autoscale(e)
    fixed = simple(acct, "fixed")
    shared_model_cfg = acct.config("other", [m])  # keeps the broken model alive
    before = acct.snapshot()
    rep = cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=e, confirm=e, dry_run=False, progress=lambda _m: None)
    after = acct.snapshot()
    assert rep.status == "done"
    assert deleted_between(before, after) == {("scaling-policy", f"{rid}:invocations"), ("scalable-target", rid),
                                              ("endpoint", e), ("endpoint-config", c)}
    assert cleanup_audit.wrongful_deletions(before, after, rep.plan) == []
    assert set(fixed) <= set(after["endpoint"]) | set(after["endpoint-config"]) | set(after["model"])
    assert shared_model_cfg in after["endpoint-config"]
    rec = read_record(tmp_path, "cleanup")
    assert rec["status"] == "done" and f"endpoint {e}" in rec["deleted"] and f"model {m}" in rec["kept"]

    rep2 = cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=e, confirm=e, dry_run=False, progress=lambda _m: None)
    assert rep2.status == "nothing-to-do" and not rep2.changed
    assert acct.snapshot() == after
    outcome = {(o.kind, o.name): o.outcome for o in rep2.outcomes}
    assert outcome[("endpoint", e)] == outcome[("endpoint-config", c)] == "already-gone"
    assert outcome[("model", m)] == "kept"


@contextlib.contextmanager
def failing_once(aws: Aws, operation: str, name_param: str) -> Iterator[list[str]]:
    """The first ``operation`` call on the SageMaker client fails (InternalFailure); yields the names it named."""
    sm = aws.client("sagemaker")
    fired: list[str] = []

    def fail_once(**kwargs: Any) -> None:
        if not fired:
            fired.append(json.loads(kwargs["params"]["body"])[name_param])
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "InternalFailure", "Message": "injected"}}, operation)

    sm.meta.events.register(f"before-call.sagemaker.{operation}", fail_once)
    try:
        yield fired
    finally:
        sm.meta.events.unregister(f"before-call.sagemaker.{operation}", fail_once)


def test_partial_failure_then_rerun_finishes(aws, acct, tmp_path):
    e, c, m = simple(acct)
    with failing_once(aws, "DeleteEndpointConfig", "EndpointConfigName") as fired, \
            pytest.raises(CheckFailed) as ei:
        cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=e, confirm=e, dry_run=False, progress=lambda _m: None)
    assert ei.value.code == "cleanup-incomplete" and fired == [c]
    rec = read_record(tmp_path, "cleanup")
    assert rec["status"] == "partial"
    by = {(o["kind"], o["name"]): o["outcome"] for o in rec["outcomes"]}
    assert by == {("endpoint", e): "deleted", ("endpoint-config", c): "failed", ("model", m): "skipped"}
    snap = acct.snapshot()
    assert e not in snap["endpoint"] and c in snap["endpoint-config"] and m in snap["model"]

    # The endpoint is gone now: the rerun reaches its config and model through the record, and finishes.
    rep = cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=e, confirm=e, dry_run=False, progress=lambda _m: None)
    assert rep.status == "done"
    assert {(o.kind, o.name): o.outcome for o in rep.outcomes} == {
        ("endpoint", e): "already-gone", ("endpoint-config", c): "deleted", ("model", m): "deleted"}
    snap = acct.snapshot()
    assert c not in snap["endpoint-config"] and m not in snap["model"]
    rep3 = cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=e, confirm=e, dry_run=False, progress=lambda _m: None)
    assert rep3.status == "nothing-to-do"


def test_in_place_release_stopped_after_the_config_finishes_its_model_on_rerun(aws, acct, tmp_path):
    """Fixed in place, the release deleted the superseded config but not its model: that config is gone, so only
    the earlier record still names the model, and the rerun deletes it (it is not left orphaned)."""
    _e, old_cfg, old_model = simple(acct, "broken")
    fixed_cfg = acct.config("fixed-config", [acct.model("fixed-model")])
    e = acct.endpoint("served", fixed_cfg)
    write_record(tmp_path, "deploy", {"step": "deploy", "mode": "in-place", "endpoint_name": e,
                                      "previous_endpoint_config_name": old_cfg})
    acct.sm.delete_endpoint(EndpointName=_e)  # only the in-place endpoint reaches the old config now
    with failing_once(aws, "DeleteModel", "ModelName") as fired, pytest.raises(CheckFailed):
        cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=e, confirm=e, dry_run=False, release_rollback=True,
                    progress=lambda _m: None)
    assert fired == [old_model]
    snap = acct.snapshot()
    assert old_cfg not in snap["endpoint-config"] and old_model in snap["model"] and e in snap["endpoint"]

    rep = cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=e, confirm=e, dry_run=False, release_rollback=True,
                      progress=lambda _m: None)
    assert {(o.kind, o.name): o.outcome for o in rep.outcomes} == {
        ("endpoint", e): "kept", ("endpoint-config", old_cfg): "already-gone", ("model", old_model): "deleted"}
    snap = acct.snapshot()
    assert old_model not in snap["model"] and e in snap["endpoint"] and fixed_cfg in snap["endpoint-config"]


def test_a_config_that_gained_a_user_after_planning_is_not_deleted(aws, acct):
    e, c, m = simple(acct)
    p = cleanup.plan(aws, e)
    newcomer = acct.endpoint("newcomer", c)  # between plan and execute
    before = acct.snapshot()
    rep = cleanup.execute(aws, p, confirm=e, progress=lambda _m: None)
    assert rep.status == "partial"
    by = {(o.kind, o.name): o for o in rep.outcomes}
    assert by[("endpoint-config", c)].outcome == "skipped" and newcomer in by[("endpoint-config", c)].message
    assert by[("model", m)].outcome == "skipped"
    after = acct.snapshot()
    assert deleted_between(before, after) == {("endpoint", e)}
    assert cleanup_audit.wrongful_deletions(before, after, p) == []


# ---------------------------------------------------------------------------------------------- guards


def test_recent_successful_traffic_in_metrics_refuses(aws, acct, tmp_path):
    e, c, m = simple(acct)
    acct.traffic_metric(e, invocations=3, errors=1)
    p = cleanup.plan(aws, e)
    ei = item(p, "endpoint", e)
    assert (ei.action, ei.code) == ("refuse", "recent-traffic") and p.blocked
    assert "Invocations 3 - InvocationModelErrors 1 = 2" in ei.evidence[0]
    before = acct.snapshot()
    rep = cleanup.execute(aws, p, confirm=e, progress=lambda _m: None)
    assert rep.status == "blocked" and not rep.changed and acct.snapshot() == before
    with pytest.raises(CheckFailed) as exc:
        cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=e, confirm=e, dry_run=False, progress=lambda _m: None)
    assert exc.value.code == "cleanup-blocked"
    assert read_record(tmp_path, "cleanup")["status"] == "blocked" and acct.snapshot() == before
    # force overrides
    rep = cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=e, confirm=e, dry_run=False, force=True,
                      progress=lambda _m: None)
    assert rep.status == "done" and deleted_between(before, acct.snapshot()) == {
        ("endpoint", e), ("endpoint-config", c), ("model", m)}


def test_only_failed_invocations_do_not_refuse(aws, acct):
    e, c, m = simple(acct)
    acct.traffic_metric(e, invocations=4, errors=4)  # the crash-looping endpoint: every request failed
    acct.data_log(e, "[sagemaker] Inference request failed. InferenceId: abc. ServerError: timed out")
    acct.data_log(e, "[sagemaker] Inference request succeeded. InferenceId: old.", age_minutes=120)
    p = cleanup.plan(aws, e, recent_minutes=60)
    assert item(p, "endpoint", e).action == "delete" and not p.blocked


def test_recent_success_in_data_log_refuses(aws, acct):
    e, c, m = simple(acct, output=f"s3://{acct.prefix}-out/results/")  # an async endpoint: it has a data-log
    acct.data_log(e, "[sagemaker] Inference request succeeded. InferenceId: 9f1c. ModelLatency: 12 ms.")
    p = cleanup.plan(aws, e, recent_minutes=30)
    ei = item(p, "endpoint", e)
    assert (ei.action, ei.code) == ("refuse", "recent-traffic")
    assert "data-log" in ei.evidence[0] and "InferenceId: 9f1c" in ei.evidence[0]
    # config and model stay delete items: they go with the endpoint when forced, not at all otherwise
    assert item(p, "endpoint-config", c).action == "delete"
    assert not cleanup.plan(aws, e, recent_minutes=0).blocked  # the window can be switched off


@pytest.mark.parametrize("step,record", [("verify", lambda e: {"endpoint": {"name": e}, "passed": True}),
                                         ("deploy", lambda e: {"endpoint_name": e})])
def test_the_verified_endpoint_is_refused(aws, acct, tmp_path, step, record):
    e, c, m = simple(acct)
    write_record(tmp_path, step, record(e))
    p = cleanup.plan(aws, e, run_dir=str(tmp_path))
    ei = item(p, "endpoint", e)
    assert (ei.action, ei.code) == ("refuse", "verified-endpoint")
    before = acct.snapshot()
    with pytest.raises(CheckFailed):
        cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=e, confirm=e, dry_run=False, progress=lambda _m: None)
    assert acct.snapshot() == before


def test_the_diagnosed_endpoint_is_refused_while_no_fix_serves(aws, acct, tmp_path):
    """A chain that stopped after step 2 (nothing deployed): the dry run says no fix serves, deleting is refused,
    force still can."""
    e, c, m = simple(acct, "broken")
    write_record(tmp_path, "diagnose", {"endpoint": {"name": e}})
    write_record(tmp_path, "rebuild_archive", {"status": "passed", "target_uri": "s3://b/fixed.tar.gz"})
    dry = cleanup_step.run(aws, run_dir=str(tmp_path), progress=lambda _m: None)
    ei = item(dry.plan, "endpoint", e)
    assert (ei.action, ei.code) == ("refuse", "no-fix-serving") and dry.plan.blocked
    assert "leaves nothing to answer its requests" in ei.reason and "Deploy and verify the fix first" in ei.reason
    assert "03-deploy.json: none (step 3 did not run in this run dir)" in ei.evidence
    assert any(n.startswith(f"No fix is serving: {e}") for n in dry.plan.notes)
    assert read_record(tmp_path, "cleanup")["plan"]["items"][0]["code"] == "no-fix-serving"
    before = acct.snapshot()
    with pytest.raises(CheckFailed) as ei2:
        cleanup_step.run(aws, run_dir=str(tmp_path), confirm=e, dry_run=False, progress=lambda _m: None)
    assert ei2.value.code == "cleanup-blocked" and "no fix serves" in str(ei2.value)
    assert acct.snapshot() == before
    forced = cleanup_step.run(aws, run_dir=str(tmp_path), confirm=e, dry_run=False, force=True, progress=lambda _m: None)
    assert forced.status == "done" and f"endpoint {e}" in forced.deleted


def test_a_failed_deploy_or_verify_is_no_fix_and_a_verified_one_is(aws, acct, tmp_path):
    e, c, m = simple(acct, "broken")
    f, fc, fm = simple(acct, "fixed")
    write_record(tmp_path, "diagnose", {"endpoint": {"name": e}})
    write_record(tmp_path, "deploy", {"endpoint_name": f, "mode": "new-endpoint", "ok": False,
                                      "status": "smoke-failed"})
    p = cleanup.plan(aws, e, run_dir=str(tmp_path))
    assert item(p, "endpoint", e).code == "no-fix-serving"
    assert "03-deploy.json: new-endpoint of " + f + ", status smoke-failed (ok: false)" in item(p, "endpoint", e).evidence
    write_record(tmp_path, "verify", {"endpoint_name": f, "ok": False})
    assert item(cleanup.plan(aws, e, run_dir=str(tmp_path)), "endpoint", e).code == "no-fix-serving"
    write_record(tmp_path, "deploy", {"endpoint_name": f, "mode": "new-endpoint", "ok": True, "status": "deployed"})
    write_record(tmp_path, "verify", {"endpoint_name": f, "ok": True})
    p = cleanup.plan(aws, e, run_dir=str(tmp_path))
    assert item(p, "endpoint", e).action == "delete" and not p.notes
    # The fix named for deletion too is no fix (and is refused itself as the verified endpoint).
    both = cleanup.plan(aws, [e, f], run_dir=str(tmp_path))
    assert item(both, "endpoint", e).code == "no-fix-serving"
    assert "the verified endpoint " + f + " is named for this cleanup too" in item(both, "endpoint", e).evidence
    assert item(both, "endpoint", f).code == "verified-endpoint"
    # Planned while the fix served; the fix went before the confirm: checked again, refused.
    acct.sm.delete_endpoint(EndpointName=f)
    before = acct.snapshot()
    rep = cleanup.execute(aws, p, confirm=e, run_dir=str(tmp_path), progress=lambda _m: None)
    out = {(o.kind, o.name): o for o in rep.outcomes}
    assert out[("endpoint", e)].outcome == "refused" and "no fix serves" in out[("endpoint", e)].message
    assert rep.status == "partial" and acct.snapshot() == before
    assert any(x == f"the verified endpoint {f} is gone now"
               for x in item(cleanup.plan(aws, e, run_dir=str(tmp_path)), "endpoint", e).evidence)


def test_an_in_place_update_that_did_not_take_is_not_a_fix(aws, acct, tmp_path):
    e, c, m = simple(acct)
    write_record(tmp_path, "diagnose", {"endpoint": {"name": e}})
    write_record(tmp_path, "deploy", {"endpoint_name": e, "mode": "in-place", "previous_endpoint_config_name": c,
                                      "ok": False, "status": "update-failed"})
    p = cleanup_step.run(aws, run_dir=str(tmp_path), progress=lambda _m: None).plan  # still on c: not "fixed in place"
    assert (item(p, "endpoint", e).action, item(p, "endpoint", e).code) == ("refuse", "no-fix-serving")
    old = acct.config("old-config", [acct.model("old-model")])  # the update took: e serves c, old was replaced
    write_record(tmp_path, "deploy", {"endpoint_name": e, "mode": "in-place", "previous_endpoint_config_name": old,
                                      "ok": True, "status": "deployed"})
    p = cleanup_step.run(aws, run_dir=str(tmp_path), progress=lambda _m: None).plan
    assert item(p, "endpoint", e).code == "fixed-in-place" and item(p, "endpoint-config", old).code == "rollback-target"
def test_the_guards_follow_the_endpoints_kind(aws, acct):
    """Only an async endpoint queues requests and logs them to data-log: a real-time or serverless one is judged by
    its metrics alone, whatever metrics or streams carry its name."""
    rt, _, _ = simple(acct, "rt")
    m = acct.model("sl-model")
    sl_cfg = acct.n("sl-config")
    acct.sm.create_endpoint_config(EndpointConfigName=sl_cfg, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": m, "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}])
    sl = acct.endpoint("sl-endpoint", sl_cfg)
    asy, _, _ = simple(acct, "as", output=f"s3://{acct.prefix}-out/results/")
    for e in (rt, sl, asy):
        acct.data_log(e, "[sagemaker] Inference request succeeded. InferenceId: 77aa. ModelLatency: 9 ms.")
        aws.client("cloudwatch").put_metric_data(Namespace="AWS/SageMaker", MetricData=[{
            "MetricName": "ApproximateBacklogSize", "Dimensions": [{"Name": "EndpointName", "Value": e}],
            "Value": 4.0, "Unit": "Count"}])
    guards = {e: item(cleanup.plan(aws, e, recent_minutes=30), "endpoint", e) for e in (rt, sl, asy)}
    assert guards[rt].action == guards[sl].action == "delete"  # no queue, no data-log: nothing against them
    assert guards[asy].action == "refuse" and {"queued-requests", "recent-traffic"} <= set(guards[asy].detail["guards"])
    # their own recent traffic (metrics) still refuses a real-time or serverless endpoint
    acct.traffic_metric(sl, invocations=3, errors=1)
    refused = item(cleanup.plan(aws, sl, recent_minutes=30), "endpoint", sl)
    assert (refused.action, refused.code) == ("refuse", "recent-traffic") and "Invocations 3" in refused.evidence[0]


def test_guards_are_checked_again_right_before_deleting(aws, acct):
    e, c, m = simple(acct)
    rid = acct.autoscale(e)
    p = cleanup.plan(aws, e)
    assert not p.blocked
    acct.traffic_metric(e, invocations=5)  # traffic arrives after the plan was made
    before = acct.snapshot()
    rep = cleanup.execute(aws, p, confirm=e, progress=lambda _m: None)
    assert rep.status == "partial" and not rep.changed
    assert {o.outcome for o in rep.outcomes if o.kind in ("scaling-policy", "scalable-target", "endpoint")} <= {
        "refused", "skipped"}
    assert acct.snapshot() == before and rid in before["scalable-target"]


def test_an_endpoint_in_transition_is_refused(aws, acct):
    from moto.sagemaker.models import sagemaker_backends

    e, c, m = simple(acct)
    rec = sagemaker_backends["123456789012"]["ap-south-1"].endpoints[e]  # the in-process moto server's state
    rec.endpoint_status = "Updating"
    try:
        p = cleanup.plan(aws, e)
        assert aws.client("sagemaker").describe_endpoint(EndpointName=e)["EndpointStatus"] == "Updating"
        ei = item(p, "endpoint", e)
        assert (ei.action, ei.code) == ("refuse", "in-transition")
    finally:
        rec.endpoint_status = "InService"


# ---------------------------------------------------------------------------------------------- audit


def test_wrongful_deletions_detects_each_violation():
    before = {"endpoint": {"e1": "c1", "e2": "c2", "v": "cv"}, "endpoint-config": {"c1": ["m1"], "c2": ["m1"]},
              "model": ["m1", "m2"], "scalable-target": [], "scaling-policy": [], "s3-object": ["s3://b/k"]}
    after = {"endpoint": {"e2": "c1"}, "endpoint-config": {"c2": ["m1"]}, "model": ["m2"],
             "scalable-target": [], "scaling-policy": [], "s3-object": []}
    p = cleanup.CleanupPlan(["e1"], [cleanup.PlanItem("endpoint", "e1", "delete", "", "named"),
                                     cleanup.PlanItem("endpoint-config", "c1", "delete", "", "unused"),
                                     cleanup.PlanItem("endpoint", "v", "refuse", "", "verified-endpoint")],
                            60, False, None, [], "")
    wrong = cleanup_audit.wrongful_deletions(before, after, p, verified=["v"])
    assert any(w.startswith("endpoint-config c1: deleted while endpoint e2") for w in wrong)
    assert any(w.startswith("model m1: deleted but not") for w in wrong)
    assert any(w.startswith("model m1: deleted while endpoint config c2") for w in wrong)
    assert any(w.startswith("endpoint v: deleted but not") for w in wrong)
    assert any(w.startswith("endpoint v: the verified endpoint") for w in wrong)
    assert any(w.startswith("s3-object s3://b/k") for w in wrong)
    assert not any(w.startswith("endpoint e1") for w in wrong)
    # with force the refused (verified) endpoint may go
    assert not any(w.startswith("endpoint v") for w in cleanup_audit.wrongful_deletions(before, after, p, force=True,
                                                                                   verified=["v"]))


def test_record_round_trips_and_holds_no_secrets(aws, acct, tmp_path):
    e, c, m = simple(acct)
    rep = cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=e, progress=lambda _m: None)
    rec = json.loads((tmp_path / "05-cleanup.json").read_text())
    again = cleanup.CleanupPlan.from_dict(rec["plan"])
    assert [i.to_dict() for i in again.items] == [i.to_dict() for i in rep.plan.items]
    assert again.confirm_token == e


# ---------------------------------------------------------------------------------------------- display


def test_plan_and_report_html(aws, acct):
    from endpoint_runbook.render.cleanup import plan_html, report_html

    m = acct.model("m")
    c = acct.config("c", [m])
    e1, e2 = acct.endpoint("e1", c), acct.endpoint("e2", c)
    p = cleanup.plan(aws, e1)
    text = plan_html(p)
    assert text.count("<tr>") == 1 + len(p.items)
    assert f"keep: endpoint config also used by endpoint {e2}" in text
    p.items[0].reason = "<script>alert(1)</script>"
    assert "<script>" not in plan_html(p)
    rep = cleanup.execute(aws, p, confirm=e1, progress=lambda _m: None)
    assert "deleted" in report_html(rep) and e1 in report_html(rep)


def test_confirm_widget_enables_only_on_exact_name(aws, acct):
    from endpoint_runbook.render.cleanup import confirm_widget

    e, c, m = simple(acct)
    p = cleanup.plan(aws, e)
    calls: list[str] = []
    box = confirm_widget(p, lambda text: calls.append(text))
    assert box.button.disabled
    for wrong in ("", e[:-1], e + "x", e.upper()):
        box.text.value = wrong
        assert box.button.disabled
        box.button.click()
    assert calls == []
    box.text.value = e
    assert not box.button.disabled
    box.button.click()
    assert calls == [e]


def test_confirm_widget_stays_disabled_when_nothing_to_delete(aws, acct):
    from endpoint_runbook.render.cleanup import confirm_widget

    name = acct.n("gone")
    box = confirm_widget(cleanup.plan(aws, name), lambda text: None)
    box.text.value = name
    assert box.button.disabled and "Nothing to delete" in box.status.value


def test_metric_window_edges(aws, acct):
    # A success older than the window does not count; one inside it does.
    e, c, m = simple(acct)
    dims = [{"Name": "EndpointName", "Value": e}, {"Name": "VariantName", "Value": "AllTraffic"}]
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=90)
    aws.client("cloudwatch").put_metric_data(Namespace="AWS/SageMaker", MetricData=[
        {"MetricName": "Invocations", "Dimensions": dims, "Value": 7.0, "Unit": "Count", "Timestamp": old}])
    assert not cleanup.plan(aws, e, recent_minutes=60).blocked
    assert cleanup.plan(aws, e, recent_minutes=120).blocked


def test_scaling_left_behind_by_a_gone_endpoint_is_found_by_resource_id(aws, acct):
    name = acct.n("gone")  # no endpoint, no record: its scalable target is still registered
    rid = acct.autoscale(name, variant="blue", policy=None)
    other = acct.autoscale(acct.n("gone-too"), policy=None)  # a name with the same prefix is not reached
    p = cleanup.plan(aws, name)
    assert [(i.kind, i.name, i.action) for i in p.items] == [("scalable-target", rid, "delete"),
                                                             ("endpoint", name, "absent")]
    rep = cleanup.execute(aws, p, confirm=name, progress=lambda _m: None)
    assert rep.status == "done" and rep.deleted == [f"scalable-target {rid}"]
    assert other in acct.snapshot()["scalable-target"]


def test_unreadable_traffic_evidence_refuses(aws, acct):
    e, c, m = simple(acct)
    cw = aws.client("cloudwatch")

    def deny(**_kw: Any) -> None:
        raise botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "injected"}},
                                              "GetMetricStatistics")

    cw.meta.events.register("before-call.cloudwatch.GetMetricStatistics", deny)
    try:
        p = cleanup.plan(aws, e)
    finally:
        cw.meta.events.unregister("before-call.cloudwatch.GetMetricStatistics", deny)
    ei = item(p, "endpoint", e)
    assert (ei.action, ei.code) == ("refuse", "guard-unreadable") and "AccessDenied" in ei.reason


def test_the_wait_for_a_deleted_endpoint_is_bounded(aws, acct):
    from moto.sagemaker.models import sagemaker_backends

    e, c, m = simple(acct)
    p = cleanup.plan(aws, e)
    backend = sagemaker_backends["123456789012"]["ap-south-1"]
    rec = backend.endpoints[e]
    # An endpoint that stays "Deleting": execute only waits for it (no second DeleteEndpoint), then gives up.
    rec.endpoint_status = "Deleting"
    rep = cleanup.execute(aws, p, confirm=e, wait_timeout=0.3, poll_seconds=0.05, progress=lambda _m: None)
    by = {(o.kind, o.name): o for o in rep.outcomes}
    assert rep.status == "partial" and by[("endpoint", e)].outcome == "failed"
    assert "rerun" in by[("endpoint", e)].message
    assert by[("endpoint-config", c)].outcome == by[("model", m)].outcome == "skipped"
    rec.endpoint_status = "InService"
