"""Issue 22's acceptance: the four real projects (tests/realshapes.py), each from its broken archive behind an
asynchronous endpoint on the local stack in the image it deploys with, carried by the runbook's own five steps
(``run_chain``: the notebooks, headless) with the repository checkout as the source root.

- swinir2: ``swinir`` (a namespace package) added → deployed in place → verify serves an upscaled picture from
  the project's own request → the superseded config and model removed.
- yif-AI: all three packages proposed at once, placed once each → the imports pass → the next failure named
  before deploy: the repository's own model_fn signature (``model-fn-signature``).
- PlasticDetectionModel: ``marinedebrisdetector_mod`` found below the repository root → added → model_fn's
  encoder download named (host and call), not a missing module.
- Stygig-Model-2: ``src/stygig/`` and ``config/`` placed once each → the CLIP weights download named.

The three whose next failure is the model's own stop at step 2 (its load check fails): nothing is deployed.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import realshapes
import yaml
from endpoint_runbook.records import read_record
from endpoint_runbook.runner import run_chain
from stacks import crash_looping, log_text, running_stack

pytestmark = pytest.mark.slow

REGION = "ap-south-1"
REPOS = {"stygig": realshapes.ROOT / "stygig", "plasticdetection": realshapes.ROOT / "plasticdetection",
         "yif-ai": realshapes.ROOT / "yif-ai", "swinir2": realshapes.ROOT / "swinir2"}
MISSING = {"stygig": "stygig", "plasticdetection": "marinedebrisdetector_mod", "yif-ai": "future_attention",
           "swinir2": "swinir"}
EXT = {"application/json": "json", "application/x-image": "png", "image/tiff": "tiff", "image/jpeg": "jpg"}



@pytest.fixture(scope="module")
def outage(tmp_path_factory):
    """Each project's broken archive behind an async endpoint (its image, its entry script), crash-looping."""
    from endpoint_runbook.aws import Aws, AwsParams

    with running_stack(tmp_path_factory, "realprojects-stack", startup_timeout=900) as info:
        aws = Aws(AwsParams(region=REGION, endpoint_url=info.url, max_attempts=3))
        s3, sm, sns = (aws.client(s) for s in ("s3", "sagemaker", "sns"))
        out = tmp_path_factory.mktemp("realprojects")
        role = aws.client("iam").create_role(RoleName="realprojects-sagemaker", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                   "Principal": {"Service": "sagemaker.amazonaws.com"}}]}))["Role"]["Arn"]
        made = {}
        for project, spec in realshapes.PROJECTS.items():
            tag = uuid.uuid4().hex[:4]
            name, bucket = f"rp-{project}-{tag}", f"rp-{project}-{tag}"
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
            s3.upload_file(str(realshapes.build(project, "broken", out / project)), bucket, "model/model.tar.gz")
            req = spec.request()
            request_uri = f"s3://{bucket}/requests/request.{EXT.get(req.content_type, 'bin')}"
            s3.put_object(Bucket=bucket, Key=request_uri.split("/", 3)[3], Body=req.body, ContentType=req.content_type)
            topic = sns.create_topic(Name=f"{name}-events")["TopicArn"]
            sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={
                "Image": spec.image, "ModelDataUrl": f"s3://{bucket}/model/model.tar.gz",
                "Environment": {"SAGEMAKER_PROGRAM": spec.program, "SAGEMAKER_MODEL_SERVER_WORKERS": "1"}})
            sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
                "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 1}], AsyncInferenceConfig={"OutputConfig": {
                    "S3OutputPath": f"s3://{bucket}/async-out/", "S3FailurePath": f"s3://{bucket}/async-failures/",
                    "NotificationConfig": {"SuccessTopic": topic, "ErrorTopic": topic}}})
            sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
            made[project] = {"name": name, "bucket": bucket, "request": request_uri}
        yield {"url": info.url, "made": made, "aws": aws, "broken": _wait_until_broken(aws, made)}


def _wait_until_broken(aws, made: dict[str, dict[str, str]], timeout: float = 900) -> dict[str, str | None]:
    """Project → None once its endpoint logs the missing module or a crash loop, else what was seen instead (its
    status, FailureReason and last log lines): each test checks its own project, so one endpoint that never gets
    there fails its own test with the reason, not the other three."""
    logs, sm = aws.client("logs"), aws.client("sagemaker")
    deadline, waiting = time.monotonic() + timeout, set(made)
    seen: dict[str, str | None] = {}
    while waiting and time.monotonic() < deadline:
        for project in sorted(waiting):
            text = log_text(logs, f"/aws/sagemaker/Endpoints/{made[project]['name']}")
            d = sm.describe_endpoint(EndpointName=made[project]["name"])
            if f"No module named '{MISSING[project]}'" in text or crash_looping(text):
                seen[project] = None
                waiting.discard(project)
            else:
                tail = "\n".join(text.splitlines()[-40:])
                seen[project] = (f"{d['EndpointStatus']} ({d.get('FailureReason') or 'no FailureReason'}); "
                                 f"last log lines:\n{tail}")
                if d["EndpointStatus"] == "Failed":
                    waiting.discard(project)
        time.sleep(3)
    return seen


