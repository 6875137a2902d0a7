"""The fleet scan on the local stack at scale: 1,000 endpoints (no container each) in 4 regions and 2 accounts
reached by assumed roles; 10 crash-looping while InService and 5 Failed, with real published logs; the rest
healthy. Also: a region and an account that refuse, the per-endpoint bounds, the 00_scan notebook run with the
string parameters a notebook job passes, and the scheduled pipeline's definition."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import papermill
import pytest
from endpoint_runbook.aws import AwsParams
from endpoint_runbook.cli import main
from endpoint_runbook.fleet import ScanBounds, read_report, scan
from endpoint_runbook.local import faults
from endpoint_runbook.local.scenarios import Fleet, seed_fleet
from endpoint_runbook.params import NOTEBOOKS, SCAN, notebook_values
from stacks import running_stack

ROOT = Path(__file__).resolve().parents[1]
FLEET = Fleet()


@pytest.fixture(scope="module")
def fleet_stack(tmp_path_factory):
    with running_stack(tmp_path_factory, "fleet-stack", startup_timeout=60) as info:
        seeded = seed_fleet(info.url, fleet=FLEET)
        yield info, seeded


@pytest.fixture()
def no_faults(fleet_stack):
    yield
    faults.clear_faults(fleet_stack[0].url)


def _params(url: str) -> AwsParams:
    return AwsParams(region="us-east-1", endpoint_url=url, max_attempts=3)


def test_scan_finds_exactly_the_broken_ones_silent_first(fleet_stack, tmp_path, monkeypatch):
    """The acceptance: ``endpoint-runbook scan`` over the 1,000 finds exactly the 15, the 10 InService ones first,
    each with the cause its real log shows."""
    info, seeded = fleet_stack
    monkeypatch.setenv("AWS_ENDPOINT_URL", info.url)
    args = ["scan", "--regions", ",".join(FLEET.regions), "--report-dir", str(tmp_path), "--quiet"]
    for role in FLEET.role_arns:
        args += ["--role-arn", role]
    assert main(args) == 1  # broken endpoints found
    result = read_report(tmp_path)
    assert not result.failures
    assert len(result.endpoints) == FLEET.endpoints == 1000
    assert sorted(result.accounts) == sorted(FLEET.accounts) and result.regions == list(FLEET.regions)
    expected = {b["endpoint"]: b for b in seeded["broken"]}
    assert len(expected) == FLEET.crash_looping + FLEET.failed == 15
    broken = result.broken
    assert {e.name for e in broken} == set(expected)
    # the silent ones (InService, crash-looping) first, then the Failed ones
    assert [e.status for e in broken] == ["InService"] * 10 + ["Failed"] * 5
    assert {e.severity for e in broken[:10]} == {"critical"} and {e.severity for e in broken[10:]} == {"error"}
    for e in broken:
        want = expected[e.name]
        assert (e.account, e.region, e.kind) == (want["account"], want["region"], want["kind"])
        assert e.log["cause"] == want["expected_cause"], (e.name, want["log"])
        assert want["expected_cause"] in e.cause and e.cause.startswith(("InService", "Failed"))
        assert e.diagnose == {"endpoint_name": e.name, "region": e.region,
                              "role_arn": FLEET.role_arn(e.account), "endpoint_url": info.url}
        assert f"-p endpoint_name {e.name}" in e.command
    # the crash loop of our own TorchServe container says so; all three kinds are among the broken
    assert any(e.code == "in-service-crash-loop" for e in broken[:10])
    assert {e.kind for e in broken} == {"real-time", "async", "serverless"}
    assert result.counts["healthy"] == 985
    assert all(e.log["events_read"] > 0 for e in result.endpoints)  # every log group was really read
    # the CSV: one row per endpoint, in rank order
    rows = list(csv.DictReader(open(tmp_path / "scan.csv")))
    assert len(rows) == 1000 and [r["endpoint"] for r in rows[:15]] == [e.name for e in broken]
    assert rows[0]["diagnose_command"] and not rows[-1]["diagnose_command"]
    # bounded and batched: metrics for 125 endpoints a scope in GetMetricData calls, never one per endpoint
    assert result.api_calls["cloudwatch:GetMetricData"] <= 4 * 8
    assert result.api_calls["sagemaker:DescribeEndpoint"] == 1000


def test_a_refusing_region_is_reported_and_the_rest_scanned(fleet_stack, no_faults):
    info, seeded = fleet_stack
    faults.set_faults(info.url, [{"match": {"service": "sagemaker", "region": "eu-west-1"},
                                  "fault": "access-denied"}])
    result = scan(_params(info.url), regions=list(FLEET.regions), role_arns=FLEET.role_arns,
                  name_contains="fleet-01")  # fleet-0100 … fleet-0199: every account and region has some
    fired = faults.fault_counts(info.url)["rules"][0]["injected"]
    assert fired >= 2  # ListEndpoints refused in eu-west-1, in each account
    assert [(f.account, f.region, f.code) for f in result.failures] == [
        (a, "eu-west-1", "AccessDeniedException") for a in sorted(FLEET.accounts)]
    assert all("ListEndpoints" in f.what and "not authorized" in f.message for f in result.failures)
    assert len(result.endpoints) == 75 and "eu-west-1" not in {e.region for e in result.endpoints}
    want = {b["endpoint"] for b in seeded["broken"] if b["region"] != "eu-west-1" and b["endpoint"] < "fleet-02"
            and b["endpoint"] >= "fleet-01"}
    assert want and {e.name for e in result.broken} == want


def test_an_account_whose_role_cannot_be_assumed_is_reported(fleet_stack, no_faults):
    info, _ = fleet_stack
    faults.set_faults(info.url, [{"match": {"service": "sts", "operation": "AssumeRole"}, "fault": "access-denied",
                                  "max": 1}])
    result = scan(_params(info.url), regions=["us-east-1"], role_arns=FLEET.role_arns, name_contains="fleet-00")
    (failure,) = result.failures
    assert (failure.account, failure.region, failure.code) == (FLEET.accounts[0], None, "assume-role-failed")
    assert "AccessDenied" in failure.message
    assert result.endpoints and {e.account for e in result.endpoints} == {FLEET.accounts[1]}


def test_log_reads_are_bounded_per_endpoint(fleet_stack, no_faults):
    info, seeded = fleet_stack
    loop = next(b for b in seeded["broken"] if b["log"].endswith("crashloop-tinypkg.log"))
    role = FLEET.role_arn(loop["account"])
    result = scan(_params(info.url), regions=[loop["region"]], role_arns=[role], name_contains=loop["endpoint"],
                  bounds=ScanBounds(max_log_bytes=4096))
    (row,) = [e for e in result.endpoints if e.name == loop["endpoint"]]
    assert row.log["truncated"] and 0 < row.log["bytes_read"] <= 4096
    full = scan(_params(info.url), regions=[loop["region"]], role_arns=[role], name_contains=loop["endpoint"],
                bounds=ScanBounds(max_log_events=50))
    (row,) = [e for e in full.endpoints if e.name == loop["endpoint"]]
    assert row.log["events_read"] == 50 and row.log["truncated"] and row.log["bytes_read"] > 4096
    with pytest.raises(Exception, match="concurrency must be positive"):
        scan(_params(info.url), bounds=ScanBounds(concurrency=0))


def test_scan_notebook_takes_a_notebook_jobs_string_parameters(fleet_stack, tmp_path):
    """00_scan run as a SageMaker notebook job runs it: every parameter a string (here exactly those the scheduled
    pipeline passes), converted by the schema in the notebook's first cell."""
    from endpoint_runbook.fleet.schedule import ScheduledScan, notebook_job_parameters

    info, seeded = fleet_stack
    job = ScheduledScan(pipeline_name="p", role="arn:aws:iam::123456789012:role/job", s3_root="s3://b/p",
                        regions=["us-east-1", "ap-south-1"], role_arns=FLEET.role_arns, window_minutes=90)
    values = notebook_job_parameters(job) | {"report_dir": str(tmp_path / "report"), "endpoint_url": info.url,
                                             "name_contains": "fleet-0", "concurrency": "4", "max_attempts": "3"}
    values["name_contains"] = "fleet-02"  # a hundred of them: fleet-0200 … fleet-0299
    assert all(isinstance(v, str) for v in values.values())
    typed = notebook_values(SCAN, values)
    assert typed["regions"] == ["us-east-1", "ap-south-1"] and typed["role_arns"] == FLEET.role_arns
    assert typed["log_window_minutes"] == 90 and typed["external_id"] is None and typed["concurrency"] == 4
    out = tmp_path / NOTEBOOKS[SCAN]
    papermill.execute_notebook(str(ROOT / "notebooks" / NOTEBOOKS[SCAN]), str(out), parameters=values,
                               kernel_name="endpoint-runbook", cwd=str(tmp_path), progress_bar=False)
    result = read_report(tmp_path / "report")
    assert result.bounds["log_window_minutes"] == 90 and len(result.endpoints) == 50
    assert {e.name for e in result.broken} == {b["endpoint"] for b in seeded["broken"] if b["region"] in (
        "us-east-1", "ap-south-1") and b["endpoint"].startswith("fleet-02")}
    text = out.read_text()
    assert "Broken endpoints, worst first" in text and result.broken[0].name in text and "AKIA" not in text
    # a string that does not convert stops the notebook at the first cell, naming the key
    with pytest.raises(papermill.PapermillExecutionError, match="concurrency must be int"):
        papermill.execute_notebook(str(ROOT / "notebooks" / NOTEBOOKS[SCAN]), str(tmp_path / "bad.ipynb"),
                                   parameters=values | {"concurrency": "lots"}, kernel_name="endpoint-runbook",
                                   cwd=str(tmp_path), progress_bar=False)


