"""Every endpoint kind, quick: the kind read from a config, the serverless limits against AWS's facts, deploy's config
per kind (on plain moto), the outage's request metrics, the policies and views per kind, the memory limit of a
serverless container, and the local stack's SageMaker rules for serverless configs (no model container)."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
import time
import uuid

import botocore.exceptions
import pytest
from endpoint_runbook import records
from endpoint_runbook.endpoint import kind as endpoint_kind
from endpoint_runbook.endpoint import plan as deploy_plan
from endpoint_runbook.endpoint import preflight
from endpoint_runbook.endpoint.inplace import copied_variant
from endpoint_runbook.invocation.invoke import invoke_sync, payload_limit
from endpoint_runbook.invocation.metrics import read_outage
from endpoint_runbook.local.memory_limit import MemoryLimit, cgroup_root
from endpoint_runbook.permissions import Where
from endpoint_runbook.policy import Subject, step_policies
from endpoint_runbook.render import kind_fields
from endpoint_runbook.render.deploy import deploy_html
from endpoint_runbook.render.verify import outage_html, verify_html
from endpoint_runbook.steps import deploy
from tinymodel import IMAGE, tiny_archive

SERVERLESS = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
ROLE_NAME = "kinds-exec"


def test_the_kind_is_read_from_the_config():
    v = {"VariantName": "AllTraffic", "ModelName": "m"}
    assert endpoint_kind.kind_of({"ProductionVariants": [v | {"InstanceType": "ml.m5.large"}]}) == "real-time"
    assert endpoint_kind.kind_of({"ProductionVariants": [v | {"ServerlessConfig": SERVERLESS}]}) == "serverless"
    assert endpoint_kind.kind_of({"ProductionVariants": [v], "AsyncInferenceConfig": {"OutputConfig": {}}}) == "async"
    # DescribeEndpoint shows a serverless variant's config as CurrentServerlessConfig
    assert endpoint_kind.kind_of_endpoint(None, [{"CurrentServerlessConfig": SERVERLESS}]) == "serverless"
    assert endpoint_kind.kind_of_endpoint(None, [{"CurrentInstanceCount": 1}]) == "real-time"
    assert endpoint_kind.serverless_config_of({"ProductionVariants": [v | {"ServerlessConfig": SERVERLESS}]}) == SERVERLESS


def codes(findings) -> dict[str, str]:
    return {f.code: f.severity for f in findings}


def test_serverless_limits_are_held_against_the_facts():
    cpu = "763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"
    gpu = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.0.0-gpu-py310-cu118-ubuntu20.04-sagemaker"
    assert endpoint_kind.serverless_findings(None, image=cpu) == []  # not serverless: nothing to hold
    ok = endpoint_kind.serverless_findings(SERVERLESS, image=cpu, model_bytes=300 << 20)
    assert codes(ok) == {"serverless-image-size-unchecked": "info"}  # what cannot be read here is said
    for mem in (1536, 512, 8192):  # 1 GB steps from 1024 to 6144 only
        assert codes(endpoint_kind.serverless_findings({"MemorySizeInMB": mem, "MaxConcurrency": 5}, image=cpu))[
            "serverless-memory-invalid"] == "error"
    for mc in (0, 201, None):
        assert "serverless-concurrency-invalid" in codes(
            endpoint_kind.serverless_findings({"MemorySizeInMB": 1024, "MaxConcurrency": mc}, image=cpu))
    assert "serverless-concurrency-invalid" in codes(endpoint_kind.serverless_findings(
        {"MemorySizeInMB": 1024, "MaxConcurrency": 2, "ProvisionedConcurrency": 3}, image=cpu))
    assert codes(endpoint_kind.serverless_findings(SERVERLESS, image=gpu))["serverless-gpu-image"] == "error"
    too_big = endpoint_kind.serverless_findings(SERVERLESS, image=cpu, model_bytes=6 * 10**9)
    assert codes(too_big)["serverless-model-too-large"] == "error"  # more than the 5 GB of storage
    tight = endpoint_kind.serverless_findings({"MemorySizeInMB": 1024, "MaxConcurrency": 1}, image=cpu,
                                              model_bytes=1500 << 20)
    assert codes(tight)["serverless-memory-below-model"] == "warning"
    excluded = endpoint_kind.serverless_findings(SERVERLESS, image=cpu, variants=2, network_isolation=True)
    assert [f.code for f in excluded].count("serverless-feature-excluded") == 2
    # every finding names where AWS says it
    assert all("https://" in f.message for f in too_big + tight + excluded)


def test_the_config_of_each_kind_carries_only_what_the_kind_takes():
    aic, dc = {"OutputConfig": {"S3OutputPath": "s3://b/out/"}}, {"EnableCapture": True, "InitialSamplingPercentage": 5}
    assert endpoint_kind.config_kwargs("async", async_config=aic, data_capture=dc, kms_key_id="k") == {
        "AsyncInferenceConfig": aic, "DataCaptureConfig": dc, "KmsKeyId": "k"}
    assert endpoint_kind.config_kwargs("real-time", async_config=aic, data_capture=dc) == {"DataCaptureConfig": dc}
    assert endpoint_kind.config_kwargs("serverless", async_config=aic, data_capture=dc, kms_key_id="k") == {}
    prev = {"ProductionVariants": [{"VariantName": "Blue", "ModelName": "old", "ServerlessConfig": SERVERLESS,
                                    "CurrentServerlessConfig": SERVERLESS}]}
    v = copied_variant(prev, "new")
    assert v == {"VariantName": "Blue", "ModelName": "new", "ServerlessConfig": SERVERLESS, "InitialVariantWeight": 1.0}
    assert payload_limit("serverless") == 4 * 2**20 and payload_limit("real-time") == 6 * 2**20


# ---------------------------------------------------------------------------------------------- deploy per kind


@pytest.fixture()
def source(aws):
    """On plain moto: a bucket with a fixed archive and a smoke input, the execution role, a broken model, and a
    real-time config (with data capture) and a serverless config to copy."""
    sm, s3, tag = aws.client("sagemaker"), aws.client("s3"), uuid.uuid4().hex[:8]
    bucket = f"kinds-{tag}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})
    archive = tiny_archive(with_package=True)
    s3.put_object(Bucket=bucket, Key="fixed/model.tar.gz", Body=archive)
    s3.put_object(Bucket=bucket, Key="in/x.json", Body=b'{"x": [1, 2]}')
    s3.put_object(Bucket=bucket, Key="in/big.json", Body=b" " * (4 * 2**20 + 1))
    iam = aws.client("iam")
    try:
        role = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    model = f"broken-{tag}"
    sm.create_model(ModelName=model, ExecutionRoleArn=role, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/broken/model.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}})
    capture = {"EnableCapture": True, "InitialSamplingPercentage": 20, "DestinationS3Uri": f"s3://{bucket}/capture",
               "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
    sm.create_endpoint_config(EndpointConfigName=f"rt-{tag}", DataCaptureConfig=capture, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 2}])
    sm.create_endpoint_config(EndpointConfigName=f"sl-{tag}", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "ServerlessConfig": SERVERLESS}])
    return {"tag": tag, "bucket": bucket, "archive": f"s3://{bucket}/fixed/model.tar.gz",
            "sha": hashlib.sha256(archive).hexdigest(), "smoke": f"s3://{bucket}/in/x.json", "capture": capture,
            "big": f"s3://{bucket}/in/big.json", "rt": f"rt-{tag}", "sl": f"sl-{tag}", "model": model}


@pytest.mark.parametrize("kind", ["real-time", "serverless"])
def test_a_new_endpoint_copies_the_config_of_its_kind(aws, source, tmp_path, kind):
    cfg = source["rt"] if kind == "real-time" else source["sl"]
    dep = deploy.prepare(aws, run_dir=str(tmp_path), mode="new-endpoint", model_data_url=source["archive"],
                         archive_sha256=source["sha"], copy_from_config=cfg, smoke_input=source["smoke"],
                         name_prefix=f"k{source['tag']}")
    p = dep.plan
    assert p.kind == kind and p.async_config is None and p.sources["kind"] == f"endpoint config {cfg}"
    infix = "realtime-fixed" if kind == "real-time" else "serverless-fixed"
    assert infix in p.endpoint_config_name and infix in p.endpoint_name
    deploy.create(dep)
    sm = aws.client("sagemaker")
    made = sm.describe_endpoint_config(EndpointConfigName=p.endpoint_config_name)
    v = made["ProductionVariants"][0]
    assert "AsyncInferenceConfig" not in made and v["ModelName"] == p.model_name
    if kind == "serverless":
        assert v["ServerlessConfig"] == SERVERLESS and "InstanceType" not in v and not made.get("DataCaptureConfig")
        assert p.instance_count is None
    else:
        assert (v["InstanceType"], v["InitialInstanceCount"]) == ("ml.m5.xlarge", 2)
        assert made["DataCaptureConfig"]["DestinationS3Uri"] == source["capture"]["DestinationS3Uri"]
    assert records.read_record(tmp_path, "deploy")["kind"] == kind
    # a rerun plans the same names: nothing new
    again = deploy.prepare(aws, run_dir=str(tmp_path), mode="new-endpoint", model_data_url=source["archive"],
                           archive_sha256=source["sha"], copy_from_config=cfg, smoke_input=source["smoke"],
                           name_prefix=f"k{source['tag']}")
    assert again.plan.endpoint_config_name == p.endpoint_config_name


def test_in_place_keeps_the_serverless_config_of_the_endpoint(aws, source, tmp_path):
    sm = aws.client("sagemaker")
    ep = f"sl-ep-{source['tag']}"
    sm.create_endpoint(EndpointName=ep, EndpointConfigName=source["sl"])
    p, findings = deploy_plan.plan(aws, run_dir=str(tmp_path), mode="in-place", endpoint_name=ep,
                              model_data_url=source["archive"], archive_sha256=source["sha"],
                              smoke_input=source["smoke"], copy_from_config=source["sl"])
    assert not [f for f in findings if f.severity == "error"], findings
    assert (p.kind, p.mode, p.endpoint_action, p.previous_endpoint_config_name) == ("serverless", "in-place", "update",
                                                                                  source["sl"])
    assert p.variant["ServerlessConfig"] == SERVERLESS and "InstanceType" not in p.variant
    assert "InitialInstanceCount" not in p.variant


def test_what_a_kind_does_not_take_is_refused_before_anything_is_made(aws, source, tmp_path):
    sm = aws.client("sagemaker")
    before = {c["EndpointConfigName"] for c in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]}
    with pytest.raises(preflight.PreflightFailed) as e:
        deploy.prepare(aws, run_dir=str(tmp_path), mode="new-endpoint", model_data_url=source["archive"],
                       archive_sha256=source["sha"], copy_from_config=source["sl"], smoke_input=source["big"],
                       instance_type="ml.m5.large", output_path=f"s3://{source['bucket']}/out/",
                       image_uri=IMAGE.replace("2.1.0-cpu-py310", "2.1.0-gpu-py310-cu121-ubuntu20.04-sagemaker"))
    found = {f.code for f in e.value.findings if f.severity == "error"}
    assert {"instances-on-serverless", "async-config-on-sync-endpoint", "smoke-input-too-large",
            "serverless-gpu-image"} <= found
    after = {c["EndpointConfigName"] for c in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]}
    assert after == before


def test_a_synchronous_request_too_large_for_its_kind_is_never_sent(aws, source):
    rr = invoke_sync(aws.client("sagemaker-runtime"), aws.client("s3"), endpoint_name="nowhere",
                     input_uri=source["big"], content_type="application/json", deadline=time.monotonic() + 5,
                     max_payload=payload_limit("serverless"))
    assert (rr.status, rr.error_code) == ("invoke-error", "payload-too-large") and "4 MB" in rr.failure_reason
    assert rr.sent_at is None  # refused here, before InvokeEndpoint


# ---------------------------------------------------------------------------------------------- the outage's metrics


def test_the_outages_requests_are_read_per_minute_and_split_at_the_fix(aws):
    cw, ep = aws.client("cloudwatch"), f"metrics-{uuid.uuid4().hex[:8]}"
    now = dt.datetime.now(dt.timezone.utc).replace(second=30, microsecond=0)
    fixed_at = now - dt.timedelta(minutes=4)
    dims = [{"Name": "EndpointName", "Value": ep}, {"Name": "VariantName", "Value": "AllTraffic"}]

    def put(minutes_ago: int, name: str, value: float, unit: str = "None") -> None:
        cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{
            "MetricName": name, "Dimensions": dims, "Value": value, "Unit": unit,
            "Timestamp": now - dt.timedelta(minutes=minutes_ago)}])

    for ago in (20, 12, 12):  # the outage: three requests the model never answered
        put(ago, "Invocations", 1)
        put(ago, "Invocation5XXErrors", 1)
        put(ago, "Invocation4XXErrors", 0)
        put(ago, "InvocationModelErrors", 1)
    put(12, "ModelSetupTime", 12_000_000, "Microseconds")  # a serverless cold start
    put(9, "Invocations", 1)  # a bad request, before the fix too
    put(9, "Invocation4XXErrors", 1)
    put(4, "Invocations", 2)  # the minute the fix began serving in: one failed (before it?), one served (after?)
    put(4, "Invocation5XXErrors", 1)
    for ago in (2, 1, 1):  # served after the fix
        put(ago, "Invocations", 1)
        put(ago, "Invocation5XXErrors", 0)
        put(ago, "ModelLatency", 40_000 + ago * 1000, "Microseconds")
    om = read_outage(cw, ep, ["AllTraffic"], start=now - dt.timedelta(minutes=30), end=now, fixed_at=fixed_at)
    assert om.before_fix["Invocations"] == 4 and om.before_fix["Invocation5XXErrors"] == 3
    assert om.before_fix["Invocation4XXErrors"] == 1 and om.failed_before_fix == 4
    assert om.after_fix["Invocations"] == 3 and om.failed_after_fix == 0
    assert om.latency_ms["after_fix_avg"] is not None and om.latency_ms["before_fix_avg"] is None
    assert om.cold_starts == {"count": 1.0, "longest_setup_s": 12.0}
    assert om.at_fix["Invocations"] == 2 and om.failed_at_fix == 1  # neither before nor after: not a failed fix
    assert [(p["after_fix"], p["at_fix"]) for p in om.series] == [(False, False)] * 3 + [(False, True)] + [(True, False)] * 2
    html = outage_html(om.to_dict())
    assert "4 failed" in html and "0 failed" in html and "cold start 12.0 s" in html
    assert "1 failed — 2 requests" in html and "before or after the fix" in html
    # an endpoint with no requests: an empty window, said so
    quiet = read_outage(cw, f"quiet-{ep}", ["AllTraffic"], start=now - dt.timedelta(minutes=5), end=now)
    assert quiet.series == [] and quiet.failed_before_fix == 0 and "no requests" in outage_html(quiet.to_dict())


def test_the_outage_metrics_come_from_the_endpoint_the_caller_names(aws, tmp_path):
    """verify's ``outage_endpoint`` names the endpoint that had the outage for the replay AND for the request
    metrics (one resolver): its failed requests are read, not the fixed endpoint's (which has none)."""
    from endpoint_runbook.steps import verify as verify_step

    cw, tag = aws.client("cloudwatch"), uuid.uuid4().hex[:8]
    broken, fixed = f"broken-{tag}", f"fixed-{tag}"
    now = dt.datetime.now(dt.timezone.utc).replace(second=30, microsecond=0)
    for ago in (6, 5):
        for name, value in (("Invocations", 1), ("Invocation5XXErrors", 1)):
            cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{
                "MetricName": name, "Value": value, "Unit": "None", "Timestamp": now - dt.timedelta(minutes=ago),
                "Dimensions": [{"Name": "EndpointName", "Value": broken}, {"Name": "VariantName", "Value": "AllTraffic"}]}])
    ep = {"EndpointName": fixed, "ProductionVariants": [{"VariantName": "AllTraffic"}]}
    findings: list = []
    named = verify_step._outage_metrics(aws, str(tmp_path), fixed, ep, 30, findings, named=broken)
    assert named["endpoint"] == broken and named["before_fix"]["Invocation5XXErrors"] == 2, named
    alone = verify_step._outage_metrics(aws, str(tmp_path), fixed, ep, 30, findings)
    assert alone["endpoint"] == fixed and not alone["series"]
    assert verify_step._outage(aws.client("sagemaker"), str(tmp_path), broken, fixed, {}).endpoint == broken