def _run(outage, tmp_path: Path, project: str):
    assert outage["broken"][project] is None, f"{project}'s broken endpoint never crash-looped: {outage['broken'][project]}"
    m = outage["made"][project]
    params = {
        "aws": {"region": REGION, "endpoint_url": outage["url"], "max_attempts": 4},
        "endpoint_name": m["name"],
        "diagnose": {"source_roots": [str(REPOS[project])], "log_window_minutes": 120},
        "rebuild_archive": {"target_uri": f"s3://{m['bucket']}/model-fixed/model.tar.gz"},
        "deploy": {"mode": "in-place", "wait_timeout": 900, "smoke_timeout": 600},
        "verify": {"inputs": [m["request"]], "count": 2, "deadline_seconds": 600},
        "cleanup": {"confirm": m["name"], "dry_run": False, "release_rollback": True},
    }
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    run_dir = tmp_path / "run"
    return run_chain(params_file, run_dir=run_dir), run_dir


def _targets(diag: dict) -> list[str]:
    return sorted(a["target"] for a in diag["fix"]["additions"])


def _codes(lc: dict) -> list[str]:
    return [f["code"] for f in lc.get("findings") or []]


def test_swinir2_is_fixed_in_place_and_serves_an_upscaled_picture(outage, tmp_path):
    summary, run_dir = _run(outage, tmp_path, "swinir2")
    diag = read_record(run_dir, "diagnose")
    assert diag["verdict"]["cause"] == "missing-module", diag["verdict"]
    assert _targets(diag) == ["code/swinir/"] and diag["verdict"]["after_fix"]["ok"], diag["verdict"]
    assert summary.status == "passed", summary.to_dict()
    assert [s.step for s in summary.steps] == ["diagnose", "rebuild_archive", "deploy", "verify", "cleanup"]
    rebuilt = read_record(run_dir, "rebuild_archive")
    assert {a["path"] for a in rebuilt["diff"]["added"]} == {"code/swinir/load_model.py",
                                                             "code/swinir/network_swin2sr.py"}  # no __init__.py
    deployed = read_record(run_dir, "deploy")
    assert deployed["mode"] == "in-place" and deployed["smoke"]["status"] == "completed", deployed
    verified = read_record(run_dir, "verify")
    assert verified["ok"] and verified["figures"]["not_ok"] == 0, verified["figures"]
    # the output is the project's own: a JSON with the picture, four times the request's 24x16 frame
    s3 = outage["aws"].client("s3")
    out_uri = verified["requests"][0]["output_location"]
    bucket, key = out_uri[5:].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert realshapes.swinir_upscaled_size(body) == (96, 64)
    cleaned = read_record(run_dir, "cleanup")
    assert cleaned["status"] == "done", cleaned
    sm = outage["aws"].client("sagemaker")
    configs = {c["EndpointConfigName"] for c in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]}
    assert outage["made"]["swinir2"]["name"] not in configs  # the superseded config is gone; the endpoint serves
    assert sm.describe_endpoint(EndpointName=outage["made"]["swinir2"]["name"])["EndpointStatus"] == "InService"


def test_yif_ai_all_three_packages_then_its_own_signature_named_before_deploy(outage, tmp_path):
    summary, run_dir = _run(outage, tmp_path, "yif-ai")
    diag = read_record(run_dir, "diagnose")
    assert _targets(diag) == ["code/baseline_transformer/", "code/future_attention/", "code/utils/"], diag["fix"]
    after = diag["verdict"]["after_fix"]
    assert after["checked"] and after["stage"] == "model_fn", after
    assert "model-fn-signature" in _codes(after["load_check"]), after["load_check"]["findings"]
    assert summary.failed is not None and summary.failed.step == "rebuild_archive", summary.to_dict()
    rebuilt = read_record(run_dir, "rebuild_archive")
    assert not rebuilt["load_check"]["missing_module"] and "model-fn-signature" in _codes(rebuilt["load_check"])
    assert read_record(run_dir, "deploy") is None  # nothing deployed


@pytest.mark.parametrize("project, targets, file", [
    ("plasticdetection", ["code/marinedebrisdetector_mod/"], "code/marinedebrisdetector_mod/model/model.py"),
    ("stygig", ["config/", "src/stygig/"], "code/inference.py"),
])
def test_the_fix_is_found_and_the_startup_download_named_before_deploy(outage, tmp_path, project, targets, file):
    summary, run_dir = _run(outage, tmp_path, project)
    diag = read_record(run_dir, "diagnose")
    assert diag["verdict"]["cause"] == "missing-module" and _targets(diag) == targets, diag["verdict"]
    after = diag["verdict"]["after_fix"]
    assert after["checked"] and after["stage"] == "model_fn" and not after["load_check"]["missing_module"], after
    downloads = [f for f in after["load_check"]["findings"] if f["code"] == "startup-download"]
    assert downloads and all("huggingface.co" in f["message"] and file in f["message"] for f in downloads), downloads
    assert summary.failed is not None and summary.failed.step == "rebuild_archive", summary.to_dict()
    assert read_record(run_dir, "deploy") is None
