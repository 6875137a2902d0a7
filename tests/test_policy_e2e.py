"""Least privilege, proven on the local stack with IAM enforcement on (model containers: slow).

One stack seeded with stygig-incident. The policy ``endpoint-runbook policy`` prints for params/local.yaml is
held by an IAM user (as the stack can judge it: ``access.moto_view``), enforcement is switched on, and the steps
run in order, each one:

1. with one action removed from the policy, for a sample of actions per step (every write and delete action the
   stack can observe): the step fails with the ``access-denied`` finding naming that action, and nothing is left
   half-made (checked in the stack with an administrator's keys);
2. with exactly the policy: the step passes, and every AWS call it makes is recorded (the call log).

Then the recorded calls are held against the printed per-step policies: every call is covered, and every granted
action was called by the chain or the scenario run here (a rebuild whose upload fails: the abort of its upload).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from endpoint_runbook.aws import Aws, AwsParams
from endpoint_runbook.local import access
from endpoint_runbook.local.faults import clear_faults, set_faults
from endpoint_runbook.local.scenarios import StygigIncident
from endpoint_runbook.params import load_params
from endpoint_runbook.permissions import Grant, is_write
from endpoint_runbook.policy import covers, step_policies, subject_from, union
from endpoint_runbook.records import read_record
from endpoint_runbook.runner import run_chain
from stacks import running_stack

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
NAMES = StygigIncident()
REGION = "ap-south-1"
TARGET = "model-artifacts/stygig-async-fixed/model.tar.gz"

#: The actions removed, one at a time, before each step's run with the exact policy. Every write and delete action
#: of the policy is here except iam:PassRole and sagemaker:AddTags, which the stack cannot observe (moto checks no
#: action a call implies), and s3:AbortMultipartUpload, only called when an upload fails (the scenario at the end).
REMOVED = {
    "diagnose": ["sagemaker:DescribeEndpoint", "logs:FilterLogEvents", "s3:GetObject", "cloudwatch:GetMetricStatistics"],
    "rebuild_archive": ["s3:PutObject", "s3:ListBucketMultipartUploads"],
    "deploy": ["sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:UpdateEndpoint"],
    "verify": ["sagemaker:InvokeEndpointAsync", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
    "cleanup": ["sagemaker:DeleteEndpointConfig", "sagemaker:DeleteModel"],
}
UNOBSERVABLE = {"iam:PassRole", "sagemaker:AddTags", "s3:AbortMultipartUpload"}


def without(document: dict[str, Any], action: str) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    for st in doc["Statement"]:
        st["Action"] = [a for a in st["Action"] if a != action]
    doc["Statement"] = [st for st in doc["Statement"] if st["Action"]]
    return doc


@pytest.fixture(scope="module")
def proof(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "ENDPOINT_RUNBOOK_CALL_LOG")}
    with running_stack(tmp_path_factory, "policy-stack", startup_timeout=180, scenario="stygig-incident") as info:
        params = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
        params["aws"]["endpoint_url"] = info.url
        params["diagnose"]["source_roots"] = [str(ROOT / "examples" / "stygig")]
        base = tmp_path_factory.mktemp("policy")
        (base / "params").mkdir()
        params_file = base / "params" / "local.yaml"
        params_file.write_text(yaml.safe_dump(params))
        loaded = load_params(params_file)
        # The policy, from the params and what DescribeEndpoint & co. say (the reads step 1 makes).
        subject = subject_from(Aws(AwsParams(region=REGION, endpoint_url=info.url)), loaded)
        policies = step_policies(loaded, subject)
        everything = union(policies.values()).document
        keys = access.enforce(info.url, everything, region=REGION)
        os.environ.update(keys["user"])
        admin = boto3.session.Session(aws_access_key_id=keys["admin"]["AWS_ACCESS_KEY_ID"],
                                      aws_secret_access_key=keys["admin"]["AWS_SECRET_ACCESS_KEY"], region_name=REGION)
        state = {"url": info.url, "params_file": params_file, "run_dir": base / "run", "logs": base / "calls",
                 "policies": policies, "everything": everything, "keys": keys, "subject": subject,
                 "sm": admin.client("sagemaker", endpoint_url=info.url), "s3": admin.client("s3", endpoint_url=info.url)}
        state["logs"].mkdir()
        try:
            yield state
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def run_step(proof: dict[str, Any], step: str, *, policy: dict[str, Any], log: str | None = None):
    access.set_policy(proof["url"], proof["keys"]["admin"], policy, region=REGION)
    if log:
        os.environ["ENDPOINT_RUNBOOK_CALL_LOG"] = str(proof["logs"] / f"{log}.jsonl")
    else:
        os.environ.pop("ENDPOINT_RUNBOOK_CALL_LOG", None)
    try:
        return run_chain(proof["params_file"], steps=[step], run_dir=proof["run_dir"])
    finally:
        os.environ.pop("ENDPOINT_RUNBOOK_CALL_LOG", None)


def refused(proof: dict[str, Any], step: str, action: str):
    summary = run_step(proof, step, policy=without(proof["everything"], action))
    failed = summary.failed
    assert failed is not None and failed.step == step, json.dumps(summary.to_dict(), indent=1)
    assert failed.error.startswith("AccessDenied") and action in failed.error, failed.error
    return failed


def passes(proof: dict[str, Any], step: str) -> None:
    summary = run_step(proof, step, policy=proof["everything"], log=step)
    assert summary.status == "passed", json.dumps(summary.to_dict(), indent=1)


def fixed_names(proof: dict[str, Any]) -> tuple[list[str], list[str]]:
    sm = proof["sm"]
    models = [m["ModelName"] for m in sm.list_models()["Models"] if m["ModelName"].startswith("stygig-fixed-")]
    configs = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]
               if c["EndpointConfigName"].startswith("stygig-async-fixed-")]
    return models, configs


def test_the_printed_policy_is_scoped(proof):
    policies = proof["policies"]
    assert policies["diagnose"].read_only
    assert not any(is_write(a) for a in policies["diagnose"].actions)
    doc = proof["everything"]
    star = [st for st in doc["Statement"] if st["Resource"] == "*"]
    assert star and all("StarOnly" in st["Sid"] for st in star)  # only what AWS grants on * alone
    pass_role = next(st for st in doc["Statement"] if st["Action"] == ["iam:PassRole"])
    assert pass_role["Resource"] == [proof["subject"].role_arn]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert covers(doc, Grant("s3:PutObject", f"arn:aws:s3:::{NAMES.bucket}/{TARGET}"))
    assert not covers(doc, Grant("s3:PutObject", f"arn:aws:s3:::{NAMES.bucket}/{NAMES.archive_key}"))


def test_diagnose(proof):
    for action in REMOVED["diagnose"]:
        refused(proof, "diagnose", action)
        assert read_record(proof["run_dir"], "diagnose") is None  # read-only: it stops before its record
    passes(proof, "diagnose")


def test_rebuild_archive(proof):
    s3 = proof["s3"]
    for action in REMOVED["rebuild_archive"]:
        refused(proof, "rebuild_archive", action)
        rec = read_record(proof["run_dir"], "rebuild_archive")
        assert rec["status"] == "failed" and action in rec["error"]
        assert "Contents" not in s3.list_objects_v2(Bucket=NAMES.bucket, Prefix=TARGET)  # nothing at the target
        assert not s3.list_multipart_uploads(Bucket=NAMES.bucket).get("Uploads")  # and no unfinished upload
    passes(proof, "rebuild_archive")


def test_deploy(proof):
    sm = proof["sm"]
    made_so_far = {"sagemaker:CreateModel": (0, 0), "sagemaker:CreateEndpointConfig": (1, 0),
                   "sagemaker:UpdateEndpoint": (1, 1)}  # (models, configs) once the step stopped
    for action in REMOVED["deploy"]:
        failed = refused(proof, "deploy", action)
        rec = read_record(proof["run_dir"], "deploy")
        finding = rec["error"]["finding"]
        assert finding["code"] == "access-denied" and finding["data"]["action"] == action
        models, configs = fixed_names(proof)
        assert (len(models), len(configs)) == made_so_far[action], (models, configs)
        for made in rec["created"]:  # what this run made is whole (a rerun reuses it), and said so
            assert any(made.split("/", 1)[1] in d for d in finding["data"]["done"]), finding
        assert ("Nothing was changed" in failed.error) if not rec["created"] else ("Already done" in failed.error)
        ep = sm.describe_endpoint(EndpointName=NAMES.endpoint)  # the endpoint itself is untouched
        assert ep["EndpointConfigName"] == NAMES.endpoint_config and ep["EndpointStatus"] != "Updating"
    passes(proof, "deploy")
    deployed = read_record(proof["run_dir"], "deploy")
    assert deployed["ok"] and deployed["actions"]["endpoint"] == "updated"


def test_verify(proof):
    for action in REMOVED["verify"]:
        refused(proof, "verify", action)
        rec = read_record(proof["run_dir"], "verify")
        finding = rec["error"]["finding"]
        assert finding["data"]["action"] == action
        sent = [r for r in rec["requests"] if r["status"] != "skipped"]
        if action == "sagemaker:InvokeEndpointAsync":
            assert not sent and not finding["data"]["done"]  # refused before anything was sent
        else:
            assert sent and finding["data"]["done"]  # what was sent is said
        assert rec["notifications"]["mode"] == "existing"  # the scenario's queue: no temporary one to leave behind
    passes(proof, "verify")
    assert read_record(proof["run_dir"], "verify")["replay"]["counts"]["failed_again"] == 0


def test_cleanup(proof):
    sm = proof["sm"]
    for action in REMOVED["cleanup"]:
        refused(proof, "cleanup", action)
        rec = read_record(proof["run_dir"], "cleanup")
        assert rec["access_denied"]["data"]["action"] == action
        configs = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
        models = [m["ModelName"] for m in sm.list_models()["Models"]]
        if action == "sagemaker:DeleteEndpointConfig":  # the first delete: nothing gone
            assert NAMES.endpoint_config in configs and NAMES.model in models and rec["deleted"] == []
        else:  # the config went (whole), its model stays for the rerun, and the record says which
            assert NAMES.endpoint_config not in configs and NAMES.model in models
            assert rec["access_denied"]["data"]["done"] == [f"deleted endpoint-config {NAMES.endpoint_config}"]
    passes(proof, "cleanup")
    assert NAMES.model not in [m["ModelName"] for m in sm.list_models()["Models"]]


def test_a_failed_upload_is_aborted_with_the_policys_permission(proof):
    """The scenario that calls what the chain does not: an upload that fails is aborted (s3:AbortMultipartUpload)."""
    set_faults(proof["url"], [{"match": {"service": "s3", "operation": "UploadPart"}, "fault": "5xx", "max": 100}])
    try:
        summary = run_step(proof, "rebuild_archive", policy=proof["everything"], log="rebuild_archive-upload-fails")
    finally:
        clear_faults(proof["url"])
    assert summary.status == "failed"
    assert not proof["s3"].list_multipart_uploads(Bucket=NAMES.bucket).get("Uploads")
    ops = [json.loads(x)["operation"] for x in (proof["logs"] / "rebuild_archive-upload-fails.jsonl").open()]
    assert "AbortMultipartUpload" in ops


def recorded(proof: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (proof["logs"] / f"{name}.jsonl").read_text().splitlines()]


def test_every_recorded_call_is_covered_and_every_granted_action_is_called(proof):
    called: set[str] = set()
    for step, sp in proof["policies"].items():
        names = [step] + (["rebuild_archive-upload-fails"] if step == "rebuild_archive" else [])
        step_called: set[str] = set()
        for name in names:
            for call in recorded(proof, name):
                for g in call["grants"]:
                    grant = Grant(g["action"], g["resource"])
                    assert covers(sp.document, grant), f"{step}: {call['operation']} needs {grant} (not granted)"
                    step_called.add(grant.action)
        called |= step_called
        unused = {a for n in sp.needs if not n.on_failure for a in n.actions} - step_called
        assert not unused, f"{step} is granted {sorted(unused)} but never called them"
    granted = {a for sp in proof["policies"].values() for a in sp.actions}
    assert not granted - called, f"granted, never called by the chain or the scenarios: {sorted(granted - called)}"
    assert UNOBSERVABLE <= called  # the call log sees what the stack cannot (derived from the calls' parameters)
