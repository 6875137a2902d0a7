"""Step 2 — rebuild: members byte-identical, the source untouched, deterministic, nothing uploaded on failure."""

from __future__ import annotations

import hashlib
import io
import tarfile
import uuid
from pathlib import Path

import pytest
from endpoint_runbook.errors import CheckFailed, InputError, NotFoundError
from endpoint_runbook.records import read_record
from endpoint_runbook.serving.image_profiles import profile_for_image
from endpoint_runbook.steps import diagnose, rebuild_archive
from tinymodel import IMAGE, INFERENCE, TINYPKG, tar_gz


@pytest.fixture()
def broken(aws, tmp_path):
    """A diagnosed endpoint whose archive lacks `tinypkg`, with a local checkout that has it under src/."""
    s3, sm = aws.client("s3"), aws.client("sagemaker")
    name = f"rb-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": aws.region})
    src = tar_gz({"code/inference.py": INFERENCE, "weights.bin": bytes(range(256)) * 4096})
    s3.put_object(Bucket=name, Key="training/output/model.tar.gz", Body=src)
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{name}/training/output/model.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    repo = tmp_path / "repo"
    (repo / "src" / "tinypkg" / "__pycache__").mkdir(parents=True)
    (repo / "src" / "tinypkg" / "__init__.py").write_bytes(TINYPKG)
    (repo / "src" / "tinypkg" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    run_dir = tmp_path / "run"
    diagnose.run(aws, run_dir=str(run_dir), endpoint_name=name, source_roots=[str(repo)])
    return {"name": name, "bucket": name, "src": src, "run_dir": str(run_dir), "repo": repo,
            "source_uri": f"s3://{name}/training/output/model.tar.gz"}


def _members(data: bytes) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: hashlib.sha256(tar.extractfile(m).read()).hexdigest() for m in tar if m.isfile()}


def _get(aws, uri: str) -> bytes:
    bucket, key = uri[5:].split("/", 1)
    return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def test_rebuild_from_the_diagnosis(aws, broken):
    r = rebuild_archive.run(aws, run_dir=broken["run_dir"])
    assert r.status == "passed" and r.load_check.ok
    assert r.target_uri == f"s3://{broken['bucket']}/training/output-fixed/model.tar.gz"
    out = _get(aws, r.target_uri)
    before, after = _members(broken["src"]), _members(out)
    assert all(after[k] == v for k, v in before.items())  # unchanged members are byte-identical
    assert set(after) - set(before) == {"code/tinypkg/__init__.py"}  # __pycache__ skipped
    assert hashlib.sha256(out).hexdigest() == r.result_sha256
    assert _get(aws, broken["source_uri"]) == broken["src"]  # the source object is untouched
    assert r.source_sha256 == hashlib.sha256(broken["src"]).hexdigest()
    head = aws.client("s3").head_object(Bucket=broken["bucket"], Key="training/output-fixed/model.tar.gz",
                                        ChecksumMode="ENABLED")
    assert head["Metadata"]["source-sha256"] == r.source_sha256
    assert not aws.client("s3").list_multipart_uploads(Bucket=broken["bucket"]).get("Uploads")
    rec = read_record(broken["run_dir"], "rebuild_archive")
    assert rec["status"] == "passed" and rec["diff"]["added"][0]["path"] == "code/tinypkg/__init__.py"
    # Checked in the serving environment of the diagnosed endpoint's image, as step 1's load check was.
    diag = read_record(broken["run_dir"], "diagnose")
    assert rec["image"] == IMAGE and r.load_check.profile == diag["load_check"]["profile"] == profile_for_image(IMAGE).name
    # Twice: the same bytes.
    again = rebuild_archive.run(aws, run_dir=broken["run_dir"], overwrite=True)
    assert again.result_sha256 == r.result_sha256


def test_a_failing_check_uploads_nothing(aws, broken, tmp_path):
    wrong = tmp_path / "wrong" / "tinypkg"
    wrong.mkdir(parents=True)
    (wrong / "__init__.py").write_text("raise RuntimeError('not the real package')\n")
    target = f"s3://{broken['bucket']}/fixed/model.tar.gz"
    with pytest.raises(CheckFailed) as e:
        rebuild_archive.run(aws, run_dir=broken["run_dir"], target_uri=target,
                            additions=[{"source": str(wrong), "target": "code/tinypkg/"}])
    assert e.value.code == "rebuilt-archive-fails"
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=broken["bucket"], Prefix="fixed/")
    assert read_record(broken["run_dir"], "rebuild_archive")["status"] == "failed"