# ---------------------------------------------------------------------------------------------- policy, views


def _subject(kind: str) -> Subject:
    return Subject(where=Where("ap-south-1", "111122223333"), endpoint="stygig-realtime-endpoint-1",
                   config="stygig-realtime-config-1", model="m", model_data_url="s3://b/k/model.tar.gz",
                   role_arn="arn:aws:iam::111122223333:role/Exec", name_prefix="stygig", kind=kind)


@pytest.mark.parametrize("kind", ["real-time", "serverless"])
def test_the_policy_grants_the_kinds_own_calls(tmp_path, kind):
    from test_policy import local_params

    params = local_params(tmp_path, verify={"replay_failed": False})
    pol = step_policies(params, _subject(kind))
    for step in ("deploy", "verify"):
        assert "sagemaker:InvokeEndpoint" in pol[step].actions
        assert "sagemaker:InvokeEndpointAsync" not in pol[step].actions
    assert "cloudwatch:GetMetricData" in pol["verify"].actions
    doc = pol["deploy"].document
    config_arns = [r for st in doc["Statement"] for r in st["Resource"] if ":endpoint-config/" in r]
    infix = "realtime-fixed" if kind == "real-time" else "serverless-fixed"
    assert any(f"stygig-{infix}-*" in r for r in config_arns)
    new = step_policies(local_params(tmp_path, deploy={"mode": "new-endpoint"}), _subject(kind))
    assert "logs:DescribeLogStreams" not in {a for n in new["cleanup"].needs if n.sid == "ReadItsDataLog"
                                             for a in n.actions}
    assert not any(n.sid == "ReadItsDataLog" for n in new["cleanup"].needs)


