"""Step 3 — deploy. Quick tests on plain moto (names, image lookup, preflight); slow ones on the
stygig-incident stack: the fixed archive reaches InService with a passing smoke request, a rerun creates
nothing, a broken archive fails the smoke request with the log evidence, bad model data fails the endpoint."""

from __future__ import annotations

import hashlib
import json
import sys
import types
import uuid
from pathlib import Path
from typing import Any

import pytest
from endpoint_runbook import records
from endpoint_runbook.aws import Aws, AwsParams
from endpoint_runbook.endpoint import image, names, preflight
from endpoint_runbook.endpoint import plan as deploy_plan
from endpoint_runbook.errors import CheckFailed, InputError
from endpoint_runbook.local.scenarios import StygigIncident, build_stygig
from endpoint_runbook.steps import deploy

NAMES = StygigIncident()
SEED_INPUT = f"s3://{NAMES.bucket}/train/upperwear/tshirt/upperwear_tshirt100.png"


# ---------------------------------------------------------------------------------------------- helpers


def diagnose_record_from(sm: Any, endpoint: str) -> dict[str, Any]:
    """What step 1 records about the crashing endpoint, from the real describe calls."""
    ep = sm.describe_endpoint(EndpointName=endpoint)
    cfg = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
    v = cfg["ProductionVariants"][0]
    m = sm.describe_model(ModelName=v["ModelName"])
    c = m["PrimaryContainer"]
    return {"endpoint": {
        "name": endpoint, "config_name": ep["EndpointConfigName"], "model_name": v["ModelName"],
        "image": c["Image"], "model_data_url": c["ModelDataUrl"], "environment": c.get("Environment", {}),
        "execution_role_arn": m["ExecutionRoleArn"], "instance_type": v["InstanceType"],
        "instance_count": v["InitialInstanceCount"], "async_config": cfg["AsyncInferenceConfig"]}}


def upload_archive(s3: Any, bucket: str, key: str, data: bytes) -> tuple[str, str]:
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}", hashlib.sha256(data).hexdigest()


def inventory(sm: Any) -> dict[str, set[str]]:
    def names(call: Any, key: str, field: str) -> set[str]:
        out: set[str] = set()
        token = None
        while True:
            page = call(MaxResults=100, **({"NextToken": token} if token else {}))
            out |= {x[field] for x in page[key]}
            token = page.get("NextToken")
            if not token:
                return out
    return {"models": names(sm.list_models, "Models", "ModelName"),
            "configs": names(sm.list_endpoint_configs, "EndpointConfigs", "EndpointConfigName"),
            "endpoints": names(sm.list_endpoints, "Endpoints", "EndpointName")}


def delete_deployment(sm: Any, endpoint: str | None, config: str | None, model: str | None) -> None:
    for call, kw in ((sm.delete_endpoint, {"EndpointName": endpoint}),
                     (sm.delete_endpoint_config, {"EndpointConfigName": config}),
                     (sm.delete_model, {"ModelName": model})):
        if next(iter(kw.values())):
            try:
                call(**kw)
            except sm.exceptions.ClientError:
                pass


# ---------------------------------------------------------------------------------------------- quick: names