def test_schedule_scan_writes_a_pipeline_with_a_notebook_job_step(fleet_stack, tmp_path, monkeypatch):
    """``endpoint-runbook schedule scan`` builds the pipeline definition with the SageMaker SDK (offline: the
    step's inputs go to the local stack's S3) and, with --create, creates the pipeline and its schedule."""
    import boto3

    info, _ = fleet_stack
    monkeypatch.setenv("AWS_ENDPOINT_URL", info.url)
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=info.url)
    s3.create_bucket(Bucket="scan-jobs")
    out = tmp_path / "pipeline.json"
    role = "arn:aws:iam::123456789012:role/NotebookJobs"
    args = ["schedule", "scan", "--role", role, "--s3-root", "s3://scan-jobs/scheduled", "--region", "us-east-1",
            "--regions", "us-east-1,eu-west-1", "--role-arn", FLEET.role_arns[0], "--schedule", "rate(6 hours)",
            "--out", str(out), "--create"]
    assert main(args) == 0
    definition = json.loads(out.read_text())
    (step,) = definition["Steps"]
    assert step["Type"] == "Training" and step["Name"] == "scan"  # a notebook job is a training job underneath
    a = step["Arguments"]
    env = a["Environment"]
    assert env["SM_KERNEL_NAME"] == "endpoint-runbook" and env["SM_INPUT_NOTEBOOK_NAME"] == "00_scan.ipynb"
    assert env["SM_INIT_SCRIPT"] == "notebook-job-init.sh" and a["RoleArn"] == role
    assert "us-east-1" in a["AlgorithmSpecification"]["TrainingImage"]
    params = a["HyperParameters"]
    assert all(isinstance(v, str) for v in params.values())
    assert notebook_values(SCAN, params)["regions"] == ["us-east-1", "eu-west-1"]
    assert notebook_values(SCAN, params)["role_arns"] == [FLEET.role_arns[0]]
    # the step's inputs really are in S3: the notebook, the init script and the runbook's wheel
    prefix = a["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].removeprefix("s3://scan-jobs/")
    keys = {o["Key"].rsplit("/", 1)[-1] for o in s3.list_objects_v2(Bucket="scan-jobs", Prefix=prefix)["Contents"]}
    assert {"00_scan.ipynb", "notebook-job-init.sh"} <= keys and any(k.endswith(".whl") for k in keys)
    schedule = json.loads((tmp_path / "pipeline.schedule.json").read_text())
    assert schedule["expression"] == "rate(6 hours)"
    # --create: the pipeline (with this definition) and its EventBridge schedule exist
    sm = boto3.client("sagemaker", region_name="us-east-1", endpoint_url=info.url)
    got = json.loads(sm.describe_pipeline(PipelineName="endpoint-runbook-scan")["PipelineDefinition"])
    assert got["Steps"][0]["Arguments"]["HyperParameters"] == params
    sched = boto3.client("scheduler", region_name="us-east-1", endpoint_url=info.url).get_schedule(
        Name=schedule["name"])
    assert sched["ScheduleExpression"] == "rate(6 hours)" and "endpoint-runbook-scan" in sched["Target"]["Arn"]


def test_schedule_refuses_bad_input_before_anything_is_sent(tmp_path):
    assert main(["schedule", "scan", "--role", "NotAnArn", "--s3-root", "s3://b/p", "--out", str(tmp_path / "p")]) == 2
    assert main(["schedule", "scan", "--role", "arn:aws:iam::1:role/r", "--s3-root", "s3://b/p",
                 "--schedule", "daily", "--out", str(tmp_path / "p")]) == 2
    assert not (tmp_path / "p").exists()


def test_without_roles_the_callers_own_account_is_scanned(aws, moto_url):
    """No role ARNs: the account of the credentials found as usual (plain moto here), its endpoint read and judged
    from a real crash loop (our own TorchServe container's lines) written into its log group."""
    sm, logs_client = aws.client("sagemaker"), aws.client("logs")
    sm.create_model(ModelName="scan-own", ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                    PrimaryContainer={"Image": "763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"})
    sm.create_endpoint_config(EndpointConfigName="scan-own", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "scan-own", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName="scan-own-ep", EndpointConfigName="scan-own")
    group = "/aws/sagemaker/Endpoints/scan-own-ep"
    logs_client.create_log_group(logGroupName=group)
    logs_client.create_log_stream(logGroupName=group, logStreamName="AllTraffic/i-0123456789abcdef0")
    lines = (ROOT / "tests" / "data" / "logs" / "crashloop-tinypkg.log").read_text().splitlines()
    now = int(time.time() * 1000) - 60_000
    logs_client.put_log_events(logGroupName=group, logStreamName="AllTraffic/i-0123456789abcdef0",
                               logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)])
    result = scan(AwsParams(region="ap-south-1", endpoint_url=moto_url, max_attempts=2), name_contains="scan-own")
    assert result.accounts == ["123456789012"] and result.regions == ["ap-south-1"] and not result.failures
    (row,) = result.endpoints
    assert (row.name, row.code, row.role_arn) == ("scan-own-ep", "in-service-crash-loop", None)
    assert row.log["cause"] == "missing-module" and row.log["counts"]["missing-module"] >= 1
    assert "role_arn" not in row.diagnose and result.api_calls["sts:GetCallerIdentity"] == 1