@pytest.mark.parametrize("case, code", [
    ("target-is-source", "target-is-source"),
    ("target-exists", "target-exists"),
    ("folder-missing", "source-missing"),
    ("not-a-package", "not-a-package"),
    ("parent-of-the-package", "not-a-package"),
    ("source-missing", "source-missing"),
])
def test_bad_input_is_named_and_nothing_is_uploaded(aws, broken, tmp_path, case, code):
    s3 = aws.client("s3")
    kw: dict = {"target_uri": f"s3://{broken['bucket']}/t/{case}/model.tar.gz"}
    if case == "target-is-source":
        kw["target_uri"] = broken["source_uri"]
    elif case == "target-exists":
        s3.put_object(Bucket=broken["bucket"], Key=f"t/{case}/model.tar.gz", Body=b"someone else's")
    elif case == "folder-missing":
        kw["additions"] = [{"source": str(tmp_path / "nope"), "target": "code/tinypkg/"}]
    elif case == "not-a-package":  # no Python in it at all
        (tmp_path / "plain").mkdir()
        (tmp_path / "plain" / "notes.txt").write_text("x = 1\n")
        kw["additions"] = [{"source": str(tmp_path / "plain"), "target": "code/tinypkg/"}]
    elif case == "parent-of-the-package":  # src/ named where src/tinypkg/ was meant
        kw["additions"] = [{"source": str(broken["repo"] / "src"), "target": "code/tinypkg/"}]
    elif case == "source-missing":
        kw["source_uri"] = f"s3://{broken['bucket']}/nothing/model.tar.gz"
    with pytest.raises((InputError, NotFoundError)) as e:
        rebuild_archive.run(aws, run_dir=broken["run_dir"], **kw)
    assert e.value.code == code
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=broken["bucket"]).get("Contents", [])]
    assert keys == sorted(["training/output/model.tar.gz"] + (
        [f"t/{case}/model.tar.gz"] if case == "target-exists" else []))
    assert _get(aws, broken["source_uri"]) == broken["src"]


def test_not_gzip_source_is_refused(aws, broken):
    s3 = aws.client("s3")
    s3.put_object(Bucket=broken["bucket"], Key="bad/model.tar.gz", Body=b"plain text")
    with pytest.raises(InputError) as e:
        rebuild_archive.run(aws, run_dir=broken["run_dir"], source_uri=f"s3://{broken['bucket']}/bad/model.tar.gz",
                            target_uri=f"s3://{broken['bucket']}/bad-fixed/model.tar.gz")
    assert e.value.code == "not-gzip"
    assert "Contents" not in s3.list_objects_v2(Bucket=broken["bucket"], Prefix="bad-fixed/")


def test_check_archive_cli_flags_the_layout(tmp_path):
    import subprocess
    import sys

    good = tmp_path / "good.tar.gz"
    good.write_bytes(tar_gz({"code/inference.py": INFERENCE, "code/tinypkg/__init__.py": TINYPKG}))
    nested = tmp_path / "nested.tar.gz"
    nested.write_bytes(tar_gz({"model/code/inference.py": INFERENCE}))
    ok = subprocess.run([sys.executable, "-m", "endpoint_runbook.cli", "check-archive", str(good)],
                        capture_output=True, text=True)
    bad = subprocess.run([sys.executable, "-m", "endpoint_runbook.cli", "check-archive", str(nested)],
                         capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert bad.returncode == 1 and "nested-top-folder" in bad.stdout
    assert Path(good).exists()


@pytest.mark.slow
def test_full_check_serves_the_rebuilt_archive_on_torchserve(aws, broken):
    r = rebuild_archive.run(aws, run_dir=broken["run_dir"], full_check=True,
                            target_uri=f"s3://{broken['bucket']}/full/model.tar.gz")
    assert r.serve_check is not None and r.serve_check.ok and r.uploaded


@pytest.mark.slow
def test_full_check_failure_uploads_nothing(aws, broken, tmp_path):
    # Imports fine and model_fn passes in-process, but the worker dies under TorchServe: predict-time import
    # of a package that only the handler path touches is not it — use a model_fn that kills its process.
    pkg = tmp_path / "killer" / "tinypkg"
    pkg.mkdir(parents=True)
    # (the load check imports the toolkit and TorchServe's Context as the worker does, not TorchServe's loader)
    (pkg / "__init__.py").write_text("import os, sys\nif 'ts.model_loader' in sys.modules:\n    os._exit(3)\n"
                                     "def answer(xs):\n    return 0\n")
    with pytest.raises(CheckFailed):
        rebuild_archive.run(aws, run_dir=broken["run_dir"], full_check=True,
                            target_uri=f"s3://{broken['bucket']}/full-bad/model.tar.gz",
                            additions=[{"source": str(pkg), "target": "code/tinypkg/"}])
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=broken["bucket"], Prefix="full-bad/")
    assert read_record(broken["run_dir"], "rebuild_archive")["serve_check"]["ok"] is False