def test_names_are_valid_deterministic_and_follow_the_spec():
    sha = hashlib.sha256(b"archive").hexdigest()
    kw = {"image": "img:1", "model_data_url": "s3://b/k.tar.gz", "environment": {"SAGEMAKER_PROGRAM": "inference.py"},
              "role_arn": "arn:aws:iam::123456789012:role/r"}
    a = names.model_name_for("stygig", sha, **kw)
    assert a == names.model_name_for("stygig", sha, **kw)
    assert a.startswith(f"stygig-fixed-{sha[:12]}-") and names.valid_name(a)
    assert names.model_name_for("stygig", sha, **{**kw, "environment": {"SAGEMAKER_PROGRAM": "x.py"}}) != a
    c = names.config_name_for("stygig", sha, model_name=a, instance_type="ml.m5.xlarge", instance_count=1,
                               async_config={"OutputConfig": {"S3OutputPath": "s3://b/o/"}})
    assert c.startswith(f"stygig-async-fixed-{sha[:12]}-") and names.valid_name(c)
    assert c != names.config_name_for("stygig", sha, model_name=a, instance_type="ml.m5.xlarge", instance_count=2,
                                       async_config={"OutputConfig": {"S3OutputPath": "s3://b/o/"}})
    long = names.model_name_for("x" * 80 + "_weird.prefix", sha, **kw)
    assert len(long) <= 63 and names.valid_name(long) and sha[:12] in long
    ep = names.default_endpoint_name("stygig")
    assert ep.startswith("stygig-async-fixed-20") and names.valid_name(ep)
    assert names.name_prefix_for(NAMES.endpoint) == "stygig"
    assert names.name_prefix_for("my-recsys-endpoint-1") == "my-recsys"
    assert names.name_prefix_for(None) == "runbook"
    assert not names.valid_name("-bad") and not names.valid_name("a" * 64) and not names.valid_name("a_b")


# ---------------------------------------------------------------------------------------------- quick: image


def test_image_lookup_without_the_sdk_is_a_named_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sagemaker", None)  # as when the SDK is not installed
    with pytest.raises(InputError) as e:
        image.lookup_image_uri(region="ap-south-1", version="2.1", py_version="py310", instance_type="ml.m5.xlarge")
    assert e.value.code == "sagemaker-sdk-missing"
    assert "image_uri" in str(e.value) and "pip install sagemaker" in str(e.value)


def _fake_sdk(monkeypatch, *, major: int) -> list[dict[str, Any]]:
    """A stand-in for the SDK's offline table (the SDK is not installed here), in the 3.x or 2.x layout."""
    calls: list[dict[str, Any]] = []
    mod = types.ModuleType("image_uris")

    def retrieve(**kw: Any) -> str:
        calls.append(kw)
        return f"763104351884.dkr.ecr.{kw['region']}.amazonaws.com/pytorch-inference:{kw['version']}-cpu-{kw['py_version']}"

    mod.retrieve = retrieve
    root = types.ModuleType("sagemaker")
    root.__path__ = []
    monkeypatch.setitem(sys.modules, "sagemaker", root)
    if major == 3:
        core = types.ModuleType("sagemaker.core")
        core.__path__ = []
        core.image_uris = mod
        monkeypatch.setitem(sys.modules, "sagemaker.core", core)
        monkeypatch.setitem(sys.modules, "sagemaker.core.image_uris", mod)
    else:
        root.image_uris = mod
        monkeypatch.setitem(sys.modules, "sagemaker.core", None)
        monkeypatch.setitem(sys.modules, "sagemaker.image_uris", mod)
    return calls


@pytest.mark.parametrize("major", [3, 2])
def test_image_lookup_uses_either_sdk_major(monkeypatch, major):
    calls = _fake_sdk(monkeypatch, major=major)
    uri = image.lookup_image_uri(region="ap-south-1", version="2.1.0", py_version="py310",
                                  instance_type="ml.m5.xlarge")
    assert uri.endswith("pytorch-inference:2.1.0-cpu-py310")
    assert calls == [{"framework": "pytorch", "region": "ap-south-1", "version": "2.1.0", "py_version": "py310",
                      "instance_type": "ml.m5.xlarge", "image_scope": "inference"}]


def test_botocore_here_knows_the_failure_path(aws):
    assert image.botocore_supports_failure_path(aws.client("sagemaker"), aws.client("sagemaker-runtime"))


# ---------------------------------------------------------------------------------------------- quick: preflight


