"""Step 1 — diagnose: the incident named with its evidence, and a zoo of purpose-built broken archives."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import yaml
from endpoint_runbook import diagnose
from endpoint_runbook.errors import NotFoundError
from endpoint_runbook.records import read_record
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
