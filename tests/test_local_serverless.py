"""The local stack's synchronous endpoints against a tiny purpose-built model (model containers: slow).

Serverless, as SageMaker runs it: no container until the first request (a cold start, ``ModelSetupTime``), the
container stops after idle and the next request starts one again; past ``MaxConcurrency`` requests in flight,
``ThrottlingException``; ``MemorySizeInMB`` is the container's memory limit (a request that allocates past it
fails, and the container's log says why). Real-time: a request the model rejects is a ``ModelError`` naming the
container's status, counted in ``Invocation4XXErrors``.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import time
import uuid

import boto3
import botocore.config
import botocore.exceptions
import pytest
from endpoint_runbook.local import stack
from stacks import running_stack
from tinymodel import IMAGE, INFERENCE, TINYPKG, tar_gz

pytestmark = pytest.mark.slow
REGION = "ap-south-1"
#: The tiny model, slower or hungrier on demand (``sleep`` seconds, ``hog_mb`` allocated), and a wrong content type
#: rejected with 415 as a toolkit error.
MODEL = INFERENCE.replace(b"import json\n", b"import json\nimport time\n"
                          b"from sagemaker_inference.errors import BaseInferenceToolkitError\n", 1).replace(
    b'raise ValueError("expected application/json, got %s" % content_type)',
    b'raise BaseInferenceToolkitError(415, "expected application/json", "expected application/json")').replace(
    b'    return {"answer": answer(data["x"]) + model["offset"]}',
    b'    time.sleep(float(data.get("sleep", 0)))\n'
    b'    hog = bytearray(int(data.get("hog_mb", 0)) * 2**20)\n'
    b'    for i in range(0, len(hog), 4096):\n'
    b'        hog[i] = 1\n'
    b'    return {"answer": answer(data["x"]) + model["offset"]}')
assert b"time.sleep" in MODEL and b"BaseInferenceToolkitError(415" in MODEL


@pytest.fixture(scope="module")
def sls(tmp_path_factory):
    with running_stack(tmp_path_factory, "serverless-stack", startup_timeout=120, invocation_timeout=30,
                       serverless_idle=4) as info:
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name=REGION)
        c = {n: session.client(n, endpoint_url=info.url) for n in ("s3", "sagemaker", "cloudwatch", "logs")}
        c["runtime"] = session.client("sagemaker-runtime", endpoint_url=info.url, config=botocore.config.Config(
            read_timeout=300, retries={"max_attempts": 1}))
        tag = uuid.uuid4().hex[:8]
        bucket = f"sls-{tag}"
        c["s3"].create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        c["s3"].put_object(Bucket=bucket, Key="model.tar.gz", Body=tar_gz({
            "code/inference.py": MODEL, "code/tinypkg/__init__.py": TINYPKG}))
        name = f"sls-{tag}"
        c["sagemaker"].create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/tiny",
                                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/model.tar.gz",
                                                      "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                                                      "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}})
        for kind, variant in (("serverless", {"ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 2}}),
                              ("realtime", {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1})):
            c["sagemaker"].create_endpoint_config(EndpointConfigName=f"{name}-{kind}", ProductionVariants=[
                {"VariantName": "AllTraffic", "ModelName": name, **variant}])
            c["sagemaker"].create_endpoint(EndpointName=f"{name}-{kind}", EndpointConfigName=f"{name}-{kind}")
        for kind in ("serverless", "realtime"):
            deadline = time.monotonic() + 180
            while c["sagemaker"].describe_endpoint(EndpointName=f"{name}-{kind}")["EndpointStatus"] == "Creating":
                assert time.monotonic() < deadline
                time.sleep(0.5)
        yield {"info": info, "c": c, "serverless": f"{name}-serverless", "realtime": f"{name}-realtime"}


def invoke(sls, endpoint: str, payload: dict, content_type: str = "application/json") -> dict:
    out = sls["c"]["runtime"].invoke_endpoint(EndpointName=endpoint, Body=json.dumps(payload).encode(),
                                              ContentType=content_type)
    return json.loads(out["Body"].read())


def running(sls, endpoint: str) -> list[dict]:
    info = stack.status(sls["info"].state_dir)
    return [c for c in info.containers if c["endpoint"] == endpoint and c["state"] == "Running"]


def metric(sls, endpoint: str, name: str, stat: str = "Sum") -> float:
    now = dt.datetime.now(dt.timezone.utc)
    r = sls["c"]["cloudwatch"].get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName=name, StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=1), Period=3600, Statistics=[stat],
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "AllTraffic"}])
    return sum(d[stat] for d in r["Datapoints"])


def test_a_serverless_endpoint_starts_cold_and_scales_to_zero_after_idle(sls):
    ep = sls["serverless"]
    assert sls["c"]["sagemaker"].describe_endpoint(EndpointName=ep)["EndpointStatus"] == "InService"
    assert running(sls, ep) == []  # no instance until a request comes
    t0 = time.monotonic()
    assert invoke(sls, ep, {"x": [1, 2]}) == {"answer": 105}
    cold = time.monotonic() - t0
    [container] = running(sls, ep)
    assert container["serverless"] == {"MemorySizeInMB": 1024, "MaxConcurrency": 2} and container["memory_limit"]
    t0 = time.monotonic()
    assert invoke(sls, ep, {"x": [3]}) == {"answer": 109}
    assert time.monotonic() - t0 < cold  # warm: the same container
    assert metric(sls, ep, "ModelSetupTime", "SampleCount") == 1
    deadline = time.monotonic() + 30
    while running(sls, ep) and time.monotonic() < deadline:  # idle for 4 s: stopped
        time.sleep(0.5)
    assert running(sls, ep) == []
    assert invoke(sls, ep, {"x": [1]}) == {"answer": 101}  # a cold start again
    assert metric(sls, ep, "ModelSetupTime", "SampleCount") == 2
    assert metric(sls, ep, "Invocations") == 3 and metric(sls, ep, "Invocation5XXErrors") == 0
    assert metric(sls, ep, "ModelLatency", "SampleCount") == 3


def test_past_max_concurrency_requests_are_throttled(sls):
    ep = sls["serverless"]
    invoke(sls, ep, {"x": [1]})  # warm, so all three meet one container

    def slow(_i: int) -> str:
        try:
            invoke(sls, ep, {"x": [1], "sleep": 4})
            return "served"
        except botocore.exceptions.ClientError as e:
            return e.response["Error"]["Code"]

    with cf.ThreadPoolExecutor(max_workers=3) as pool:
        got = sorted(pool.map(slow, range(3)))
    assert got == ["ThrottlingException", "served", "served"], got
    assert invoke(sls, ep, {"x": [2]}) == {"answer": 104}  # the slots are free again


def test_past_its_memory_a_serverless_container_is_killed(sls):
    ep = sls["serverless"]
    before = metric(sls, ep, "Invocation5XXErrors")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(sls, ep, {"x": [1], "hog_mb": 1400})  # more than its 1024 MB
    assert e.value.response["Error"]["Code"] == "ModelError"
    assert metric(sls, ep, "Invocation5XXErrors") == before + 1
    deadline, text = time.monotonic() + 15, ""
    while "reached its memory limit (1024 MB" not in text and time.monotonic() < deadline:  # shipped every 0.5 s
        time.sleep(0.5)
        text = "\n".join(x["message"] for x in sls["c"]["logs"].filter_log_events(
            logGroupName=f"/aws/sagemaker/Endpoints/{ep}", filterPattern='"memory limit"')["events"])
    assert "memory limit 1024 MB" in text and "reached its memory limit (1024 MB" in text, (text, e.value.response)
    # the model itself is fine: a request within the memory is served
    deadline = time.monotonic() + 120
    while True:
        try:
            assert invoke(sls, ep, {"x": [1]}) == {"answer": 101}
            break
        except botocore.exceptions.ClientError:
            assert time.monotonic() < deadline
            time.sleep(2)


def test_a_real_time_request_the_model_rejects_is_a_model_error_counted_as_4xx(sls):
    ep = sls["realtime"]
    assert invoke(sls, ep, {"x": [1, 1]}) == {"answer": 102}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(sls, ep, {"x": [1]}, content_type="text/csv")
    err = e.value.response
    assert err["Error"]["Code"] == "ModelError" and err["OriginalStatusCode"] == 415
    assert "Received client error (415) from primary" in err["Error"]["Message"]
    assert metric(sls, ep, "Invocations") == 2
    assert (metric(sls, ep, "Invocation4XXErrors"), metric(sls, ep, "Invocation5XXErrors")) == (1, 0)
    assert metric(sls, ep, "InvocationsPerInstance") == 2
    assert metric(sls, ep, "ModelSetupTime", "SampleCount") == 0  # instances: no cold start