class _World:
    """A bucket, a role, a topic, an archive and the seed's input on plain moto."""

    def __init__(self, aws: Aws):
        self.tag = uuid.uuid4().hex[:8]
        self.s3, self.sm, self.sns, self.iam = (aws.client(n) for n in ("s3", "sagemaker", "sns", "iam"))
        self.bucket = f"deploy-{self.tag}"
        self.s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})
        self.role_arn = self.iam.create_role(RoleName=f"role-{self.tag}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self.topic = self.sns.create_topic(Name=f"topic-{self.tag}")["TopicArn"]
        self.archive, self.sha = upload_archive(self.s3, self.bucket, "fixed/model.tar.gz", b"not really a tarball")
        self.s3.put_object(Bucket=self.bucket, Key="train/upperwear/tshirt/upperwear_tshirt100.png", Body=b"png")

    def diagnose(self, **over: Any) -> dict[str, Any]:
        ep = {"name": f"src-async-endpoint-{self.tag}", "config_name": "c", "model_name": "m",
              "image": "763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310",
              "model_data_url": f"s3://{self.bucket}/broken/model.tar.gz",
              "environment": {"SAGEMAKER_PROGRAM": "inference.py"}, "execution_role_arn": self.role_arn,
              "instance_type": "ml.m5.xlarge", "instance_count": 1,
              "async_config": {"ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
                               "OutputConfig": {"S3OutputPath": f"s3://{self.bucket}/out/",
                                                "S3FailurePath": f"s3://{self.bucket}/fail/",
                                                "NotificationConfig": {"SuccessTopic": self.topic,
                                                                       "ErrorTopic": self.topic}}}}
        ep.update(over)
        return {"endpoint": ep}


def test_preflight_reports_every_problem_at_once_and_creates_nothing(aws, tmp_path):
    w = _World(aws)
    missing_topic = w.topic.rsplit(":", 1)[0] + ":no-such-topic"
    rec = w.diagnose(execution_role_arn="arn:aws:iam::123456789012:role/service-role/NoSuchRole")
    rec["endpoint"]["async_config"]["OutputConfig"]["NotificationConfig"]["ErrorTopic"] = missing_topic
    rec["endpoint"]["async_config"]["OutputConfig"]["S3FailurePath"] = "s3://no-such-bucket-zz9/fail/"
    records.write_record(tmp_path, "diagnose", rec)
    records.write_record(tmp_path, "rebuild_archive", {"target_uri": f"s3://{w.bucket}/fixed/missing.tar.gz",
                                                       "result_sha256": w.sha})
    before = inventory(w.sm)
    with pytest.raises(preflight.PreflightFailed) as e:
        deploy.run(aws, run_dir=str(tmp_path), mode="new-endpoint", smoke_input=f"s3://{w.bucket}/nope.png", poll_seconds=0.1)
    codes = {f.code for f in e.value.findings if f.severity == "error"}
    assert codes == {"role-not-found", "topic-not-found", "model-data-not-found", "output-bucket-not-found",
                     "smoke-input-not-found"}
    assert e.value.code == "preflight-failed"
    assert inventory(w.sm) == before
    saved = records.read_record(tmp_path, "deploy")
    assert saved["status"] == "preflight-failed" and saved["error"]["code"] == "preflight-failed"
    assert {f["code"] for f in saved["preflight"]} >= codes
    assert saved["created"] == []


def test_preflight_names_missing_parameters_without_records(aws, tmp_path):
    with pytest.raises(preflight.PreflightFailed) as e:
        deploy.run(aws, run_dir=str(tmp_path), mode="new-endpoint")
    missing = {f.evidence[0] for f in e.value.findings if f.code == "missing-parameter"}
    assert missing >= {"model_data_url", "instance_type", "execution_role_arn", "async_config", "smoke_input"}
    assert any(f.code == "image-unknown" for f in e.value.findings)


def test_plan_fills_values_from_the_records_and_refuses_a_foreign_endpoint_name(aws, tmp_path):
    w = _World(aws)
    records.write_record(tmp_path, "diagnose", w.diagnose())
    records.write_record(tmp_path, "rebuild_archive", {"target_uri": w.archive, "result_sha256": w.sha})
    p, findings = deploy_plan.plan(aws, run_dir=str(tmp_path), mode="new-endpoint", max_concurrent_invocations=2,
                              smoke_input=f"s3://{w.bucket}/train/upperwear/tshirt/upperwear_tshirt100.png")
    assert not [f for f in findings if f.severity == "error"]
    assert p.model_data_url == w.archive and p.archive_sha256 == w.sha and p.archive_digest_source == "rebuild record"
    assert p.image_source == "diagnose record" and p.instance_type == "ml.m5.xlarge"
    assert p.async_config["ClientConfig"]["MaxConcurrentInvocationsPerInstance"] == 2
    assert p.smoke_input == f"s3://{w.bucket}/train/upperwear/tshirt/upperwear_tshirt100.png"
    assert p.smoke_content_type == "image/png"
    assert p.prefix == "src" and w.sha[:12] in p.model_name and w.sha[:12] in p.endpoint_config_name
    assert {"Key": names.TAG_SOURCE, "Value": f"src-async-endpoint-{w.tag}"} in p.tags
    assert {"Key": names.TAG_RUN_ID, "Value": tmp_path.name} in p.tags
    assert not [f for f in preflight.preflight(aws, p) if f.severity == "error"]
    assert p.endpoint_action == "create" and p.endpoint_name.startswith("src-async-fixed-")

    # A named endpoint that serves something else is never repointed.
    w.sm.create_model(ModelName=f"other-{w.tag}", ExecutionRoleArn=w.role_arn,
                      PrimaryContainer={"Image": NAMES.image, "ModelDataUrl": w.archive})
    w.sm.create_endpoint_config(EndpointConfigName=f"other-{w.tag}", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": f"other-{w.tag}", "InstanceType": "ml.m5.xlarge",
        "InitialInstanceCount": 1}])
    w.sm.create_endpoint(EndpointName=f"other-{w.tag}", EndpointConfigName=f"other-{w.tag}")
    p2, _ = deploy_plan.plan(aws, run_dir=str(tmp_path), mode="new-endpoint", endpoint_name=f"other-{w.tag}")
    assert "endpoint-exists" in {f.code for f in preflight.preflight(aws, p2)}
    w.sm.delete_endpoint(EndpointName=f"other-{w.tag}")


