"""Issue 17's acceptance on a local stack with a bandwidth limit: a model fixed without moving its weights
through this machine — an archive spliced server-side, an uncompressed (prefix) model copied inside S3 — is then
deployed in place and serves the model's real answer (async and sync), weights included.

Small weights by default (a few MiB); the acceptance's own size is one variable away:

    ENDPOINT_RUNBOOK_ACCEPTANCE_MIB=1024 ./scripts/test.sh tests/test_large_models_acceptance.py
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from tinymodel import FIRST_BYTE, TINYPKG, World, prefix_model, tar_gz

pytestmark = pytest.mark.slow

MiB = 1 << 20
WEIGHTS_MIB = int(os.environ.get("ENDPOINT_RUNBOOK_ACCEPTANCE_MIB", "8"))
LINK = 32 * MiB  # bytes/s per connection between this machine and S3 (the stack's own fetches are not limited)


@pytest.fixture(scope="module")
def limited_aws(tmp_path_factory):
    from endpoint_runbook.aws import Aws, AwsParams
    from stacks import running_stack

    with running_stack(tmp_path_factory, "limited-stack", startup_timeout=180, s3_bandwidth=LINK) as info:
        yield Aws(AwsParams(region="ap-south-1", endpoint_url=info.url, max_attempts=3))


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A checkout that holds the package the model lacks (diagnose's source root)."""
    pkg = tmp_path / "repo" / "src" / "tinypkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_bytes(TINYPKG)
    return tmp_path / "repo"


def _deploy_and_check_answer(aws, world_put, run_dir: str, endpoint: str) -> dict:
    """Step 3 in place on the broken endpoint, then a sync request; returns the deploy record's model."""
    from endpoint_runbook.steps import deploy

    iam = aws.client("iam")
    try:  # the models' execution role (tinymodel's), which deploy's preflight looks up
        iam.create_role(RoleName="tiny", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    smoke = world_put("in/x.json", b'{"x": [1, 2, 3]}')
    r = deploy.run(aws, run_dir=run_dir, smoke_input=smoke, smoke_content_type="application/json",
                   poll_seconds=1.0, wait_timeout=300, smoke_timeout=180, progress=lambda _m: None)
    assert r.ok and r.mode == "in-place" and r.endpoint_name == endpoint, r.error
    s3 = aws.client("s3")
    bucket, key = r.smoke.output_location[5:].split("/", 1)
    # The weights' first byte (7) is model_fn's offset: the answer proves they reached the container.
    assert json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == {"answer": 1 + 4 + 9 + 7}
    rt = aws.client("sagemaker-runtime")
    sync = rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body=b'{"x": [2]}')
    assert json.loads(sync["Body"].read()) == {"answer": 4 + 7}
    return aws.client("sagemaker").describe_model(ModelName=r.model_name)["PrimaryContainer"]


def test_archive_fixed_server_side_then_deployed_and_served(limited_aws, repo, tmp_path):
    from endpoint_runbook.steps import diagnose, rebuild_archive

    world = World(limited_aws)
    weights = bytes([7]) + os.urandom(WEIGHTS_MIB * MiB)
    source = tar_gz({"config.json": b'{"dim": 4}', "code/inference.py": FIRST_BYTE, "weights.bin": weights})
    url = world.put("output/model.tar.gz", source)
    name = f"acc-arc-{world.tag}"
    world.deploy(name, url)
    try:
        assert world.wait_status(name)["EndpointStatus"] == "InService"  # /ping is healthy; the workers die
        run_dir = str(tmp_path / "run")
        d = diagnose.run(limited_aws, run_dir=run_dir, endpoint_name=name, source_roots=[str(repo)])
        assert d.verdict.cause == "missing-module" and d.verdict.fix["packages"] == ["tinypkg"]
        step = rebuild_archive.run(limited_aws, run_dir=run_dir, upload="server-side")
        io = step.io
        assert step.status == "passed" and io["mode"] == "server-side-splice"
        assert io["bytes_uploaded"] <= 0.02 * len(source), io  # the acceptance: ≤ 2 % of the archive uploaded
        assert io["bytes_read"] == len(source)  # read once, to check it and find the splice point
        assert io["bytes_copied_server_side"] + io["bytes_uploaded"] == step.diff["result_bytes"]
        assert io["withheld_bytes"] == len(weights) and io["local_disk_bytes"] < 64 << 10
        container = _deploy_and_check_answer(limited_aws, world.put, run_dir, name)
        assert container["ModelDataUrl"] == step.target_uri and "ModelDataSource" not in container
    finally:
        world.sm.delete_endpoint(EndpointName=name)


def test_prefix_model_fixed_without_downloading_weights_then_deployed_and_served(limited_aws, repo, tmp_path):
    from endpoint_runbook.records import read_record
    from endpoint_runbook.steps import diagnose, rebuild_archive

    weights = bytes([7]) + os.urandom(WEIGHTS_MIB * MiB)
    name, bucket = prefix_model(limited_aws, weights=weights, with_package=False)
    s3, sm = limited_aws.client("s3"), limited_aws.client("sagemaker")

    def world_put(key: str, body: bytes) -> str:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        return f"s3://{bucket}/{key}"

    try:
        # The local stack serves the prefix as the model dir: the broken model crash-loops behind /ping.
        deadline = time.monotonic() + 180
        while (d := sm.describe_endpoint(EndpointName=name))["EndpointStatus"] == "Creating" and \
                time.monotonic() < deadline:
            time.sleep(0.5)
        assert d["EndpointStatus"] == "InService", d
        run_dir = str(tmp_path / "run")
        diag = diagnose.run(limited_aws, run_dir=run_dir, endpoint_name=name, source_roots=[str(repo)])
        assert diag.verdict.cause == "missing-module" and diag.verdict.confidence == "high"
        step = rebuild_archive.run(limited_aws, run_dir=run_dir)  # the prefix and the fix from the diagnosis
        assert step.status == "passed" and step.method == "prefix-copy"
        # No weight byte crossed the link, in diagnose or in the fix: only the code and the small config.
        small = len(FIRST_BYTE) + len(b'{"dim": 4}')
        assert read_record(run_dir, "diagnose")["archive"]["io"]["bytes_withheld"] == len(weights)
        assert read_record(run_dir, "diagnose")["archive"]["io"]["bytes_read"] == len(FIRST_BYTE) + small
        rec = read_record(run_dir, "rebuild_archive")["io"]
        assert rec["bytes_read"] == small and rec["withheld_bytes"] == len(weights)
        assert rec["bytes_uploaded"] == len(TINYPKG) and rec["bytes_copied_server_side"] == small + len(weights)
        container = _deploy_and_check_answer(limited_aws, world_put, run_dir, name)
        assert "ModelDataUrl" not in container
        assert container["ModelDataSource"]["S3DataSource"] == {
            "S3Uri": f"s3://{bucket}/model-fixed/", "S3DataType": "S3Prefix", "CompressionType": "None",
            "ModelAccessConfig": {"AcceptEula": True}}
    finally:
        sm.delete_endpoint(EndpointName=name)
