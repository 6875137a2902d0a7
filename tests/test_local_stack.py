"""The embedded local stack against a tiny purpose-built model: the crash loop is real, and so is the fix."""

from __future__ import annotations

import json
import time

import pytest
from endpoint_runbook.local import stack
from endpoint_runbook.serving.image_profiles import profile_for_image
from stacks import log_text
from tinymodel import IMAGE, World, tiny_archive

pytestmark = pytest.mark.slow


@pytest.fixture()
def world(stack_aws):
    return World(stack_aws)



def test_missing_package_crash_loops_while_in_service(world, stack_aws):
    world.deploy("tiny-broken", world.put("model/broken.tar.gz", tiny_archive(with_package=False)))
    d = world.wait_status("tiny-broken")
    assert d["EndpointStatus"] == "InService", d  # /ping says Healthy while every worker dies
    logs = stack_aws.client("logs")
    group = "/aws/sagemaker/Endpoints/tiny-broken"
    deadline = time.monotonic() + 60
    wanted = ("ModuleNotFoundError: No module named 'tinypkg'", "Backend worker process died.",
              "Auto recovery failed again")
    while time.monotonic() < deadline:
        text = log_text(logs, group)
        if all(w in text for w in wanted):
            break
        time.sleep(1)
    assert all(w in text for w in wanted), text[-3000:]
    streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]]
    assert any(s.startswith("AllTraffic/i-") for s in streams)
    assert world.sm.describe_endpoint(EndpointName="tiny-broken")["EndpointStatus"] == "InService"

    rt = stack_aws.client("sagemaker-runtime")
    r = rt.invoke_endpoint_async(EndpointName="tiny-broken", ContentType="application/json",
                                 InputLocation=world.put("in/x.json", b'{"x": [1, 2]}'), InvocationTimeoutSeconds=8)
    assert r["OutputLocation"].endswith(f"/out/{r['InferenceId']}.out")
    msg = world.notification(r["InferenceId"], timeout=40)
    assert msg is not None and msg["invocationStatus"] == "Failed" and msg["eventName"] == "InferenceResult"
    bucket, key = r["FailureLocation"][5:].split("/", 1)
    failure = world.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert "timed out" in failure
    with pytest.raises(world.s3.exceptions.ClientError):
        world.s3.head_object(Bucket=world.bucket, Key=r["OutputLocation"].split("/", 3)[3])
    data_log = log_text(logs, group)
    assert r["InferenceId"] in data_log


def test_package_under_code_serves_the_real_answer(world, stack_aws, local_stack):
    world.deploy("tiny-fixed", world.put("model/fixed.tar.gz", tiny_archive(with_package=True)))
    assert world.wait_status("tiny-fixed")["EndpointStatus"] == "InService"
    rt = stack_aws.client("sagemaker-runtime")
    r = rt.invoke_endpoint_async(EndpointName="tiny-fixed", ContentType="application/json",
                                 InputLocation=world.put("in/y.json", b'{"x": [1, 2, 3]}'), InvocationTimeoutSeconds=60)
    msg = world.notification(r["InferenceId"], timeout=60)
    assert msg is not None and msg["invocationStatus"] == "Completed", msg
    assert msg["responseParameters"]["outputLocation"] == r["OutputLocation"]
    out = world.s3.get_object(Bucket=world.bucket, Key=r["OutputLocation"].split("/", 3)[3])["Body"].read()
    assert json.loads(out) == {"answer": 1 + 4 + 9 + 100}
    # InvokeEndpoint passes through synchronously; a model error comes back as ModelError.
    sync = rt.invoke_endpoint(EndpointName="tiny-fixed", ContentType="application/json", Body=b'{"x": [2]}')
    assert json.loads(sync["Body"].read()) == {"answer": 104}
    with pytest.raises(rt.exceptions.ModelError):
        rt.invoke_endpoint(EndpointName="tiny-fixed", ContentType="text/csv", Body=b"1,2")
    # Served in the serving environment of the model's image (its profile), built when the container started.
    mine = [c for c in stack.status(local_stack.state_dir).containers if c["endpoint"] == "tiny-fixed"]
    assert [c["profile"] for c in mine] == [profile_for_image(IMAGE).name]
    # DeleteEndpoint stops the container.
    pids = [c["pid"] for c in mine]
    world.sm.delete_endpoint(EndpointName="tiny-fixed")
    assert pids and not any(stack._live_members(p) for p in pids)


@pytest.mark.parametrize("case", ["missing-object", "not-gzip"])
def test_unusable_model_data_fails_the_endpoint(world, case):
    url = (f"s3://{world.bucket}/model/nope.tar.gz" if case == "missing-object"
           else world.put("model/plain.txt", b"this is not a gzip tar"))
    world.deploy(f"tiny-{case}", url)
    d = world.wait_status(f"tiny-{case}", timeout=60)
    assert d["EndpointStatus"] == "Failed"
    assert ("download model data" if case == "missing-object" else "valid tar.gz") in d["FailureReason"]


def test_update_endpoint_swaps_to_the_fixed_model(world, stack_aws):
    world.deploy("tiny-upd", world.put("model/b.tar.gz", tiny_archive(with_package=False)))
    assert world.wait_status("tiny-upd")["EndpointStatus"] == "InService"
    fixed = world.put("model/f.tar.gz", tiny_archive(with_package=True))
    world.sm.create_model(ModelName="tiny-upd-2", ExecutionRoleArn="arn:aws:iam::123456789012:role/tiny",
                          PrimaryContainer={"Image": IMAGE, "ModelDataUrl": fixed})
    world.sm.create_endpoint_config(
        EndpointConfigName="tiny-upd-2",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "tiny-upd-2", "InstanceType": "ml.m5.large",
                             "InitialInstanceCount": 1}],
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": f"s3://{world.bucket}/out2/"}})
    world.sm.update_endpoint(EndpointName="tiny-upd", EndpointConfigName="tiny-upd-2")
    assert world.sm.describe_endpoint(EndpointName="tiny-upd")["EndpointStatus"] == "Updating"
    d = world.wait_status("tiny-upd")
    assert d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == "tiny-upd-2"
    out = stack_aws.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="tiny-upd", ContentType="application/json", Body=b'{"x": [3]}')
    assert json.loads(out["Body"].read()) == {"answer": 109}
    world.sm.delete_endpoint(EndpointName="tiny-upd")


def test_bad_requests_are_named_errors(world, stack_aws):
    rt = stack_aws.client("sagemaker-runtime")
    with pytest.raises(rt.exceptions.ValidationError, match="not found"):
        rt.invoke_endpoint_async(EndpointName="no-such-endpoint", InputLocation=f"s3://{world.bucket}/x")
    with pytest.raises(world.sm.exceptions.ClientError, match="Could not find endpoint"):
        world.sm.update_endpoint(EndpointName="no-such-endpoint", EndpointConfigName="whatever")
    # As SageMaker (moto would overwrite): a name that exists cannot be created again.
    model = {"ModelName": f"dup-{world.tag}", "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
             "PrimaryContainer": {"Image": IMAGE}}
    world.sm.create_model(**model)
    with pytest.raises(world.sm.exceptions.ClientError, match="Cannot create already existing model"):
        world.sm.create_model(**model)