def test_each_kind_has_its_views():
    base = {"name": "e", "status": "InService", "failure_reason": None, "config_name": "c", "model_name": "m",
            "image": "i", "model_data_url": "s3://b/k", "program": "inference.py", "instance_type": "ml.m5.xlarge",
            "instance_count": 1}
    assert kind_fields(base | {"kind": "real-time"}) == {"instances": "1 × ml.m5.xlarge"}
    assert kind_fields(base | {"kind": "serverless", "serverless_config": SERVERLESS}) == {
        "serverless": "2048 MB memory · max concurrency 5"}
    assert "async output" in kind_fields(base | {"kind": "async", "async_config": {
        "OutputConfig": {"S3OutputPath": "s3://b/out/"}}})
    rec = {"ok": True, "endpoint_name": "e", "kind": "serverless", "endpoint_status": "InService", "requests": [
        {"index": 1, "kind": "cold", "input": "s3://b/x.png", "status": "completed", "latency_s": 3.2,
         "summary": {"kind": "image", "content_type": "image/png", "bytes": 70,
                     "data_uri": "data:image/png;base64,AAAA"}}],
           "outage": {"endpoint": "e", "window_start": "a", "window_end": "b", "fixed_at": None,
                      "before_fix": {"Invocations": 2, "Invocation4XXErrors": 0, "Invocation5XXErrors": 2},
                      "failed_before_fix": 2, "series": []}}
    html = verify_html(rec)
    assert "— serverless" in html and "data:image/png;base64,AAAA" in html and "(response: 70 bytes)" in html
    assert "when the fix began serving is not recorded" in html and "2 failed" in html
    d = deploy_html({"ok": True, "status": "deployed", "kind": "serverless", "plan": {"serverless_config": SERVERLESS},
                     "smoke": {"status": "completed", "latency_s": 1.0, "input": "s3://b/x.png",
                               "summary": {"bytes": 12}}})
    assert "serverless — 2048 MB, max concurrency 5" in d and "the response (12 bytes)" in d


