"""The stygig-incident scenario on the local stack: the genuine crash loop, and the fixed sample serving."""

from __future__ import annotations

import json
import time

import pytest
from endpoint_runbook.local.scenarios import StygigIncident, build_stygig

pytestmark = pytest.mark.slow
NAMES = StygigIncident()
QUERY = f"s3://{NAMES.bucket}/train/upperwear/tshirt/upperwear_tshirt100.png"


def test_incident_endpoint_is_in_service_and_crash_looping(incident_aws):
    sm, logs = incident_aws.client("sagemaker"), incident_aws.client("logs")
    assert sm.describe_endpoint(EndpointName=NAMES.endpoint)["EndpointStatus"] == "InService"
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=f"/aws/sagemaker/Endpoints/{NAMES.endpoint}")
    messages = [e["message"] for page in pages for e in page["events"]]
    assert any("ModuleNotFoundError: No module named 'stygig'" in m for m in messages)
    cfg = sm.describe_endpoint_config(EndpointConfigName=NAMES.endpoint_config)
    assert cfg["AsyncInferenceConfig"]["OutputConfig"]["NotificationConfig"]["ErrorTopic"].endswith(":SNSMLTopic")
    members = _archive_members(incident_aws)
    assert "code/inference.py" in members and not any("stygig/" in m or m.startswith("config/") for m in members)


def _archive_members(aws) -> list[str]:
    import io
    import tarfile

    body = aws.client("s3").get_object(Bucket=NAMES.bucket, Key=NAMES.archive_key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return tar.getnames()


def _wait_object(s3, uri: str, timeout: float) -> bytes:
    """The object at ``uri`` once it exists (an async result or failure object); fails past ``timeout``."""
    bucket, key = uri[5:].split("/", 1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            assert time.monotonic() < deadline, f"no object at {uri} within {timeout:.0f} s"
            time.sleep(1)


def test_fixed_archive_answers_the_seed_request(incident_aws):
    s3, sm, sqs = (incident_aws.client(n) for n in ("s3", "sagemaker", "sqs"))
    _, fixed = build_stygig("fixed")
    key = "model-artifacts/test-fixed/model.tar.gz"
    s3.put_object(Bucket=NAMES.bucket, Key=key, Body=fixed.read_bytes())
    model = sm.describe_model(ModelName=NAMES.model)
    sm.create_model(ModelName="test-stygig-fixed", ExecutionRoleArn=model["ExecutionRoleArn"],
                    PrimaryContainer={**{k: v for k, v in model["PrimaryContainer"].items() if k != "ModelDataUrl"},
                                      "ModelDataUrl": f"s3://{NAMES.bucket}/{key}"})
    cfg = sm.describe_endpoint_config(EndpointConfigName=NAMES.endpoint_config)
    sm.create_endpoint_config(EndpointConfigName="test-stygig-fixed",
                              ProductionVariants=[dict(cfg["ProductionVariants"][0], ModelName="test-stygig-fixed")],
                              AsyncInferenceConfig=cfg["AsyncInferenceConfig"])
    sm.create_endpoint(EndpointName="test-stygig-fixed", EndpointConfigName="test-stygig-fixed")
    deadline = time.monotonic() + 180
    while sm.describe_endpoint(EndpointName="test-stygig-fixed")["EndpointStatus"] == "Creating":
        assert time.monotonic() < deadline
        time.sleep(1)
    rt = incident_aws.client("sagemaker-runtime")
    req = f"{NAMES.output_prefix}-inputs/q.json"
    s3.put_object(Bucket=NAMES.bucket, Key=req, Body=json.dumps({"s3_uri": QUERY, "top_k": 5}).encode())
    r = rt.invoke_endpoint_async(EndpointName="test-stygig-fixed", InputLocation=f"s3://{NAMES.bucket}/{req}",
                                 ContentType="application/json", InvocationTimeoutSeconds=120)
    result = json.loads(_wait_object(s3, r["OutputLocation"], 150))
    items = result["recommendations"]
    assert 1 <= len(items) <= 5
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    for item in items:
        assert item["category"] != "upperwear"
        s3.head_object(Bucket=NAMES.bucket, Key=item["key"])  # every recommended key exists
    # Bad input: a missing object is a client error in the failure object, and the worker stays up.
    s3.put_object(Bucket=NAMES.bucket, Key="q/missing.json",
                  Body=json.dumps({"s3_uri": f"s3://{NAMES.bucket}/train/nope.png"}).encode())
    bad = rt.invoke_endpoint_async(EndpointName="test-stygig-fixed", InputLocation=f"s3://{NAMES.bucket}/q/missing.json",
                                   ContentType="application/json", InvocationTimeoutSeconds=60)
    text = _wait_object(s3, bad["FailureLocation"], 60).decode()
    assert "ClientError" in text and "(400)" in text and "nope.png" in text
    again = rt.invoke_endpoint(EndpointName="test-stygig-fixed", ContentType="application/json",
                               Body=json.dumps({"s3_uri": QUERY, "top_k": 3}).encode())
    assert len(json.loads(again["Body"].read())["recommendations"]) == 3
    sm.delete_endpoint(EndpointName="test-stygig-fixed")