def test_image_from_the_sdk_when_no_record_names_one(aws, tmp_path, monkeypatch):
    w = _World(aws)
    rec = w.diagnose()
    del rec["endpoint"]["image"]
    records.write_record(tmp_path, "diagnose", rec)
    monkeypatch.setitem(sys.modules, "sagemaker", None)
    p, findings = deploy_plan.plan(aws, run_dir=str(tmp_path), mode="new-endpoint", model_data_url=w.archive, framework_version="2.1.0",
                              py_version="py310")
    assert [f.code for f in findings if f.severity == "error"] == ["sagemaker-sdk-missing"]
    _fake_sdk(monkeypatch, major=3)
    p, findings = deploy_plan.plan(aws, run_dir=str(tmp_path), mode="new-endpoint", model_data_url=w.archive, framework_version="2.1.0",
                              py_version="py310")
    assert p.image_source == "sagemaker sdk" and p.image_uri.endswith(":2.1.0-cpu-py310")
    assert p.archive_digest_source == "etag"  # no rebuild record for this URL


def test_the_fleet_before_an_in_place_update_is_told_apart_by_its_log_streams(aws):
    """About to update: the streams that exist now are the old fleet's; once updating or done (a rerun without a
    record), the streams created before the update's start or before the new config existed; a recorded window
    for the same config wins. The new fleet's lines are read, the old ones left out."""
    import datetime as dt
    import time

    from endpoint_runbook.endpoint import inplace

    sm, logs_client = aws.client("sagemaker"), aws.client("logs")
    tag = uuid.uuid4().hex[:8]
    endpoint, group = f"fleet-{tag}", f"/aws/sagemaker/Endpoints/fleet-{tag}"
    logs_client.create_log_group(logGroupName=group)

    def stream(name: str, line: str) -> None:
        logs_client.create_log_stream(logGroupName=group, logStreamName=name)
        logs_client.put_log_events(logGroupName=group, logStreamName=name, logEvents=[
            {"timestamp": int(time.time() * 1000), "message": line}])

    stream("AllTraffic/i-old", "ModuleNotFoundError: No module named 'tinypkg'")
    stream("AllTraffic/i-old/data-log", "old data log")
    about = inplace.fleet_window(sm, logs_client, endpoint, "new-config", described={"EndpointConfigName": "old"})
    assert about["old_streams"] == ["AllTraffic/i-old"] and about["config"] == "new-config"
    time.sleep(1.1)
    sm.create_model(ModelName=f"fleet-{tag}", ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                    PrimaryContainer={"Image": "img", "ModelDataUrl": "s3://b/m.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName=f"fleet-{tag}", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": f"fleet-{tag}", "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1}])
    time.sleep(1.1)
    stream("AllTraffic/i-new", "ValueError: expected application/json, got image/png")
    done = inplace.fleet_window(sm, logs_client, endpoint, f"fleet-{tag}",
                                described={"EndpointConfigName": f"fleet-{tag}"})
    assert done["old_streams"] == ["AllTraffic/i-old"] and "before fleet-" in done["how"]
    updating = inplace.fleet_window(sm, logs_client, endpoint, f"fleet-{tag}", described={
        "EndpointConfigName": "old", "PendingDeploymentSummary": {
            "EndpointConfigName": f"fleet-{tag}", "StartTime": dt.datetime.now(dt.timezone.utc)}})
    assert updating["old_streams"] == ["AllTraffic/i-new", "AllTraffic/i-old"]  # both existed before that start
    recorded = {**about, "config": f"fleet-{tag}"}
    assert inplace.fleet_window(sm, logs_client, endpoint, f"fleet-{tag}", described={
        "EndpointConfigName": f"fleet-{tag}"}, recorded=recorded) is recorded
    read = inplace.read_fleet_logs(logs_client, endpoint, done)
    assert [e.stream for e in read.events] == ["AllTraffic/i-new"]
    assert sorted(read.left_out) == ["AllTraffic/i-old", "AllTraffic/i-old/data-log"]
    sm.delete_endpoint_config(EndpointConfigName=f"fleet-{tag}")
    sm.delete_model(ModelName=f"fleet-{tag}")


def test_the_log_evidence_waits_for_a_line_that_reaches_the_log_after_the_failure(aws):
    """CloudWatch shows a line some seconds after the container wrote it: the failure's evidence is read again
    until the log names a cause, and once it has caught up (a line logged after the failure) it is not waited for."""
    import threading
    import time

    from endpoint_runbook.steps import deploy as deploy_step

    logs_client = aws.client("logs")
    tag = uuid.uuid4().hex[:8]
    endpoint, group, stream = f"late-{tag}", f"/aws/sagemaker/Endpoints/late-{tag}", "AllTraffic/i-0123456789abcdef0"
    logs_client.create_log_group(logGroupName=group)
    logs_client.create_log_stream(logGroupName=group, logStreamName=stream)

    def put(message: str, at_ms: int | None = None) -> None:
        logs_client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": at_ms or int(time.time() * 1000), "message": message}])

    put("2026-12-02T06:00:00,000 [INFO ] W-9000-model_1.0 TS_METRICS - WorkerLoadTime.Milliseconds:812.0|#WorkerName:"
        "W-9000-model_1.0,Level:Host|#hostname:ip-10-0-0-1,timestamp:1764655200", int(time.time() * 1000) - 60_000)
    first = deploy_step._log_evidence(aws, endpoint, {}, settle=0)
    assert first["cause"]["code"] == "healthy" and first["settle"]["reads"] == 1

    late = ("2026-12-02T06:00:05,000 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - Invoking custom service failed.\n"
            "Traceback (most recent call last):\n  File \"/opt/ml/model/code/inference.py\", line 40, in input_fn\n"
            "    raise ValueError(f'expected application/json, got {content_type}')\n"
            "ValueError: expected application/json, got image/png")
    timer = threading.Timer(3.0, put, args=(late,))
    timer.start()
    try:
        waited = deploy_step._log_evidence(aws, endpoint, {}, settle=30)
    finally:
        timer.join()
    assert waited["cause"]["code"] != "healthy", waited["cause"]
    assert waited["settle"]["reads"] >= 2 and 2.0 <= waited["settle"]["waited_s"] < 30

    assert waited["cause"]["code"] == "invocation-error"

    # A log that already holds a line logged after the failure has caught up: nothing more is coming.
    logs_client.delete_log_group(logGroupName=group)
    logs_client.create_log_group(logGroupName=group)
    logs_client.create_log_stream(logGroupName=group, logStreamName=stream)
    timer = threading.Timer(1.0, put, args=(
        "2026-12-02T06:00:09,000 [INFO ] W-9000-model_1.0 ACCESS_LOG - /127.0.0.1:40000 \"GET /ping HTTP/1.1\" 200 1",))
    timer.start()
    try:
        caught_up = deploy_step._log_evidence(aws, endpoint, {}, settle=30)
    finally:
        timer.join()
    assert caught_up["cause"]["code"] in ("healthy", "no-known-signature", "no-logs")
    assert caught_up["settle"]["caught_up"] and caught_up["settle"]["waited_s"] < 10


# ---------------------------------------------------------------------------------------------- slow: real hosting

_SHARED: dict[str, Any] = {}


def shared_fixed_deployment(request: pytest.FixtureRequest, stack_url: str, tmp_root: Path) -> dict[str, Any]:
    """One deploy of the fixed StyGig archive for the whole session (test_deploy and test_verify share it);
    removed when the session ends."""
    if "result" in _SHARED:
        return _SHARED
    aws = Aws(AwsParams(region="ap-south-1", endpoint_url=stack_url, max_attempts=3))
    s3, sm = aws.client("s3"), aws.client("sagemaker")
    tag = uuid.uuid4().hex[:6]
    _, fixed = build_stygig("fixed")
    uri, sha = upload_archive(s3, NAMES.bucket, f"model-artifacts/test-deploy-{tag}/model.tar.gz", fixed.read_bytes())
    run_dir = tmp_root / "run"
    records.write_record(run_dir, "diagnose", diagnose_record_from(sm, NAMES.endpoint))
    records.write_record(run_dir, "rebuild_archive", {"target_uri": uri, "result_sha256": sha})
    params = {"run_dir": str(run_dir), "mode": "new-endpoint", "name_prefix": f"tdep{tag}", "poll_seconds": 1.0, "wait_timeout": 300,
                  "smoke_timeout": 180, "smoke_input": SEED_INPUT, "progress": lambda _m: None}
    _SHARED.update(aws=aws, run_dir=run_dir, params=params, archive=uri, sha=sha, tag=tag)

    def teardown() -> None:
        _SHARED.clear()
        saved = records.read_record(run_dir, "deploy") or {}
        delete_deployment(sm, saved.get("endpoint_name"), saved.get("endpoint_config_name"), saved.get("model_name"))
        s3.delete_object(Bucket=NAMES.bucket, Key=uri.split("/", 3)[3])

    request.session.addfinalizer(teardown)
    _SHARED["result"] = deploy.run(aws, **params)
    return _SHARED


@pytest.fixture(scope="module")
def fixed(request, incident_stack, tmp_path_factory):
    return shared_fixed_deployment(request, incident_stack.url, tmp_path_factory.mktemp("deploy"))


@pytest.mark.slow
def test_fixed_archive_deploys_and_the_smoke_request_passes(fixed):
    r: deploy.DeployResult = fixed["result"]
    assert r.ok and r.status == "deployed" and r.endpoint_status == "InService"
    assert r.actions == {"model": "created", "endpoint_config": "created", "endpoint": "created"}
    assert r.smoke.status == "completed" and r.smoke.summary["kind"] == "recommendations"
    assert r.smoke.input == SEED_INPUT and r.smoke.output_location.startswith(f"s3://{NAMES.bucket}/")
    assert r.smoke.summary["top"] and all(i["category"] != "upperwear" for i in r.smoke.summary["top"])
    assert r.timings["create_to_in_service_s"] > 0 and r.timings["smoke_latency_s"] > 0
    saved = json.loads((fixed["run_dir"] / "03-deploy.json").read_text())
    assert saved["endpoint_name"] == r.endpoint_name and saved["smoke"]["ok"]
    assert saved["source_endpoint"]["name"] == NAMES.endpoint
    sm = fixed["aws"].client("sagemaker")
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=r.model_arn)["Tags"]}
    assert tags[names.TAG_SOURCE] == NAMES.endpoint and tags[names.TAG_ARCHIVE] == fixed["sha"]
    assert tags[names.TAG_RUN_ID] == r.run_id
    model = sm.describe_model(ModelName=r.model_name)
    assert model["PrimaryContainer"]["ModelDataUrl"] == fixed["archive"]
    assert model["PrimaryContainer"]["Image"] == NAMES.image  # the crashing endpoint's own image


