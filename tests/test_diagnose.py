"""Step 1 — diagnose: the incident named with its evidence, and a zoo of purpose-built broken archives."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import yaml
from endpoint_runbook.errors import NotFoundError
from endpoint_runbook.records import read_record
from endpoint_runbook.steps import diagnose
from tinymodel import IMAGE, INFERENCE, TINYPKG, tar_gz

ROLE = "arn:aws:iam::123456789012:role/zoo"


def _deploy(aws, archive_bytes: bytes | None, *, env: dict | None = None, url: str | None = None,
            vpc: dict | None = None) -> str:
    """A model/config/endpoint in plain moto (no container): the archive and the logs are what we test."""
    s3, sm = aws.client("s3"), aws.client("sagemaker")
    name = f"zoo-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": aws.region})
    if url is None:
        s3.put_object(Bucket=name, Key="model/model.tar.gz", Body=archive_bytes)
        url = f"s3://{name}/model/model.tar.gz"
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, **({"VpcConfig": vpc} if vpc else {}),
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": url, "Environment": env or {}})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": f"s3://{name}/out/"}})
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return name


def _logs(aws, endpoint: str, lines: list[str]) -> None:
    logs = aws.client("logs")
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="AllTraffic/i-0123456789abcdef0")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="AllTraffic/i-0123456789abcdef0",
                        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)])


def _run(aws, tmp_path, name, **kw):
    return diagnose.run(aws, run_dir=str(tmp_path), endpoint_name=name, **kw)


# -- the zoo ----------------------------------------------------------------------------------------------
MODEL_FN_MISSING_ARTIFACT = b'''import os
def model_fn(model_dir):
    with open(os.path.join(model_dir, "weights.bin"), "rb") as f:
        return f.read()
'''
GUARDED = b'''try:
    import fancy_accel
except ImportError:
    fancy_accel = None
def model_fn(model_dir):
    return {"accel": fancy_accel is not None}
'''


@pytest.mark.parametrize("case, members, cause, static_code", [
    ("missing-entry-script", {"code/helper.py": b"x = 1\n", "weights.bin": b"w"}, "missing-entry-script",
     "missing-entry-script"),
    ("nested-top-folder", {"model/code/inference.py": INFERENCE, "model/code/tinypkg/__init__.py": TINYPKG},
     "missing-entry-script", "nested-top-folder"),
    ("requirements-at-root", {"code/inference.py": MODEL_FN_MISSING_ARTIFACT.replace(b"weights.bin", b"w.bin"),
                              "w.bin": b"1", "requirements.txt": b"faiss-cpu\n"}, "inconclusive", "requirements-at-root"),
    ("model-fn-missing-artifact", {"code/inference.py": MODEL_FN_MISSING_ARTIFACT}, "model-fn-error", None),
    ("syntax-error", {"code/inference.py": b"def model_fn(model_dir)\n    return 1\n"}, "syntax-error",
     "syntax-error"),
    ("guarded-import", {"code/inference.py": GUARDED}, "inconclusive", "guarded-missing-module"),
    ("missing-package", {"code/inference.py": INFERENCE}, "missing-module", "missing-module"),
    ("package-under-src", {"code/inference.py": INFERENCE, "src/tinypkg/__init__.py": TINYPKG}, "missing-module",
     "source-outside-import-path"),
    ("fixed", {"code/inference.py": INFERENCE, "code/tinypkg/__init__.py": TINYPKG}, "inconclusive", None),
])
def test_zoo_is_classified(aws, tmp_path, case, members, cause, static_code):
    name = _deploy(aws, tar_gz(members))
    d = _run(aws, tmp_path, name)
    assert d.verdict.cause == cause, (case, d.verdict.summary, d.verdict.seen)
    codes = {f.code for f in d.findings}
    if static_code:
        assert static_code in codes, (case, codes)
    lc = d.load_check
    if case == "fixed":
        assert lc.ok and not [f for f in d.findings if f.severity == "error"]
    elif case == "guarded-import":
        assert lc.ok and d.verdict.cause == "inconclusive"  # a degraded fallback, not a crash
    elif case == "model-fn-missing-artifact":
        assert not lc.ok and lc.stage == "model_fn" and lc.error_type == "FileNotFoundError"
        assert any("code/inference.py" in e for e in d.verdict.evidence)
    elif case == "missing-package":
        assert lc.missing_module == "tinypkg"
    rec = read_record(tmp_path, "diagnose")
    assert rec["verdict"]["cause"] == cause and rec["model_data_url"].startswith("s3://")


def test_the_load_check_cannot_see_the_runbooks_own_packages(aws, tmp_path):
    # moto is installed for the runbook but not in the serving image: a model importing it must fail the check.
    name = _deploy(aws, tar_gz({"code/inference.py": b"import moto\ndef model_fn(d):\n    return 1\n"}))
    d = _run(aws, tmp_path, name)
    assert not d.load_check.ok and d.load_check.missing_module == "moto"
    assert d.verdict.cause == "missing-module"


def test_logs_name_the_cause_and_noise_is_labelled(aws, tmp_path):
    name = _deploy(aws, tar_gz({"code/inference.py": INFERENCE}))
    _logs(aws, name, [
        "2026-11-15T10:25:31,929 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - Traceback (most recent call last):",
        '2026-11-15T10:25:31,929 [INFO ] W-9000-model_1.0-stdout MODEL_LOG -   File "/opt/ml/model/code/inference.py", line 2, in <module>',
        "2026-11-15T10:25:31,929 [INFO ] W-9000-model_1.0-stdout MODEL_LOG -     from tinypkg import answer",
        "2026-11-15T10:25:31,930 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - ModuleNotFoundError: No module named 'tinypkg'",
        "2026-11-15T10:25:31,931 [INFO ] W-9000-model_1.0-stdout MODEL_LOG - Backend worker process died.",
        "2026-11-15T10:25:31,932 [WARN ] W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Auto recovery failed again",
        "2026-11-15T10:25:35,397 io.netty.channel.unix.Errors$NativeIoException: readAddress(..) failed: Connection reset by peer",
    ])
    d = _run(aws, tmp_path, name, load_check=False)
    assert d.logs["cause"]["code"] == "missing-module"
    assert "noise" in json.dumps(d.logs["codes"]) and d.verdict.cause == "missing-module"
    assert d.verdict.confidence == "high"  # logs and imports agree
    assert any("No module named 'tinypkg'" in e for e in d.verdict.evidence)


@pytest.mark.parametrize("case", ["not-gzip", "missing-object"])
def test_unreadable_archive_is_a_verdict_not_a_traceback(aws, tmp_path, case):
    if case == "not-gzip":
        name = _deploy(aws, b"just text, not a model archive")
    else:
        name = _deploy(aws, None, url="s3://no-such-bucket-zoo/model.tar.gz")
    d = _run(aws, tmp_path, name)
    assert d.verdict.cause == "bad-archive"
    assert not d.archive["readable"]


def test_no_logs_and_no_finding_is_inconclusive(aws, tmp_path):
    name = _deploy(aws, tar_gz({"code/inference.py": INFERENCE, "code/tinypkg/__init__.py": TINYPKG}))
    d = _run(aws, tmp_path, name, load_check=False)
    assert d.logs["cause"]["code"] == "no-logs"
    assert d.verdict.cause == "inconclusive" and "logs" in d.verdict.summary


def test_unknown_endpoint_names_near_misses(aws, tmp_path):
    name = _deploy(aws, tar_gz({"code/inference.py": INFERENCE}))
    with pytest.raises(NotFoundError) as e:
        _run(aws, tmp_path, name[:-1])
    assert e.value.code == "endpoint-not-found" and name in str(e.value)


@pytest.mark.slow
def test_incident_is_diagnosed(incident_aws, tmp_path):
    from endpoint_runbook.local.scenarios import StygigIncident, examples_dir

    expected = yaml.safe_load((examples_dir().parent / "params" / "local.yaml").read_text())["diagnose"]["expected_paths"]
    d = diagnose.run(incident_aws, run_dir=str(tmp_path), endpoint_name=StygigIncident().endpoint,
                     source_roots=[str(examples_dir() / "stygig")], expected_paths=expected)
    v = d.verdict
    assert v.cause == "missing-module" and v.fix["packages"] == ["stygig"] and v.confidence == "high"
    assert any("No module named 'stygig'" in e and "(×" in e for e in v.evidence)  # evidence lines with counts
    marks = {r["path"]: r["mark"] for r in d.archive["presence"]}
    assert marks["src/stygig/"] == "❌" and marks["code/inference.py"] == "✅"
    assert v.fix["additions"][0]["target"] == "code/stygig/"
    assert v.fix["additions"][0]["source"].endswith("examples/stygig/src/stygig")
    assert v.fix["extras"][0]["target"] == "config/"
    assert d.logs["cause"]["details"]["package"] == "stygig"
    rec = read_record(tmp_path, "diagnose")
    assert rec["fix"] == v.to_dict()["fix"] and rec["endpoint"]["async_config"]["OutputConfig"]["S3OutputPath"]


# -- evidence rules (issue 22 point 1) ---------------------------------------------------------------------
INSTALL_FAILED = [  # the container's pip, failing before any worker starts
    "2026-11-15 10:20:01,100 INFO - installing packages from requirements.txt...",
    "ERROR: Cannot install torch==2.13.0 and torchvision==0.16.0 because these package versions have conflicting "
    "dependencies.",
    "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/",
    "2026-11-15 10:20:05,100 ERROR - failed to install required packages, exiting",
    "ValueError: failed to install required packages",
]


@pytest.fixture()
def no_serving_env(tmp_path, monkeypatch):
    """No serving environment can be had here (the pre-built one named is not one): the load check is skipped."""
    (tmp_path / "not-a-venv").mkdir()
    monkeypatch.setenv("ENDPOINT_RUNBOOK_SERVING_ENV", str(tmp_path / "not-a-venv"))


def _tinypkg_checkout(tmp_path):
    repo = tmp_path / "checkout"
    (repo / "src" / "tinypkg").mkdir(parents=True)
    (repo / "src" / "tinypkg" / "__init__.py").write_bytes(TINYPKG)
    return repo


def test_a_skipped_load_check_contradicts_nothing(aws, tmp_path, no_serving_env):
    name = _deploy(aws, tar_gz({"code/inference.py": INFERENCE}))
    d = _run(aws, tmp_path / "run", name, source_roots=[str(_tinypkg_checkout(tmp_path))])
    assert d.load_check.skipped and d.load_check.stage == "skipped"
    static = [f for f in d.findings if f.code == "missing-module"]
    assert static and all(f.severity == "error" and "contradicted_by" not in f.data for f in static), static
    assert d.verdict.cause == "missing-module" and d.verdict.fix["additions"][0]["target"] == "code/tinypkg/"
    assert d.verdict.after_fix is None  # no load was tried with the fix either


def test_the_stacks_install_failure_with_a_skipped_check_still_fixes_the_missing_package(aws, tmp_path,
                                                                                          no_serving_env):
    # The case: logs of an environment that could not install (here no check can say whose), a skipped
    # load check, a static missing package. Both causes are real as far as anyone can tell: both named, in the
    # order the container meets them, and the package is in the fix (step 2 has something to add).
    name = _deploy(aws, tar_gz({"code/inference.py": INFERENCE, "code/requirements.txt": b"numpy\n"}))
    _logs(aws, name, INSTALL_FAILED)
    d = _run(aws, tmp_path / "run", name, source_roots=[str(_tinypkg_checkout(tmp_path))])
    v = d.verdict
    assert v.cause == "requirements-install-failed" and not v.set_aside
    assert [(c["stage"], c["code"]) for c in v.causes] == [("install", "requirements-install-failed"),
                                                             ("import", "missing-module")], v.causes
    assert v.causes[0]["primary"] and v.causes[1]["packages"] == ["tinypkg"]
    assert [a["target"] for a in v.fix["additions"]] == ["code/tinypkg/"]
    from endpoint_runbook.step_records import DiagnoseRecord
    assert DiagnoseRecord.read(str(tmp_path / "run")).additions[0]["target"] == "code/tinypkg/"


def test_an_install_failure_only_outside_the_image_does_not_outrank_the_models_own_failure(aws, tmp_path):
    # The load check, in the image's own environment, installs the same requirements.txt and then meets the
    # model's own failure (tinypkg missing): the logs' install failure was seen only where the environment is not
    # the image's. It is set aside, named with why; the verdict is the missing package.
    name = _deploy(aws, tar_gz({"code/inference.py": INFERENCE, "code/requirements.txt": b"numpy\n"}))
    _logs(aws, name, INSTALL_FAILED)
    d = _run(aws, tmp_path / "run", name, source_roots=[str(_tinypkg_checkout(tmp_path))])
    assert d.load_check.mode == "exact" and d.load_check.stage == "import", d.load_check.to_dict()
    v = d.verdict
    assert v.cause == "missing-module" and v.fix["additions"][0]["target"] == "code/tinypkg/"
    assert [a["code"] for a in v.set_aside] == ["requirements-install-failed"] and "exact" in v.set_aside[0]["why"]
    assert [c["code"] for c in v.causes] == ["missing-module"]
    # The fix was tried: laid into the extracted archive, the model loads.
    assert v.after_fix["checked"] and v.after_fix["ok"], v.after_fix


def test_an_install_failure_the_endpoints_network_caused_is_not_set_aside(aws, tmp_path):
    name = _deploy(aws, tar_gz({"code/inference.py": INFERENCE, "code/requirements.txt": b"numpy\n"}))
    _logs(aws, name, ["WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError("
                      "'<pip._vendor.urllib3.connection.HTTPSConnection>: Failed to establish a new connection: "
                      "[Errno -3] Temporary failure in name resolution')': /simple/numpy/",
                      "ERROR: Could not find a version that satisfies the requirement numpy (from versions: none)",
                      "ERROR: No matching distribution found for numpy",
                      "2026-11-15 10:20:05,100 ERROR - failed to install required packages, exiting"])
    d = _run(aws, tmp_path / "run", name, source_roots=[str(_tinypkg_checkout(tmp_path))])
    v = d.verdict
    # the endpoint's own network: real, and named as such (here pip installs the same file)
    assert v.cause == "requirements-unreachable" and not v.set_aside
    assert [c["code"] for c in v.causes] == ["requirements-install-failed", "missing-module"]
    assert [a["target"] for a in v.fix["additions"]] == ["code/tinypkg/"]  # fixed together
    # the image ships numpy: no wheel to vendor, pip told to use no index (the image's numpy satisfies the line)
    assert v.fix["requirements"]["text"] == "--no-index\nnumpy\n"


def test_modules_only_the_load_check_sees_are_found_round_by_round(aws, tmp_path):
    # Imports by computed names: the static reading sees neither; the load check meets tinypkg, and once tinypkg is
    # laid in, tinyhelper (which tinypkg imports the same way). Both placed, and the model then loads.
    dynamic = 'import importlib, os\nname = open(os.path.join(os.path.dirname(__file__), "{}")).read().strip()\n'
    code = (dynamic.format("which.txt") + 'answer = importlib.import_module(name).answer\n'
            'def model_fn(model_dir):\n    return {"offset": 1}\n').encode()
    repo = tmp_path / "checkout"
    (repo / "tinypkg").mkdir(parents=True)
    (repo / "tinypkg" / "__init__.py").write_text(
        dynamic.format("helper.txt") + "help = importlib.import_module(name)\ndef answer(xs):\n    return 0\n")
    (repo / "tinypkg" / "helper.txt").write_text("tinyhelper\n")
    (repo / "tinyhelper").mkdir()
    (repo / "tinyhelper" / "__init__.py").write_text("")
    name = _deploy(aws, tar_gz({"code/inference.py": code, "code/which.txt": b"tinypkg\n"}))
    d = _run(aws, tmp_path / "run", name, source_roots=[str(repo)])
    assert d.load_check.missing_module == "tinypkg" and not d.imports["missing_packages"]
    after = d.verdict.after_fix
    assert [r["added"] for r in after["rounds"]] == [["code/tinypkg/"], ["code/tinyhelper/"]], after["rounds"]
    assert after["ok"], after


def test_a_package_wrapped_in_a_namespace_folder_is_added_with_its_wrapper(aws, tmp_path, no_serving_env):
    """The serving code imports ``upscaler.upscaler`` (a namespace folder around a regular package of the same
    name, as an upscaling plugin vendors its model library): step 1 proposes the wrapper, not the inner package
    (which would make ``code/upscaler/__init__.py`` and lose ``upscaler.upscaler``), and step 2 builds an archive
    whose imports resolve."""
    import gzip
    import io
    import tarfile

    from endpoint_runbook.errors import InputError
    from endpoint_runbook.steps import rebuild_archive

    repo = tmp_path / "checkout"
    inner = repo / "plugins" / "upscale-endpoint" / "code" / "upscaler" / "upscaler"
    (inner / "archs").mkdir(parents=True)
    (inner / "__init__.py").write_text("from .net import Upscaler\nfrom .archs import *\n")
    (inner / "net.py").write_text("class Upscaler:\n    def __init__(self, path):\n        self.path = path\n")
    (inner / "archs" / "__init__.py").write_text("ARCHS = ['x4']\n")
    code = (b"import os\nfrom upscaler.upscaler import Upscaler\n\n"
            b"def model_fn(model_dir):\n    return Upscaler(os.path.join(model_dir, 'x4.pth'))\n")
    name = _deploy(aws, tar_gz({"x4.pth": b"weights", "code/inference.py": code}))
    run_dir = tmp_path / "run"
    d = _run(aws, run_dir, name, source_roots=[str(repo)])
    (add,) = d.verdict.fix["additions"]
    assert (add["source"], add["target"], add["kind"]) == (str(inner.parent), "code/upscaler/", "namespace"), add
    target = f"s3://{name}/model-fixed/model.tar.gz"
    step = rebuild_archive.run(aws, run_dir=str(run_dir), target_uri=target)
    assert step.static_check["ok"], step.static_check
    body = aws.client("s3").get_object(Bucket=name, Key="model-fixed/model.tar.gz")["Body"].read()
    names = tarfile.open(fileobj=io.BytesIO(gzip.decompress(body))).getnames()
    assert "code/upscaler/upscaler/__init__.py" in names and "code/upscaler/__init__.py" not in names

    # The same folder named by hand, without saying it is the namespace package, is still taken for a slip.
    with pytest.raises(InputError) as e:
        rebuild_archive.run(aws, run_dir=str(run_dir), target_uri=f"s3://{name}/by-hand/model.tar.gz",
                            additions=[{"source": str(inner.parent), "target": "code/upscaler/"}])
    assert e.value.code == "not-a-package" and "kind: namespace" in str(e.value.hint)


def test_an_addition_that_brings_weights_along_says_so(aws, tmp_path, no_serving_env):
    """A package folder that also holds a checkpoint is copied whole: the fix says how much it brings and the
    largest file (a small one says nothing)."""
    repo = _tinypkg_checkout(tmp_path)
    name = _deploy(aws, tar_gz({"code/inference.py": INFERENCE}))
    d = _run(aws, tmp_path / "small", name, source_roots=[str(repo)])
    assert "it brings" not in d.verdict.fix["additions"][0]["why"]
    with open(repo / "src" / "tinypkg" / "checkpoint.pt", "wb") as f:
        f.truncate(21 * 2**20)  # sparse: the size is what a rebuilt archive would carry
    (repo / "src" / "tinypkg" / "__pycache__").mkdir()
    (repo / "src" / "tinypkg" / "__pycache__" / "big.pyc").write_bytes(b"\0" * 1024)  # left out of the archive
    d = _run(aws, tmp_path / "big", name, source_roots=[str(repo)])
    why = d.verdict.fix["additions"][0]["why"]
    assert "; it brings 21.0 MiB in 2 files (the largest, checkpoint.pt, 21.0 MiB)" in why, why
