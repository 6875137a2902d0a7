"""Least privilege, proven on the local stack with IAM enforcement on (model containers: slow).

One stack seeded with stygig-incident. The policy ``endpoint-runbook policy`` prints for params/local.yaml is
held by an IAM user (as the stack can judge it: ``access.moto_view``), enforcement is switched on, and the steps
run in order, each one:

1. with one action removed from the policy, for a sample of actions per step (every write and delete action the
   step calls): the step fails with the ``access-denied`` finding naming that action, and nothing is left
   half-made (checked in the stack with an administrator's keys);
2. with exactly the policy: the step passes, and every AWS call it makes is recorded (the call log).

Then step 2's failure paths, each with the permission and without it: an upload that fails is aborted
(s3:AbortMultipartUpload), a wrong server-side write is deleted (s3:DeleteObject, on the target only), and the
server-side path itself runs under the policy. Last, the recorded calls are held against the printed per-step
policies: every call is covered, and every granted action was called by the chain or those scenarios.
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
from endpoint_runbook.aws import AccessDenied, Aws, AwsParams
from endpoint_runbook.local import access
from endpoint_runbook.local.faults import clear_faults, set_faults
from endpoint_runbook.local.scenarios import StygigIncident
from endpoint_runbook.params import load_params
from endpoint_runbook.permissions import Grant, is_write
from endpoint_runbook.policy import covers, step_policies, subject_from, union
from endpoint_runbook.records import read_record
from endpoint_runbook.runner import run_chain
from stacks import kept_environ, running_stack

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
NAMES = StygigIncident()
REGION = "ap-south-1"
TARGET = "model-artifacts/stygig-async-fixed/model.tar.gz"

#: The actions removed, one at a time, before each step's run with the exact policy: every write and delete action
#: each step calls (and a few reads). Step 2's failure-only actions (s3:AbortMultipartUpload, s3:DeleteObject) are
#: removed in the scenarios that call them, at the end.
REMOVED = {
    "diagnose": ["sagemaker:DescribeEndpoint", "logs:FilterLogEvents", "s3:GetObject", "cloudwatch:GetMetricStatistics"],
    "rebuild_archive": ["s3:GetObject", "s3:PutObject", "s3:ListBucketMultipartUploads"],
    "deploy": ["iam:PassRole", "sagemaker:AddTags", "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig",
               "sagemaker:UpdateEndpoint", "sagemaker:InvokeEndpointAsync"],
    "verify": ["sagemaker:InvokeEndpointAsync", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
    "cleanup": ["sagemaker:DeleteEndpointConfig", "sagemaker:DeleteModel"],
}
#: Step 2's extra runs (their call logs count as step 2's).
REBUILD_SCENARIOS = ["rebuild_archive-upload-fails", "rebuild_archive-server-side", "rebuild_archive-verify-fails"]


def without(document: dict[str, Any], action: str) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    for st in doc["Statement"]:
        st["Action"] = [a for a in st["Action"] if a != action]
    doc["Statement"] = [st for st in doc["Statement"] if st["Action"]]
    return doc


@pytest.fixture(scope="module")
def proof(tmp_path_factory):
    with kept_environ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "ENDPOINT_RUNBOOK_CALL_LOG"), \
            running_stack(tmp_path_factory, "policy-stack", startup_timeout=180, scenario="stygig-incident") as info:
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
        yield state


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
    summary = run_step(proof, step, policy=without(proof["everything"], action),
                       log=f"{step}-without-{action.replace(':', '-')}")  # its calls count as the step's too
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
    in_scenarios = {"rebuild_archive": {"s3:AbortMultipartUpload", "s3:DeleteObject"}}  # failure-only: removed there
    for step, sp in policies.items():  # every write and delete action is among those removed
        writes = {a for a in sp.actions if is_write(a)}
        assert writes <= set(REMOVED[step]) | in_scenarios.get(step, set()), (step, sorted(writes))
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
        if action == "s3:GetObject":  # the source's HEAD, while planning: stopped before anything was read
            assert rec is None
        else:
            assert rec["status"] == "failed" and action in rec["error"]
        assert "Contents" not in s3.list_objects_v2(Bucket=NAMES.bucket, Prefix=TARGET)  # nothing at the target
        assert not s3.list_multipart_uploads(Bucket=NAMES.bucket).get("Uploads")  # and no unfinished upload
    passes(proof, "rebuild_archive")


def test_deploy(proof):
    sm = proof["sm"]
    made_so_far = {"iam:PassRole": (0, 0), "sagemaker:AddTags": (0, 0), "sagemaker:CreateModel": (0, 0),
                   "sagemaker:CreateEndpointConfig": (1, 0), "sagemaker:UpdateEndpoint": (1, 1),
                   "sagemaker:InvokeEndpointAsync": (1, 1)}  # (models, configs) once the step stopped
    for action in REMOVED["deploy"]:
        failed = refused(proof, "deploy", action)
        rec = read_record(proof["run_dir"], "deploy")
        finding = rec["error"]["finding"]
        assert finding["code"] == "access-denied" and finding["data"]["action"] == action
        models, configs = fixed_names(proof)
        assert (len(models), len(configs)) == made_so_far[action], (models, configs)
        for made in rec["created"]:  # what this run made is whole (a rerun reuses it), and said so
            assert any(made.split("/", 1)[1] in d for d in finding["data"]["done"]), finding
        ep = sm.describe_endpoint(EndpointName=NAMES.endpoint)
        if action == "sagemaker:InvokeEndpointAsync":  # refused at the smoke request: the update went through
            assert ep["EndpointConfigName"] == configs[0] and ep["EndpointStatus"] == "InService"
            assert f"updated {NAMES.endpoint} to {configs[0]}" in finding["data"]["done"], finding
            assert "Already done" in failed.error
            continue
        assert ("Nothing was changed" in failed.error) if not rec["created"] else ("Already done" in failed.error)
        assert ep["EndpointConfigName"] == NAMES.endpoint_config and ep["EndpointStatus"] != "Updating"  # untouched
    passes(proof, "deploy")
    deployed = read_record(proof["run_dir"], "deploy")
    # The update went through in the run refused at its smoke request: this rerun found it done and smoked it.
    assert deployed["ok"] and deployed["actions"]["endpoint"] == "reused" and deployed["smoke"]["status"] == "completed"
    assert deployed["previous_endpoint_config_name"] == NAMES.endpoint_config  # the way back, for cleanup


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


def unfinished_uploads(proof: dict[str, Any]) -> list[dict[str, Any]]:
    return proof["s3"].list_multipart_uploads(Bucket=NAMES.bucket).get("Uploads", [])


def test_a_failed_upload_is_aborted_and_a_refused_abort_says_what_it_leaves(proof):
    """The scenario that calls what the chain does not: an upload that fails is aborted (s3:AbortMultipartUpload)."""
    set_faults(proof["url"], [{"match": {"service": "s3", "operation": "UploadPart"}, "fault": "5xx", "max": 1000}])
    try:
        failed = refused(proof, "rebuild_archive", "s3:AbortMultipartUpload")
        rec = read_record(proof["run_dir"], "rebuild_archive")
        assert rec["status"] == "failed" and "s3:AbortMultipartUpload" in rec["error"]
        assert "unfinished multipart upload is left" in failed.error and "InternalError" in failed.error, failed.error
        left = unfinished_uploads(proof)
        assert [u["Key"] for u in left] == [TARGET], left  # what the finding says is left is exactly what is left
        for u in left:  # the administrator does what the finding asks
            proof["s3"].abort_multipart_upload(Bucket=NAMES.bucket, Key=u["Key"], UploadId=u["UploadId"])
        summary = run_step(proof, "rebuild_archive", policy=proof["everything"], log="rebuild_archive-upload-fails")
    finally:
        clear_faults(proof["url"])
    assert summary.status == "failed" and "AccessDenied" not in summary.failed.error, summary.failed.error
    assert not unfinished_uploads(proof)
    ops = [c["operation"] for c in recorded(proof, "rebuild_archive-upload-fails")]
    assert "AbortMultipartUpload" in ops


def test_the_server_side_path_runs_under_the_policy(proof):
    """Step 2 composing the archive inside S3 (upload: server-side): its own calls (the composed upload opened
    and, the archive being small, given up for a whole upload; the written object read back) under the policy."""
    params = yaml.safe_load(proof["params_file"].read_text())
    params["rebuild_archive"]["upload"] = "server-side"
    server_side = proof["params_file"].with_name("server-side.yaml")
    server_side.write_text(yaml.safe_dump(params))
    access.set_policy(proof["url"], proof["keys"]["admin"], proof["everything"], region=REGION)
    os.environ["ENDPOINT_RUNBOOK_CALL_LOG"] = str(proof["logs"] / "rebuild_archive-server-side.jsonl")
    try:
        summary = run_chain(server_side, steps=["rebuild_archive"], run_dir=proof["run_dir"])
    finally:
        os.environ.pop("ENDPOINT_RUNBOOK_CALL_LOG", None)
    assert summary.status == "passed", json.dumps(summary.to_dict(), indent=1)
    rec = read_record(proof["run_dir"], "rebuild_archive")
    assert rec["verification"]["ok"] and not unfinished_uploads(proof)
    ops = {c["operation"] for c in recorded(proof, "rebuild_archive-server-side")}
    assert {"CreateMultipartUpload", "HeadObject"} <= ops and ops & {"AbortMultipartUpload", "UploadPartCopy"}, ops


def test_a_wrong_write_is_deleted_with_the_steps_permission_and_a_refused_delete_says_so(proof, tmp_path):
    """Step 2's server-side write, replaced before its verification: deleted (s3:DeleteObject on the target only);
    without that permission the refusal names the wrong object it leaves. The step's own functions, as the user."""
    from endpoint_runbook.archive.remote import plan_splice, verify_or_remove, write_splice
    from endpoint_runbook.errors import CheckFailed

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("X = 1\n")
    s3 = Aws(AwsParams(region=REGION, endpoint_url=proof["url"])).client("s3")  # the user's keys

    def wrong_write(n: int) -> tuple[Any, dict[str, Any]]:
        head = proof["s3"].head_object(Bucket=NAMES.bucket, Key=NAMES.archive_key)
        plan = plan_splice(s3, f"s3://{NAMES.bucket}/{NAMES.archive_key}", [(tmp_path / "pkg", "code/extra")],
                           check_dir=tmp_path / f"check{n}", size=head["ContentLength"], etag=head["ETag"])
        written = write_splice(s3, plan, f"s3://{NAMES.bucket}/{TARGET}", overwrite=True)
        proof["s3"].put_object(Bucket=NAMES.bucket, Key=TARGET, Body=b"not the archive")  # replaced meanwhile
        return plan, written

    access.set_policy(proof["url"], proof["keys"]["admin"], without(proof["everything"], "s3:DeleteObject"),
                      region=REGION)
    plan, written = wrong_write(1)
    with pytest.raises(AccessDenied) as e:
        verify_or_remove(s3, plan, written)
    f = e.value.finding
    assert f.code == "access-denied" and f.data["action"] == "s3:DeleteObject"
    assert f.data["resource"] == f"arn:aws:s3:::{NAMES.bucket}/{TARGET}" and "still there" in f.data["done"][0]
    assert proof["s3"].get_object(Bucket=NAMES.bucket, Key=TARGET)["Body"].read() == b"not the archive"

    access.set_policy(proof["url"], proof["keys"]["admin"], proof["everything"], region=REGION)
    os.environ["ENDPOINT_RUNBOOK_CALL_LOG"] = str(proof["logs"] / "rebuild_archive-verify-fails.jsonl")
    try:
        plan, written = wrong_write(2)
        with pytest.raises(CheckFailed) as e2:
            verify_or_remove(s3, plan, written)
    finally:
        os.environ.pop("ENDPOINT_RUNBOOK_CALL_LOG", None)
    assert e2.value.code == "result-mismatch"
    assert "Contents" not in proof["s3"].list_objects_v2(Bucket=NAMES.bucket, Prefix=TARGET)  # never left for deploy
    assert "DeleteObject" in [c["operation"] for c in recorded(proof, "rebuild_archive-verify-fails")]


def recorded(proof: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (proof["logs"] / f"{name}.jsonl").read_text().splitlines()]


def test_every_recorded_call_is_covered_and_every_granted_action_is_called(proof):
    called: set[str] = set()
    for step, sp in proof["policies"].items():
        names = sorted(p.name[:-len(".jsonl")] for p in proof["logs"].glob(f"{step}*.jsonl"))  # refused runs too
        assert step in names and (step != "rebuild_archive" or set(REBUILD_SCENARIOS) <= set(names)), names
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
    assert {"iam:PassRole", "sagemaker:AddTags"} <= called  # derived from the calls' parameters, not their names
