"""Fix in place on the local stack, on its own stygig-incident stack (the tests change the seed's endpoint):
the scenario's requests sent during the crash loop failed; an update whose new container crashes leaves the
endpoint on its previous config with a FailureReason and deploy stops with the evidence; the in-place fix
serves under the seed's name, the outage's failed requests are replayed and served (never twice); cleanup
keeps the endpoint and releases the superseded config only when asked; rollback restores the previous config.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from endpoint_runbook import records
from endpoint_runbook.aws import Aws, AwsParams
from endpoint_runbook.cli import main as cli_main
from endpoint_runbook.endpoint import inplace
from endpoint_runbook.endpoint.facts import endpoint_facts
from endpoint_runbook.errors import CheckFailed
from endpoint_runbook.local import scenarios, stack
from endpoint_runbook.local.scenarios import StygigIncident, build_stygig
from endpoint_runbook.steps import cleanup as cleanup_step
from endpoint_runbook.steps import deploy, verify

pytestmark = pytest.mark.slow
NAMES = StygigIncident()
INPUT = f"s3://{NAMES.bucket}/train/upperwear/tshirt/upperwear_tshirt100.png"


def _diagnose_record(sm: Any) -> dict[str, Any]:
    """What step 1 records of the endpoint (the facts the in-place deploy copies)."""
    return {"endpoint": endpoint_facts(sm, NAMES.endpoint).to_dict()}


def _with_failing_requirements(archive: bytes) -> bytes:
    """The fixed archive whose code/requirements.txt cannot be installed: the container exits at start-up."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name.lstrip("./") == "code/requirements.txt":
                data = b"--no-index\nendpoint-runbook-no-such-package==0.0.0\n"
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("inplace-stack")
    info = stack.up(port=0, state_dir=state_dir, startup_timeout=180)
    try:
        seeded = scenarios.seed("stygig-incident", info.url)
        aws = Aws(AwsParams(region="ap-south-1", endpoint_url=info.url, max_attempts=3))
        s3, sm = aws.client("s3"), aws.client("sagemaker")
        _, fixed = build_stygig("fixed")
        data = fixed.read_bytes()
        s3.put_object(Bucket=NAMES.bucket, Key="model-artifacts/inplace/model.tar.gz", Body=data)
        s3.put_object(Bucket=NAMES.bucket, Key="model-artifacts/inplace-crash/model.tar.gz",
                      Body=_with_failing_requirements(data))
        diag = _diagnose_record(sm)
        yield {"url": info.url, "aws": aws, "seeded": seeded, "diag": diag, "root": tmp_path_factory.mktemp("runs"),
               "outage_ids": seeded["outage_failures"].split(", ")}
    finally:
        stack.down(state_dir)


def _run_dir(world: dict[str, Any], name: str, archive_key: str) -> str:
    run_dir = world["root"] / name
    records.write_record(run_dir, "diagnose", world["diag"])
    records.write_record(run_dir, "rebuild_archive", {"target_uri": f"s3://{NAMES.bucket}/{archive_key}"})
    return str(run_dir)


def _params(run_dir: str, prefix: str) -> dict[str, Any]:
    return {"run_dir": run_dir, "name_prefix": prefix, "smoke_input": INPUT, "poll_seconds": 1.0,
            "wait_timeout": 300, "smoke_timeout": 180, "progress": lambda _m: None}


def test_the_outage_left_failures_and_backlog_metrics(world):
    aws = world["aws"]
    assert len(world["outage_ids"]) == NAMES.outage_requests
    s3 = aws.client("s3")
    for iid in world["outage_ids"]:
        body = s3.get_object(Bucket=NAMES.bucket, Key=f"{NAMES.failure_prefix}/{iid}-error.out")["Body"].read()
        assert b"timed out" in body
    now = dt.datetime.now(dt.timezone.utc)
    points = aws.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName="ApproximateBacklogSize", StartTime=now - dt.timedelta(minutes=30),
        EndTime=now + dt.timedelta(minutes=1), Period=60, Statistics=["Maximum"],
        Dimensions=[{"Name": "EndpointName", "Value": NAMES.endpoint}])["Datapoints"]
    assert max(p["Maximum"] for p in points) >= 1  # the outage's requests sat in the endpoint's queue


def test_an_update_whose_new_container_crashes_stays_on_the_previous_config(world):
    aws, sm = world["aws"], world["aws"].client("sagemaker")
    run_dir = _run_dir(world, "crash", "model-artifacts/inplace-crash/model.tar.gz")
    with pytest.raises(CheckFailed) as e:
        deploy.run(aws, **_params(run_dir, "tcrash"))
    assert e.value.code == "update-failed"
    d = sm.describe_endpoint(EndpointName=NAMES.endpoint)
    assert d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == NAMES.endpoint_config
    assert "did not pass the ping health check" in d["FailureReason"]
    assert "PendingDeploymentSummary" not in d
    rec = records.read_record(run_dir, "deploy")
    assert rec["status"] == "update-failed" and rec["mode"] == "in-place"
    assert rec["previous_endpoint_config_name"] == NAMES.endpoint_config
    assert rec["failure_reason"] == d["FailureReason"] and rec["log_evidence"]["read"]
    # The evidence is the new container's (pip failed), never the old one's crash loop (still logging beside it).
    ev = rec["log_evidence"]
    assert ev["cause"]["code"] == "requirements-install-failed", ev["cause"]
    assert set(rec["update_window"]["old_streams"]) <= {"/".join(s.split("/")[:2]) for s in ev["scope"]["left_out_streams"]}
    assert "No module named 'stygig'" not in str(e.value) and "(logged " in str(e.value)