def test_a_namespace_package_goes_in_as_it_is(aws, broken, tmp_path):
    # PEP 420: a folder of modules without __init__.py imports as it is (issue 22 point 4).
    ns = tmp_path / "ns" / "tinypkg"
    ns.mkdir(parents=True)
    (ns / "core.py").write_bytes(TINYPKG)
    inference = INFERENCE.replace(b"from tinypkg import answer", b"from tinypkg.core import answer")
    name = f"{broken['bucket']}"
    s3 = aws.client("s3")
    s3.put_object(Bucket=name, Key="ns/model.tar.gz", Body=tar_gz({"code/inference.py": inference}))
    r = rebuild_archive.run(aws, run_dir=broken["run_dir"], source_uri=f"s3://{name}/ns/model.tar.gz",
                            additions=[{"source": str(ns), "target": "code/tinypkg/"}])
    assert r.status == "passed" and r.load_check.ok
    assert [a["path"] for a in r.diff["added"]] == ["code/tinypkg/core.py"]  # no __init__.py made up


@pytest.fixture()
def no_serving_env(tmp_path, monkeypatch):
    """No serving environment can be had here (the pre-built one named is not one): the load check is skipped."""
    (tmp_path / "not-a-venv").mkdir()
    monkeypatch.setenv("ENDPOINT_RUNBOOK_SERVING_ENV", str(tmp_path / "not-a-venv"))


def test_without_a_load_check_the_static_analysis_decides_and_the_record_says_why(aws, broken, no_serving_env):
    # issue 22 points 6 and 10: the check cannot run here; the rebuilt code's imports resolve: go on, say so.
    r = rebuild_archive.run(aws, run_dir=broken["run_dir"], overwrite=True)
    assert r.status == "passed" and r.load_check.skipped and r.unchecked == r.load_check.skipped
    assert r.static_check["ok"] and r.static_check["missing_packages"] == []
    rec = read_record(broken["run_dir"], "rebuild_archive")
    assert "no serving environment could be built" in rec["unchecked"] and not rec["error"]


def test_without_a_load_check_a_static_failure_stops_and_never_says_it_does_not_load(aws, broken, tmp_path,
                                                                                    no_serving_env):
    wrong = tmp_path / "wrong" / "tinypkg"
    wrong.mkdir(parents=True)
    (wrong / "__init__.py").write_text("from tinypkg.missing_part import answer\n")
    with pytest.raises(CheckFailed) as e:
        rebuild_archive.run(aws, run_dir=broken["run_dir"], target_uri=f"s3://{broken['bucket']}/w/model.tar.gz",
                            additions=[{"source": str(wrong), "target": "code/tinypkg/"}])
    assert e.value.code == "rebuilt-archive-fails" and "static analysis" in str(e.value)
    assert "does not load" not in str(e.value) and "Skipped" not in str(e.value)
    assert "tinypkg.missing_part" in str(e.value)
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=broken["bucket"], Prefix="w/")


def test_require_load_check_refuses_to_go_on_without_one(aws, broken, no_serving_env):
    target = f"s3://{broken['bucket']}/req/model.tar.gz"
    with pytest.raises(CheckFailed) as e:
        rebuild_archive.run(aws, run_dir=broken["run_dir"], target_uri=target, require_load_check=True)
    assert e.value.code == "load-check-required" and "could not run here" in str(e.value)
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=broken["bucket"], Prefix="req/")
    assert read_record(broken["run_dir"], "rebuild_archive")["require_load_check"] is True
