"""An instance's ML storage volume (``VolumeSizeInGB``) on the local stack (``local.volume``): a size-limited tmpfs at
the container's work dir, holding its model data, its temp dir and everything else it writes.

Quick: the volume mounts and unmounts, a write past its size fails with ENOSPC (errno 28), model data that does not
fit fails with SageMaker's reason and the sizes, stale volumes are unmounted (by a new Hosting and by ``down``), the
container's short temp path leads onto the volume. Slow (real containers): a model_fn writing 1.2 GiB under its
model_dir on a 1 GiB volume logs ``No space left on device`` and never serves; on 2 GiB it serves; a delete leaves no
mount behind; a requirements layer is installed onto the volume; model data unpacking past 1 GiB fails the create.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from endpoint_runbook.local.hosting import Container, Hosting, ModelDataError, safe_extract
from endpoint_runbook.local.volume import Volume, filled, mounts_under, unmount_stale
from endpoint_runbook.serving.server import _remove_temp, _short_temp
from stacks import log_text, stack_with_bucket, wait_settled
from tinymodel import IMAGE, INFERENCE, TINYPKG, tar_gz

REGION = "ap-south-1"
MiB = 2**20
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")


def _mounted(path: Path) -> bool:
    return any(line.split()[1] == str(path) for line in Path("/proc/self/mounts").read_text().splitlines())


@pytest.fixture()
def vol(tmp_path):
    v = Volume(tmp_path / "vol", 1, size_bytes=4 * MiB)
    yield v
    v.unmount()


@root_only
def test_a_volume_mounts_holds_its_size_and_unmounts(vol):
    assert vol.mount() and vol.enforced and vol.why_not is None
    assert _mounted(vol.path) and mounts_under(vol.path.parent) == [vol.path]
    st = os.statvfs(vol.path)
    assert st.f_blocks * st.f_frsize == 4 * MiB
    (vol.path / "a").write_bytes(b"\0" * MiB)
    assert MiB <= vol.used_bytes() < 2 * MiB
    with pytest.raises(OSError) as e, open(vol.path / "b", "wb") as f:
        for _ in range(8):  # 8 MiB onto what is left of 4
            f.write(b"\0" * MiB)
            f.flush()
    assert e.value.errno == errno.ENOSPC == 28 and "No space left on device" in str(e.value)
    vol.unmount()
    assert not vol.enforced and not _mounted(vol.path) and list(vol.path.iterdir()) == []  # the files went with it
    vol.unmount()  # idempotent


def test_without_a_mount_the_volume_says_why_and_is_not_enforced(tmp_path):
    v = Volume(tmp_path / "vol", 3, size_bytes=4 * MiB)
    v.path.write_text("a file")  # no dir can be made there
    assert not v.mount() and not v.enforced and v.used_bytes() == 0
    assert f"mounting a 3 GiB tmpfs at {v.path} failed" in v.why_not and "File exists" in v.why_not, v.why_not
    v.unmount()  # nothing to do


@root_only
def test_a_stack_not_running_as_root_gets_no_volume_and_says_why(tmp_path):
    code = ("import sys; from pathlib import Path; from endpoint_runbook.local.volume import Volume; "
            "v = Volume(Path(sys.argv[1]), 2); print(v.mount(), v.enforced, v.why_not)")
    # a user namespace of its own, unmapped: uid 65534 without any capability here; the kernel refuses the mount
    out = subprocess.run(["unshare", "--user", sys.executable, "-c", code, str(tmp_path / "vol")],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("False False mounting a 2 GiB tmpfs at") and "Operation not permitted" in out, out
    assert "(the stack runs as uid 65534, not root)" in out and not _mounted(tmp_path / "vol"), out


def test_filled_finds_enospc_behind_wrapping_errors():
    inner = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise inner
        except OSError as e:
            raise ModelDataError("Failed to extract") from e
    except ModelDataError as outer:
        assert filled(outer) is inner
    assert filled(ModelDataError("x")) is None and filled(OSError(errno.EACCES, "denied")) is None


@root_only
def test_stale_volumes_under_a_root_are_unmounted_and_others_left(tmp_path):
    root = tmp_path / "containers"
    a, b = Volume(root / "ep1" / "aaaa", 1, size_bytes=MiB), Volume(root / "ep2" / "bbbb", 1, size_bytes=MiB)
    other = tmp_path / "not-ours"
    assert a.mount() and b.mount()
    (a.path / "x").write_bytes(b"1" * 1000)
    other.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "someone-else", str(other)], check=True)
    try:  # a tmpfs under the root that is not the stack's volume
        assert set(mounts_under(root)) == {a.path, b.path} and set(mounts_under(tmp_path)) == {a.path, b.path}
        assert set(unmount_stale(root)) == {a.path, b.path}
        assert not _mounted(a.path) and not _mounted(b.path) and mounts_under(root) == []
        assert _mounted(other)  # never ours: left alone
    finally:
        subprocess.run(["umount", str(other)], check=False)


@root_only
def test_a_new_hosting_unmounts_a_crashed_stacks_volumes(tmp_path):
    left = Volume(tmp_path / "containers" / "ep" / "cafe", 1, size_bytes=MiB)
    assert left.mount()
    h = Hosting(server_url="http://127.0.0.1:9", work_root=tmp_path / "containers")
    try:
        assert not _mounted(left.path)
    finally:
        h.shutdown()


@root_only
def test_the_short_temp_path_leads_onto_the_volume(vol):
    assert vol.mount()
    tmp = _short_temp(vol.path)
    try:
        assert tmp.is_symlink() and len(str(tmp)) < 40 and tmp.resolve().parent == vol.path
        (tmp / "t").write_bytes(b"\0" * MiB)  # written through the link: on the volume
        assert vol.used_bytes() >= MiB
    finally:
        _remove_temp(tmp)
    assert not tmp.exists() and not tmp.is_symlink() and list(vol.path.iterdir()) == []
    plain = _short_temp(None)
    assert plain.is_dir() and not plain.is_symlink()
    _remove_temp(plain)
    assert not plain.exists()


def _zeros_archive(nbytes: int) -> bytes:
    """A model.tar.gz holding ``nbytes`` of zeros (a few KB compressed: it downloads, then fills the volume)."""
    return tar_gz({"weights.bin": bytes(nbytes), "code/inference.py": INFERENCE})


@root_only
def test_an_archive_larger_than_the_volume_fails_its_extraction_with_enospc(vol, tmp_path):
    assert vol.mount()
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(_zeros_archive(8 * MiB))
    with pytest.raises(ModelDataError) as e:
        safe_extract(archive, vol.path / "ml" / "model")
    assert filled(e.value) is not None and "No space left on device" in str(e.value)


@root_only
@pytest.mark.parametrize("stage, archive", [("extracted", _zeros_archive(8 * MiB)),
                                            ("downloaded", os.urandom(6 * MiB))])
def test_model_data_that_does_not_fit_fails_with_sagemakers_reason_and_the_sizes(moto_url, tmp_path, stage, archive):
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name=REGION, aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    bucket = f"vol-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key="model.tar.gz", Body=archive)
    h = Hosting(server_url=moto_url, work_root=tmp_path / "containers")
    c = Container(endpoint="ep", variant="AllTraffic", workdir=tmp_path / "containers" / "ep" / "beef",
                  model={"PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/model.tar.gz"}})
    c.volume = Volume(c.workdir, 1, size_bytes=4 * MiB)
    try:
        assert c.volume.mount()
        with pytest.raises(ModelDataError) as e:
            h._fetch_model(c, REGION)
        reason = str(e.value)
        assert reason.startswith("The model data archive is too large."), reason
        assert (f"volume is 1 GiB, {4 * MiB} bytes (VolumeSizeInGB)" in reason and f"({len(archive)} bytes in S3)"
                in reason and f"while it was being {stage}: [Errno 28] No space left on device" in reason), reason
    finally:
        h._stop(c)
        h.shutdown()
    assert not _mounted(c.workdir) and not c.workdir.exists()


@root_only
def test_down_unmounts_a_killed_stacks_volumes(tmp_path):
    from endpoint_runbook.local import stack

    state = tmp_path / "state"
    left = Volume(state / stack.CONTAINERS_DIR / "ep" / "dead", 1, size_bytes=MiB)
    assert left.mount()
    (state / stack.STATE_FILE).write_text(json.dumps({"pid": 2**22 + 17, "containers": []}))  # a pid long gone
    result = stack.down(state)
    assert result["stale_volumes"] == [str(left.path)] and not _mounted(left.path), result


# -- on the stack (real containers) ------------------------------------------------------------------------------
#: model_fn writes ``WRITE_MB`` MiB of zeros under model_dir (the volume), 16 MiB at a time, as an unpacking model would.
WRITER = INFERENCE.replace(b"import json\n", b"import json\nimport os\n", 1).replace(
    b'    return {"offset": 100}',
    b'    with open(os.path.join(model_dir, "unpacked.bin"), "wb") as f:\n'
    b'        for _ in range(int(os.environ["WRITE_MB"]) // 16):\n'
    b'            f.write(b"\\0" * 2**24)\n'
    b'    return {"offset": 100}')
assert b"unpacked.bin" in WRITER
WRITE_MB = 1232  # 1.2 GiB, in 77 writes of 16 MiB


@pytest.fixture(scope="module")
def vs(tmp_path_factory):
    with stack_with_bucket(tmp_path_factory, "volume-stack", region=REGION, prefix="vol", startup_timeout=240) as vs:
        writer = _model(vs, f"writer-{vs['tag']}", tar_gz({"code/inference.py": WRITER,
                                                           "code/tinypkg/__init__.py": TINYPKG}), WRITE_MB=WRITE_MB)
        yield {**vs, "model": writer}
    assert mounts_under(vs["info"].state_dir) == []  # the stack took its volumes down with it


def _model(vs, name: str, archive: bytes, **env) -> str:
    """Model ``name`` of ``archive`` (uploaded to the test bucket), one worker, ``env`` in its Environment."""
    vs["c"]["s3"].put_object(Bucket=vs["bucket"], Key=f"{name}/model.tar.gz", Body=archive)
    vs["c"]["sagemaker"].create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/tiny",
                                      PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": f"s3://{vs['bucket']}/{name}/model.tar.gz", "Environment": {
            "SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
            **{k: str(v) for k, v in env.items()}}})
    return name


def _endpoint(vs, name: str, model: str | None = None, **variant) -> None:
    """Endpoint ``name`` (and its config) of ``model`` (default: the writer) on one ml.m5.large, ``variant``'s fields."""
    sm = vs["c"]["sagemaker"]
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model or vs["model"], "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1, **variant}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def _invoke(vs, name: str) -> dict:
    out = vs["c"]["runtime"].invoke_endpoint(EndpointName=name, Body=json.dumps({"x": [1, 2]}).encode(),
                                             ContentType="application/json")
    return json.loads(out["Body"].read())