# ---------------------------------------------------------------------------------------------- the local stack


_HOG = "import time\nb = []\nfor _ in range(60):\n    b.append(bytearray(16 * 2**20))\n    time.sleep(0.02)\ntime.sleep(5)\n"


@pytest.mark.parametrize("mechanism", ["cgroup", "watchdog"])
def test_a_process_past_the_memory_limit_is_killed(tmp_path, mechanism):
    root = cgroup_root() if mechanism == "cgroup" else tmp_path  # a plain folder is no cgroup: the watchdog
    if mechanism == "cgroup" and root is None:
        pytest.skip("no writable memory cgroup here: the stack falls back to the watchdog (tested too)")
    limit = MemoryLimit(128, f"test-{mechanism}", root=root)
    assert limit.mechanism == ("memory cgroup (v1)" if mechanism == "cgroup" else "watchdog")
    said: list[str] = []
    proc = subprocess.Popen([sys.executable, "-c", _HOG], start_new_session=True, preexec_fn=limit.preexec)
    limit.watch(proc.pid, said.append)
    try:
        rc = proc.wait(timeout=60)
        time.sleep(0.7)  # the watcher's next look
        kills = limit.oom_kills()
    finally:
        limit.close()
    assert rc == -9  # SIGKILL, as the kernel's OOM killer
    assert kills >= 1 and said and "128 MB" in said[0], said
    assert limit.path is None or not limit.path.exists()  # the cgroup went with its processes