def test_a_backlog_without_capacity_and_failed_requests_are_warnings(fleet_stack):
    """The metrics side, read in batches: an async endpoint with requests queued and no instance, a real-time one
    whose requests failed in the window. (A region no other test scans: the fleet's numbers stay as seeded.)"""
    import boto3

    info, _ = fleet_stack
    region, role = "sa-east-1", FLEET.role_arns[0]
    creds = boto3.client("sts", region_name=region, endpoint_url=info.url).assume_role(
        RoleArn=role, RoleSessionName="metrics-test")["Credentials"]
    session = boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                    aws_session_token=creds["SessionToken"], region_name=region)
    sm, cw = (session.client(s, endpoint_url=info.url) for s in ("sagemaker", "cloudwatch"))
    sm.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::111111111111:role/r",
                    PrimaryContainer={"Image": "763104351884.dkr.ecr.sa-east-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"})
    variant = {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    sm.create_endpoint_config(EndpointConfigName="queued", ProductionVariants=[variant],
                              AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": "s3://b/out/"}})
    sm.create_endpoint_config(EndpointConfigName="erring", ProductionVariants=[variant])
    for name in ("queued", "erring", "quiet"):
        sm.create_endpoint(EndpointName=name, EndpointConfigName="erring" if name != "queued" else "queued",
                           Tags=[{"Key": "local-stack:state", "Value": "InService"}])
    ep = [{"Name": "EndpointName", "Value": "queued"}]
    cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
        {"MetricName": "ApproximateBacklogSize", "Dimensions": ep, "Value": 7.0},
        {"MetricName": "HasBacklogWithoutCapacity", "Dimensions": ep, "Value": 1.0}])
    cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
        {"MetricName": "InvocationModelErrors", "Value": 5.0, "Dimensions": [
            {"Name": "EndpointName", "Value": "erring"}, {"Name": "VariantName", "Value": "AllTraffic"}]}])
    result = scan(_params(info.url), regions=[region], role_arns=[role])
    by = {e.name: e for e in result.endpoints}
    assert [e.name for e in result.broken] == ["erring", "queued"]  # failing requests now, before queued ones
    assert (by["erring"].code, by["erring"].severity, by["erring"].errors) == (
        "invocation-errors", "warning", {"InvocationModelErrors": 5.0})
    assert (by["queued"].code, by["queued"].severity, by["queued"].queued) == ("backlog-without-capacity", "warning", 7)
    assert by["queued"].backlog["without_capacity"] is True and "7 queued request(s)" in by["queued"].cause
    assert by["quiet"].code == "healthy" and by["quiet"].log["cause"] == "no-logs"  # never logged: nothing wrong seen
    assert result.api_calls["cloudwatch:GetMetricData"] == 2  # the backlog's window and the errors' window