@pytest.mark.slow
def test_rerunning_deploy_creates_nothing_new(fixed):
    sm = fixed["aws"].client("sagemaker")
    before = inventory(sm)
    again = deploy.run(fixed["aws"], **fixed["params"])
    assert inventory(sm) == before
    first = fixed["result"]
    assert again.ok and again.actions == {"model": "reused", "endpoint_config": "reused", "endpoint": "reused"}
    assert (again.endpoint_name, again.endpoint_config_name, again.model_name) == \
        (first.endpoint_name, first.endpoint_config_name, first.model_name)
    assert again.created == [] and again.smoke.ok


@pytest.mark.slow
def test_bad_model_data_fails_the_endpoint_with_its_reason(incident_aws, tmp_path):
    s3, sm = incident_aws.client("s3"), incident_aws.client("sagemaker")
    tag = uuid.uuid4().hex[:6]
    uri, sha = upload_archive(s3, NAMES.bucket, f"model-artifacts/test-notar-{tag}/model.tar.gz", b"not a tarball")
    records.write_record(tmp_path, "diagnose", diagnose_record_from(sm, NAMES.endpoint))
    records.write_record(tmp_path, "rebuild_archive", {"target_uri": uri, "result_sha256": sha})
    with pytest.raises(CheckFailed) as e:
        deploy.run(incident_aws, run_dir=str(tmp_path), mode="new-endpoint", name_prefix=f"tbad{tag}", poll_seconds=0.5,
                   wait_timeout=120, smoke_input=SEED_INPUT, progress=lambda _m: None)
    saved = records.read_record(tmp_path, "deploy")
    try:
        assert e.value.code == "endpoint-failed"
        assert saved["status"] == "endpoint-failed" and saved["endpoint_status"] == "Failed"
        assert "tar.gz" in saved["failure_reason"] and saved["log_evidence"]["cause"]["code"]
        assert saved["smoke"] is None
    finally:
        delete_deployment(sm, saved["endpoint_name"], saved["endpoint_config_name"], saved["model_name"])
        s3.delete_object(Bucket=NAMES.bucket, Key=uri.split("/", 3)[3])