def test_the_stack_holds_serverless_configs_to_sagemakers_rules(stack_aws):
    sm, tag = stack_aws.client("sagemaker"), uuid.uuid4().hex[:8]
    sm.create_model(ModelName=f"rules-{tag}", ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://nowhere/model.tar.gz"})
    variant = {"VariantName": "AllTraffic", "ModelName": f"rules-{tag}"}
    bad = [({"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 201}}, {}),  # botocore checks only >= 1
           ({"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 2, "ProvisionedConcurrency": 3}}, {}),
           ({"ServerlessConfig": SERVERLESS}, {"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": "s3://b/o/"}}}),
           ({"ServerlessConfig": SERVERLESS, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}, {})]
    for i, (extra, kwargs) in enumerate(bad):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sm.create_endpoint_config(EndpointConfigName=f"rules-{tag}-{i}", ProductionVariants=[variant | extra],
                                      **kwargs)
        assert e.value.response["Error"]["Code"] == "ValidationException"
    # an instance-based endpoint cannot become serverless (no container: the stack's canned state)
    sm.create_endpoint_config(EndpointConfigName=f"rules-{tag}-rt", ProductionVariants=[
        variant | {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sm.create_endpoint_config(EndpointConfigName=f"rules-{tag}-sl", ProductionVariants=[
        variant | {"ServerlessConfig": SERVERLESS}])
    sm.create_endpoint(EndpointName=f"rules-{tag}", EndpointConfigName=f"rules-{tag}-rt",
                       Tags=[{"Key": "local-stack:state", "Value": "InService"}])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.update_endpoint(EndpointName=f"rules-{tag}", EndpointConfigName=f"rules-{tag}-sl")
    assert "serverless" in str(e.value)