def test_in_place_fix_serves_on_the_same_name_and_the_outage_is_replayed(world):
    aws, sm = world["aws"], world["aws"].client("sagemaker")
    run_dir = _run_dir(world, "fix", "model-artifacts/inplace/model.tar.gz")
    world["fix_run_dir"] = run_dir
    r = deploy.run(aws, **_params(run_dir, "tfix"))
    assert r.ok and r.mode == "in-place" and r.endpoint_name == NAMES.endpoint
    assert r.actions["endpoint"] == "updated" and r.previous_endpoint_config_name == NAMES.endpoint_config
    assert r.smoke.status == "completed" and r.timings["deploy_to_first_result_s"] > 0
    d = sm.describe_endpoint(EndpointName=NAMES.endpoint)
    assert d["EndpointConfigName"] == r.endpoint_config_name and "FailureReason" not in d
    new, old = (sm.describe_endpoint_config(EndpointConfigName=n) for n in (r.endpoint_config_name, NAMES.endpoint_config))
    assert new["AsyncInferenceConfig"] == old["AsyncInferenceConfig"]
    nv, ov = new["ProductionVariants"][0], old["ProductionVariants"][0]
    assert (nv["VariantName"], nv["InstanceType"], nv["InitialInstanceCount"]) == \
        (ov["VariantName"], ov["InstanceType"], ov["InitialInstanceCount"]) and nv["ModelName"] == r.model_name
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=new["EndpointConfigArn"])["Tags"]}
    assert tags[inplace.TAG_PREVIOUS_CONFIG] == NAMES.endpoint_config

    again = deploy.run(aws, **_params(run_dir, "tfix"))  # idempotent: nothing created, no second update
    assert again.ok and set(again.actions.values()) == {"reused"} and not again.created

    v = verify.run(aws, run_dir=run_dir, inputs=[INPUT], count=0, deadline_seconds=240, replay_failed=True,
                   replay_concurrency=3, progress=lambda _m: None)
    c = v.replay["counts"]
    replayed = {row["original_id"]: row for row in v.replay["rows"]}
    assert set(world["outage_ids"]) <= set(replayed)
    assert all(replayed[i]["status"] == "served" for i in world["outage_ids"]), v.replay["rows"]
    assert c["failed_again"] == 0 and c["served"] == c["replayed"] >= NAMES.outage_requests
    for i in world["outage_ids"]:
        assert aws.client("s3").head_object(Bucket=NAMES.bucket,
                                            Key=f"{NAMES.output_prefix}/{inplace_replay_id(i)}.out")
    ledger = json.loads((Path(run_dir) / "replay-ledger.json").read_text())
    assert all(ledger["entries"][i]["status"] == "served" for i in world["outage_ids"])

    rerun = verify.run(aws, run_dir=run_dir, inputs=[INPUT], count=0, deadline_seconds=120, replay_failed=True,
                       progress=lambda _m: None)
    assert rerun.replay["counts"]["replayed"] == 0  # never twice
    assert rerun.replay["counts"]["already_served"] >= NAMES.outage_requests


def inplace_replay_id(original: str) -> str:
    from endpoint_runbook.invocation.replay import replay_id

    return replay_id(original)


def test_cleanup_keeps_the_endpoint_and_releases_the_superseded_config_only_when_asked(world):
    aws, run_dir = world["aws"], world["fix_run_dir"]
    held = cleanup_step.run(aws, run_dir=run_dir, dry_run=True, recent_minutes=0)
    by = {(i.kind, i.name): i for i in held.plan.items}
    assert by[("endpoint", NAMES.endpoint)].code == "fixed-in-place"
    assert by[("endpoint-config", NAMES.endpoint_config)].code == "rollback-target"
    assert by[("model", NAMES.model)].code == "rollback-target"
    released = cleanup_step.run(aws, run_dir=run_dir, dry_run=True, recent_minutes=0, release_rollback=True)
    by = {(i.kind, i.name): i for i in released.plan.items}
    assert by[("endpoint", NAMES.endpoint)].action == "keep"
    assert by[("endpoint-config", NAMES.endpoint_config)].action == "delete"
    assert by[("model", NAMES.model)].action == "delete"
    assert not [i for i in released.plan.items if i.action == "delete" and i.kind == "endpoint"]


def test_rollback_restores_the_previous_config(world, monkeypatch):
    sm, run_dir = world["aws"].client("sagemaker"), world["fix_run_dir"]
    fixed_config = sm.describe_endpoint(EndpointName=NAMES.endpoint)["EndpointConfigName"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", world["url"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert cli_main(["rollback", NAMES.endpoint, "--run-dir", run_dir, "--wait-timeout", "300"]) == 0
    d = sm.describe_endpoint(EndpointName=NAMES.endpoint)
    assert d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == NAMES.endpoint_config
    rec = records.read_record(run_dir, "deploy")
    assert rec["rollback"]["from_config"] == fixed_config and rec["rollback"]["to_config"] == NAMES.endpoint_config
    assert os.environ["AWS_ENDPOINT_URL"] == world["url"]