@pytest.mark.slow
def test_in_service_is_not_enough_the_smoke_request_catches_the_crash_loop(incident_aws, tmp_path):
    """The broken archive: /ping answers, the endpoint is InService, and the smoke request fails with the
    log evidence naming the missing module."""
    sm = incident_aws.client("sagemaker")
    tag = uuid.uuid4().hex[:6]
    records.write_record(tmp_path, "diagnose", diagnose_record_from(sm, NAMES.endpoint))
    broken = f"s3://{NAMES.bucket}/{NAMES.archive_key}"
    with pytest.raises(CheckFailed) as e:
        deploy.run(incident_aws, run_dir=str(tmp_path), mode="new-endpoint", model_data_url=broken, name_prefix=f"tbrk{tag}",
                   poll_seconds=0.5, wait_timeout=180, smoke_timeout=20, smoke_input=SEED_INPUT, progress=lambda _m: None)
    saved = records.read_record(tmp_path, "deploy")
    try:
        assert e.value.code == "smoke-failed"
        assert saved["endpoint_status"] == "InService" and saved["status"] == "smoke-failed"
        assert saved["smoke"]["status"] == "failed" and "timed out" in saved["smoke"]["failure_reason"]
        assert saved["log_evidence"]["cause"]["code"] == "missing-module"
        assert "stygig" in str(e.value)
    finally:
        delete_deployment(sm, saved["endpoint_name"], saved["endpoint_config_name"], saved["model_name"])
