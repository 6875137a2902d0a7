"""An instance-based variant's resources on the local stack, as SageMaker's instance has them.

- memory: the instance type's memory (``endpoint.instances``) is the container's limit; a model whose model_fn
  needs more is killed as the kernel kills it (SIGKILL), and serves on a type large enough;
- ``ModelDataDownloadTimeoutInSeconds``: the model data must be downloaded (at the stack's in-region bandwidth) and
  extracted within it, else a create fails and an update leaves the endpoint on its previous config;
- the fields' API ranges, and no ``VolumeSizeInGB`` for an instance type with local NVMe storage.

Quick tests of the table and of the download clock first; the container tests are slow.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import botocore.config
import botocore.exceptions
import pytest
from endpoint_runbook.endpoint.instances import (
    INSTANCE_MEMORY_GIB,
    has_accelerator,
    has_nvme,
    memory_gib,
    smallest_with,
)
from endpoint_runbook.local import stack
from endpoint_runbook.local.model_download import DownloadClock, DownloadTimedOut
from stacks import log_text, stack_with_bucket, wait_settled
from tinymodel import IMAGE, INFERENCE, TINYPKG, tar_gz

REGION = "ap-south-1"


# -- the table ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("itype, gib", [("ml.t2.medium", 4), ("ml.t2.large", 8), ("ml.m5.large", 8),
                                        ("ml.m5.xlarge", 16), ("ml.m5.2xlarge", 32), ("ml.m5.4xlarge", 64),
                                        ("ml.c5.large", 4), ("ml.c5.xlarge", 8), ("ml.c5.2xlarge", 16),
                                        ("ml.r5.large", 16), ("ml.r5.xlarge", 32), ("ml.g4dn.xlarge", 16),
                                        ("ml.g5.xlarge", 16), ("ml.g5.2xlarge", 32), ("ml.p3.2xlarge", 61),
                                        ("ml.inf2.xlarge", 16), ("ml.c4.large", 3.75)])
def test_memory_of_known_instance_types(itype, gib):
    assert memory_gib(itype) == gib


def test_unknown_types_have_no_memory():
    assert memory_gib("ml.z9.huge") is None and memory_gib("m5.large") is None and memory_gib("") is None


def test_smallest_type_with_enough_memory_stays_in_the_family_first():
    assert smallest_with(4.5, family_like="ml.t2.medium") == "ml.t2.large"
    assert smallest_with(20, family_like="ml.m5.large") == "ml.m5.2xlarge"
    assert smallest_with(8, family_like="ml.m5.xlarge") == "ml.m5.large"  # smaller fits: the smallest, not a step up
    assert smallest_with(20, family_like="ml.g4dn.xlarge") == "ml.g4dn.2xlarge"


def test_past_its_family_the_smallest_of_the_same_kind():
    # t2 tops out at 32 GiB: the smallest CPU type with 100 GiB is r5.4xlarge (128), not a GPU type
    assert smallest_with(100, family_like="ml.t2.medium") == "ml.r5.4xlarge"
    assert smallest_with(9) == "ml.m5.xlarge"  # ties (c5.2xlarge is 16 too): general purpose first
    assert smallest_with(1000, family_like="ml.g5.xlarge") == "ml.p4d.24xlarge"
    assert smallest_with(10_000, family_like="ml.m5.large") is None
    for need in (1, 7, 33, 100, 500, 700):
        for like in ("ml.t2.medium", "ml.m5.large", "ml.c5.large", "ml.r5.large", None):
            got = smallest_with(need, family_like=like)
            assert got is None or (not has_accelerator(got) and INSTANCE_MEMORY_GIB[got] >= need), (need, like, got)


def test_nvme_families():
    assert has_nvme("ml.g5.xlarge") and has_nvme("ml.g4dn.xlarge") and has_nvme("ml.m5d.large")
    assert not has_nvme("ml.m5.xlarge") and not has_nvme("ml.c5.large") and not has_nvme("ml.inf2.xlarge")


# -- the download clock ------------------------------------------------------------------------------------------
def test_the_clock_stops_a_transfer_whose_next_bytes_are_due_after_the_deadline():
    clock = DownloadClock(timeout=0.3, rate=10_000)
    clock(1000)  # due at 0.1 s: paced, within the deadline
    assert clock.received == 1000
    with pytest.raises(DownloadTimedOut):
        clock(5000)  # due at 0.6 s, past 0.3 s
    assert time.monotonic() >= clock.deadline  # it waited for the deadline, not longer


def test_an_unbounded_clock_is_inactive_and_the_extraction_is_timed_too(tmp_path):
    assert not DownloadClock(None, None).active
    f = tmp_path / "a"
    f.write_bytes(b"x" * 10)
    clock = DownloadClock(timeout=60, rate=None)
    with open(f, "rb") as fh:
        assert clock.reader(fh).read() == b"x" * 10
    clock.deadline = time.monotonic() - 1
    with open(f, "rb") as fh, pytest.raises(DownloadTimedOut):
        clock.reader(fh).read()
    with pytest.raises(ValueError):
        DownloadClock(60, 0)


# -- on the stack (real containers) ------------------------------------------------------------------------------
#: model_fn touches ``HOG_MB`` MiB (the model's environment): more than ml.t2.medium's 4 GiB, well within
#: ml.m5.large's 8 GiB with TorchServe's frontend beside it.
HOG_MODEL = INFERENCE.replace(b"import json\n", b"import json\nimport os\n", 1).replace(
    b'    return {"offset": 100}',
    b'    hog = b"\\x01" * (int(os.environ.get("HOG_MB", "0")) * 2**20)  # every page written\n'
    b'    return {"offset": 100, "hog": len(hog)}')
assert b"HOG_MB" in HOG_MODEL
HOG_MB = 4608  # 4.5 GiB
BANDWIDTH = 50_000  # bytes/s from S3 to an instance: 3.5 MB take 70 s, past the API's minimum timeout of 60 s


@pytest.fixture(scope="module")
def res(tmp_path_factory):
    with stack_with_bucket(tmp_path_factory, "resources-stack", region=REGION, prefix="res", startup_timeout=180,
                           model_download_bandwidth=BANDWIDTH) as res:
        yield res


def _model(res, name: str, archive: bytes, env: dict[str, str] | None = None) -> None:
    key = f"{name}/model.tar.gz"
    res["c"]["s3"].put_object(Bucket=res["bucket"], Key=key, Body=archive)
    res["c"]["sagemaker"].create_model(
        ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/tiny", PrimaryContainer={
            "Image": IMAGE, "ModelDataUrl": f"s3://{res['bucket']}/{key}",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_MODEL_SERVER_WORKERS": "1", **(env or {})}})


def _config(res, name: str, model: str, instance_type: str = "ml.m5.large", **fields) -> None:
    res["c"]["sagemaker"].create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InstanceType": instance_type, "InitialInstanceCount": 1,
        **fields}])


def _wait(res, name: str, timeout: float = 240) -> dict:
    return wait_settled(res["c"]["sagemaker"], name, timeout)


def _container(res, name: str) -> dict | None:
    return next((c for c in stack.status(res["info"].state_dir).containers if c["endpoint"] == name), None)


@pytest.mark.slow
def test_the_instance_fields_api_ranges_and_no_volume_size_on_nvme_types(res):
    _model(res, f"rng-{res['tag']}", tar_gz({"code/inference.py": INFERENCE}))
    for fields, word in (({"ModelDataDownloadTimeoutInSeconds": 4000}, "modelDataDownloadTimeoutInSeconds"),
                         ({"VolumeSizeInGB": 1024}, "volumeSizeInGB"),
                         ({"InstanceType": "ml.g5.xlarge", "VolumeSizeInGB": 100}, "NVMe")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            _config(res, f"rng-{uuid.uuid4().hex[:6]}", f"rng-{res['tag']}", **fields)
        assert e.value.response["Error"]["Code"] == "ValidationException" and word in str(e.value), str(e.value)
    _config(res, f"rng-ok-{res['tag']}", f"rng-{res['tag']}", ModelDataDownloadTimeoutInSeconds=600,
            VolumeSizeInGB=30)  # in range, on an EBS-backed type: accepted


@pytest.mark.slow
def test_a_model_past_its_instance_types_memory_is_killed_and_serves_on_a_larger_type(res):
    sm, name = res["c"]["sagemaker"], f"hog-{res['tag']}"
    _model(res, name, tar_gz({"code/inference.py": HOG_MODEL, "code/tinypkg/__init__.py": TINYPKG}),
           {"HOG_MB": str(HOG_MB)})
    small, large = f"{name}-t2medium", f"{name}-m5large"
    _config(res, small, name, "ml.t2.medium")
    _config(res, large, name, "ml.m5.large")
    # ml.t2.medium (4 GiB): model_fn's 4.5 GiB cannot fit; the biggest process (the worker) is killed
    sm.create_endpoint(EndpointName=small, EndpointConfigName=small)
    group = f"/aws/sagemaker/Endpoints/{small}"
    deadline, text = time.monotonic() + 180, ""
    while time.monotonic() < deadline:
        text = log_text(res["c"]["logs"], group)
        c = _container(res, small)
        if "reached its memory limit (4096 MB" in text and c and c["oom_kills"] >= 1:
            break
        time.sleep(1)
    c = _container(res, small)
    assert c and c["instance_type"] == "ml.t2.medium" and c["memory_limit_mb"] == 4096 and c["oom_kills"] >= 1, c
    assert "[local stack] instance ml.t2.medium: memory limit 4096 MB" in text, text[-3000:]
    assert "reached its memory limit (4096 MB, ml.t2.medium's 4 GiB)" in text, text[-3000:]
    deadline = time.monotonic() + 30  # TorchServe notices its worker's death
    while "Worker died" not in text and "died" not in text and time.monotonic() < deadline:
        time.sleep(1)
        text = log_text(res["c"]["logs"], group)
    assert "WorkerLoadTime" not in text and "died" in text, text[-3000:]  # the model never loaded
    sm.delete_endpoint(EndpointName=small)  # its retries would keep allocating
    # ml.m5.large (8 GiB): the same model loads and serves
    sm.create_endpoint(EndpointName=large, EndpointConfigName=large)
    assert _wait(res, large)["EndpointStatus"] == "InService"
    out = res["c"]["runtime"].invoke_endpoint(EndpointName=large, Body=json.dumps({"x": [1, 2]}).encode(),
                                              ContentType="application/json")
    assert json.loads(out["Body"].read()) == {"answer": 105}
    c = _container(res, large)
    assert c["memory_limit_mb"] == 8192 and c["oom_kills"] == 0, c
    sm.delete_endpoint(EndpointName=large)


@pytest.mark.slow
def test_model_data_past_its_download_timeout_fails_a_create_and_leaves_an_update_on_its_config(res):
    sm, name = res["c"]["sagemaker"], f"dl-{res['tag']}"
    small_model, big_model = f"{name}-small", f"{name}-big"
    code = {"code/inference.py": INFERENCE, "code/tinypkg/__init__.py": TINYPKG}
    _model(res, small_model, tar_gz(code))
    big = tar_gz({**code, "weights.bin": os.urandom(3_500_000)})  # incompressible: 3.5 MB on the wire
    assert len(big) > 3_400_000
    _model(res, big_model, big)
    _config(res, f"{name}-fits", small_model, ModelDataDownloadTimeoutInSeconds=60)
    _config(res, f"{name}-slow", big_model, ModelDataDownloadTimeoutInSeconds=60)
    served = f"{name}-served"
    sm.create_endpoint(EndpointName=served, EndpointConfigName=f"{name}-fits")
    assert _wait(res, served)["EndpointStatus"] == "InService"  # a download within the timeout: served
    # the same slow config: a new endpoint fails, an update of the served one stays on its config
    failed = f"{name}-failed"
    sm.create_endpoint(EndpointName=failed, EndpointConfigName=f"{name}-slow")
    sm.update_endpoint(EndpointName=served, EndpointConfigName=f"{name}-slow")
    d = _wait(res, failed, timeout=180)
    assert d["EndpointStatus"] == "Failed", d
    reason = d["FailureReason"]
    assert "ModelDataDownloadTimeoutInSeconds (60 s)" in reason and f"of {len(big)} bytes" in reason, reason
    done = int(reason.split(": ", 1)[1].split(" of ")[0])
    assert 0 < done < len(big)  # it was downloading, and had not finished
    d = _wait(res, served, timeout=180)
    assert d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == f"{name}-fits", d
    assert "ModelDataDownloadTimeoutInSeconds (60 s)" in d.get("FailureReason", ""), d
    out = res["c"]["runtime"].invoke_endpoint(EndpointName=served, Body=json.dumps({"x": [3]}).encode(),
                                              ContentType="application/json")
    assert json.loads(out["Body"].read()) == {"answer": 109}  # still served by the previous config
    assert log_text(res["c"]["logs"], f"/aws/sagemaker/Endpoints/{failed}") == ""  # no container ever started
    for ep in (served, failed):
        sm.delete_endpoint(EndpointName=ep)