@pytest.mark.slow
def test_the_incidents_endpoint_is_found_and_ranked_first(tmp_path_factory):
    """The stygig-incident scenario's endpoint (a real container, crash-looping while InService, the users' async
    requests failed during the outage) among a small fleet with canned crash loops of its own: found, and first
    (the one failing requests now)."""
    from endpoint_runbook.local.scenarios import StygigIncident

    small = Fleet(endpoints=40, regions=("eu-west-1",), accounts=("111111111111",), crash_looping=3, failed=2,
                  prefix="small")
    with running_stack(tmp_path_factory, "fleet-incident", startup_timeout=180, scenario="stygig-incident") as info:
        seeded = seed_fleet(info.url, fleet=small)
        own = "arn:aws:iam::123456789012:role/EndpointScanner"  # the incident's account (moto's default one)
        result = scan(AwsParams(region="ap-south-1", endpoint_url=info.url), regions=["ap-south-1", "eu-west-1"],
                      role_arns=[own, *small.role_arns], bounds=ScanBounds(log_window_minutes=240))
    incident = StygigIncident().endpoint
    first = result.broken[0]
    assert (first.name, first.account, first.region) == (incident, "123456789012", "ap-south-1")
    assert first.code == "in-service-crash-loop" and first.kind == "async" and first.status == "InService"
    assert first.log["cause"] == "missing-module" and "'stygig'" in first.cause
    assert first.errors.get("InvocationModelErrors", 0) >= 1  # the outage's failed requests
    assert {e.name for e in result.broken} == {incident} | {b["endpoint"] for b in seeded["broken"]}
    assert [e.severity for e in result.broken] == ["critical"] * 4 + ["error"] * 2
