"""The local async runtime's internal queue (bounded concurrency, backlog), and the backlog guard of cleanup
reading the AWS/SageMaker backlog metrics from (moto's) CloudWatch."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from endpoint_runbook import cleanup
from endpoint_runbook.endpoint import backlog
from endpoint_runbook.errors import CheckFailed
from endpoint_runbook.local.runtime import EndpointQueue
from endpoint_runbook.steps import cleanup as cleanup_step
from tinymodel import IMAGE


def test_the_queue_runs_at_most_its_limit_and_counts_waiting_and_running_requests():
    gate, running, peak = threading.Event(), [], [0]
    lock = threading.Lock()

    def work(job):
        with lock:
            running.append(job["i"])
            peak[0] = max(peak[0], len(running))
        gate.wait(10)
        with lock:
            running.remove(job["i"])

    q = EndpointQueue("ep", work)
    for i in range(6):
        q.submit({"i": i}, limit=2, instances=1)
    deadline = time.monotonic() + 5
    while q.active < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert q.active == 2 and q.backlog == 6  # two processed, four waiting: SageMaker counts both
    gate.set()
    deadline = time.monotonic() + 10
    while q.backlog and time.monotonic() < deadline:
        time.sleep(0.01)
    assert q.backlog == 0 and peak[0] == 2 and q.workers == 0


def _put_backlog(cw, endpoint: str, size: float, instances: int = 1) -> None:
    dims = [{"Name": "EndpointName", "Value": endpoint}]
    cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
        {"MetricName": "ApproximateBacklogSize", "Dimensions": dims, "Value": size, "Unit": "Count"},
        {"MetricName": "ApproximateBacklogSizePerInstance", "Dimensions": dims, "Value": size / max(1, instances),
         "Unit": "Count"},
        {"MetricName": "HasBacklogWithoutCapacity", "Dimensions": dims, "Value": 0.0 if instances else 1.0,
         "Unit": "Count"}])


def _endpoint(sm, name: str) -> None:
    model = f"{name}-m"
    sm.create_model(ModelName=model, ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                    PrimaryContainer={"Image": IMAGE})
    sm.create_endpoint_config(EndpointConfigName=f"{name}-c", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": f"s3://{name}-out/results/"}})  # only async queues
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-c")


def test_read_backlog_and_the_diagnose_finding(aws):
    name = f"bq-{uuid.uuid4().hex[:6]}"
    cw = aws.client("cloudwatch")
    assert backlog.read_backlog(cw, name).requests == 0
    assert backlog.report(cw, name)[1] == []
    _put_backlog(cw, name, 5, instances=0)
    b = backlog.read_backlog(cw, name)
    assert b.requests == 5 and b.without_capacity is True
    info, findings = backlog.report(cw, name)
    assert info["requests"] == 5 and [f.code for f in findings] == ["queued-requests"]


def test_cleanup_refuses_an_endpoint_with_queued_requests_and_says_how_many(aws, tmp_path):
    name = f"bq-{uuid.uuid4().hex[:6]}"
    _endpoint(aws.client("sagemaker"), name)
    _put_backlog(aws.client("cloudwatch"), name, 7)
    p = cleanup.plan(aws, name, recent_minutes=0, run_dir=str(tmp_path))
    ep = next(i for i in p.items if i.kind == "endpoint")
    assert ep.action == "refuse" and ep.code == "queued-requests"
    assert "7 queued request(s) would be lost" in ep.reason
    with pytest.raises(CheckFailed) as e:
        cleanup_step.run(aws, run_dir=str(tmp_path), endpoint_name=name, confirm=name, dry_run=False, recent_minutes=0)
    assert e.value.code == "cleanup-blocked"
    assert aws.client("sagemaker").describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