def _container(vs, name: str) -> dict | None:
    from endpoint_runbook.local import stack

    return next((c for c in stack.status(vs["info"].state_dir).containers if c["endpoint"] == name), None)


@root_only
@pytest.mark.slow
def test_a_model_writing_past_its_volume_fails_with_enospc_and_serves_on_a_larger_one(vs):
    sm, logs = vs["c"]["sagemaker"], vs["c"]["logs"]
    small, large = f"vol1-{vs['tag']}", f"vol2-{vs['tag']}"
    # 1 GiB: model_fn's 1.2 GiB do not fit, its own write fails, and the model never loads
    _endpoint(vs, small, VolumeSizeInGB=1)
    try:
        group, deadline, text = f"/aws/sagemaker/Endpoints/{small}", time.monotonic() + 300, ""
        while time.monotonic() < deadline:
            text = log_text(logs, group)
            if "No space left on device" in text and ("died" in text or "Failed" in text):
                break
            time.sleep(1)
        c = _container(vs, small)
        assert "[local stack] instance volume: 1 GiB (VolumeSizeInGB), enforced by a tmpfs" in text, text[-3000:]
        assert "No space left on device" in text and "WorkerLoadTime" not in text, text[-3000:]
        assert c and c["volume_gib"] == 1 and c["volume_enforced"], c
        assert _mounted(Path(c["workdir"]))
        print("\n".join(line for line in text.splitlines() if any(w in line for w in (
            "space", "volume", "Errno", "died", "Caused by", "Exception", "Load model failed"))))
        status = sm.describe_endpoint(EndpointName=small)["EndpointStatus"]
        print("1 GiB endpoint:", status)
        if status == "InService":
            with pytest.raises(botocore.exceptions.ClientError):  # /ping answers while the workers die
                _invoke(vs, small)
    finally:
        sm.delete_endpoint(EndpointName=small)
    # 2 GiB: the same model loads and serves
    _endpoint(vs, large, VolumeSizeInGB=2)
    try:
        d = wait_settled(sm, large, 300)
        text = log_text(logs, f"/aws/sagemaker/Endpoints/{large}")
        assert d["EndpointStatus"] == "InService", (d.get("FailureReason"), text[-3000:])
        assert _invoke(vs, large) == {"answer": 105}
        c = _container(vs, large)
        assert c["volume_gib"] == 2 and c["volume_used_bytes"] >= WRITE_MB * MiB, c
        assert "[local stack] instance volume: 2 GiB (VolumeSizeInGB), enforced by a tmpfs" in text, text[-3000:]
        workdir = Path(c["workdir"])
    finally:
        sm.delete_endpoint(EndpointName=large)
    deadline = time.monotonic() + 30
    while (_mounted(workdir) or mounts_under(vs["info"].state_dir)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _mounted(workdir) and mounts_under(vs["info"].state_dir) == [] and not workdir.exists()


@pytest.mark.slow
def test_without_volume_size_the_container_writes_to_this_machines_disk_and_says_so(vs):
    sm, name = vs["c"]["sagemaker"], f"novol-{vs['tag']}"
    _endpoint(vs, name, _model(vs, name, tar_gz({"code/inference.py": WRITER, "code/tinypkg/__init__.py": TINYPKG}),
                               WRITE_MB=16))
    try:
        d = wait_settled(sm, name, 300)
        text = log_text(vs["c"]["logs"], f"/aws/sagemaker/Endpoints/{name}")
        assert d["EndpointStatus"] == "InService", (d.get("FailureReason"), text[-3000:])
        assert "[local stack] instance volume: no VolumeSizeInGB, the container writes to this machine's disk" in text
        c = _container(vs, name)
        assert c["volume_gib"] is None and not c["volume_enforced"] and not _mounted(Path(c["workdir"])), c
    finally:
        sm.delete_endpoint(EndpointName=name)


@root_only
@pytest.mark.slow
def test_the_requirements_layer_is_installed_onto_the_volume(vs):
    sm, name = vs["c"]["sagemaker"], f"volreq-{vs['tag']}"
    model = INFERENCE.replace(b"import json\n", b"import json\nimport tabulate\n", 1)
    _endpoint(vs, name, _model(vs, name, tar_gz({"code/inference.py": model, "code/tinypkg/__init__.py": TINYPKG,
                                                 "code/requirements.txt": b"tabulate==0.9.0\n"})), VolumeSizeInGB=1)
    try:
        d = wait_settled(sm, name, 300)
        text = log_text(vs["c"]["logs"], f"/aws/sagemaker/Endpoints/{name}")
        assert d["EndpointStatus"] == "InService", (d.get("FailureReason"), text[-3000:])
        assert _invoke(vs, name) == {"answer": 105}
        workdir = Path(_container(vs, name)["workdir"])
        # the container's temp dir (its layers beside it) is a dir on the volume, reached through /tmp/erb-ts-…
        installed = [p for p in workdir.glob("tmp-*/layers/*/lib/python*/site-packages/tabulate*")]
        assert installed and _mounted(workdir), sorted(str(p) for p in workdir.rglob("*"))[:50]
    finally:
        sm.delete_endpoint(EndpointName=name)


def _big_archive(nbytes: int) -> bytes:
    """A model.tar.gz whose weights.bin is ``nbytes`` long (about 64x compressed: under the extraction's bomb guard)."""
    from endpoint_runbook.local.startup_scenarios import large_archive

    return large_archive({"code/inference.py": INFERENCE.decode()}, nbytes)


@root_only
@pytest.mark.slow
def test_model_data_larger_than_the_volume_fails_the_create_with_the_sizes(vs):
    sm, name = vs["c"]["sagemaker"], f"volbig-{vs['tag']}"
    archive = _big_archive(1100 * MiB)  # 1.07 GiB unpacked, 20 MB on the wire
    _endpoint(vs, name, _model(vs, name, archive), VolumeSizeInGB=1)
    try:
        d = wait_settled(sm, name, 120)
        reason = d.get("FailureReason", "")
        print("FailureReason:", reason)
        assert d["EndpointStatus"] == "Failed" and reason.startswith("The model data archive is too large."), d
        assert (f"volume is 1 GiB, {2**30} bytes (VolumeSizeInGB)" in reason and f"({len(archive)} bytes in S3)" in
                reason and "being extracted: [Errno 28] No space left on device" in reason), reason
        assert mounts_under(vs["info"].state_dir) == []  # the failed container's volume is gone already
    finally:
        sm.delete_endpoint(EndpointName=name)
