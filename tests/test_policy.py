"""The printed policies: scoped, step 1 read-only, *-only actions apart, mode-aware; the command end to end on a
plain moto server (the topics' subscriptions read there). The chain under enforcement: test_policy_e2e.py."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import yaml
from endpoint_runbook.cli import main
from endpoint_runbook.params import load_params
from endpoint_runbook.permissions import STAR_ONLY, Grant, Where
from endpoint_runbook.policy import Subject, covers, step_policies, union

ROOT = Path(__file__).resolve().parents[1]
W = Where("ap-south-1", "111122223333")
ROLE = "arn:aws:iam::111122223333:role/service-role/Exec"


def subject(**kw) -> Subject:
    base = dict(where=W, endpoint="stygig-async-endpoint-1", config="stygig-async-config-1", model="stygig-model-1",
                model_data_url="s3://stygig-ml-s3/model-artifacts/job/output/model.tar.gz", role_arn=ROLE,
                output_path="s3://stygig-ml-s3/async-inference-results",
                failure_path="s3://stygig-ml-s3/async-inference-failures",
                topics=["arn:aws:sns:ap-south-1:111122223333:SNSMLTopic"],
                queues=["arn:aws:sqs:ap-south-1:111122223333:notes"], name_prefix="stygig")
    return Subject(**{**base, **kw})


def local_params(tmp_path: Path, **changes) -> dict:
    raw = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
    for section, values in changes.items():
        raw.setdefault(section, {}).update(values)
    (tmp_path / "params").mkdir(exist_ok=True)
    f = tmp_path / "params" / "p.yaml"
    f.write_text(yaml.safe_dump(raw))
    return load_params(f)


def test_step_one_is_read_only_and_star_actions_stand_apart(tmp_path):
    pols = step_policies(local_params(tmp_path), subject())
    assert pols["diagnose"].read_only and not pols["deploy"].read_only
    for sp in pols.values():
        for st in sp.document["Statement"]:
            if st["Resource"] == "*":
                assert st["Sid"].startswith("StarOnly") and set(st["Action"]) <= set(STAR_ONLY), st
            else:
                assert "*" not in st["Resource"] and not set(st["Action"]) & set(STAR_ONLY), st
    doc = union(pols.values()).document
    assert covers(doc, Grant("sagemaker:UpdateEndpoint", "arn:aws:sagemaker:ap-south-1:111122223333:endpoint/"
                                                            "stygig-async-endpoint-1"))
    assert not covers(doc, Grant("sagemaker:UpdateEndpoint", "arn:aws:sagemaker:ap-south-1:111122223333:endpoint/x"))
    assert covers(doc, Grant("sagemaker:CreateModel", "arn:aws:sagemaker:ap-south-1:111122223333:model/"
                                                       "stygig-fixed-99e0a79e0335-1864eb"))
    assert not covers(doc, Grant("sagemaker:CreateModel", "arn:aws:sagemaker:ap-south-1:111122223333:model/other"))
    assert not covers(doc, Grant("s3:PutObject", "arn:aws:s3:::stygig-ml-s3/model-artifacts/job/output/model.tar.gz"))
    assert covers(doc, Grant("s3:GetObject", "arn:aws:s3:::stygig-ml-s3/async-inference-results/abc.out"))
    # GetRole names the role by name; IAM judges it on the role's ARN (path included).
    assert covers(doc, Grant("iam:GetRole", "arn:aws:iam::111122223333:role/Exec"))
    pass_role = [st for st in doc["Statement"] if "iam:PassRole" in st["Action"]]
    assert len(pass_role) == 1 and pass_role[0]["Resource"] == [ROLE]
    assert pass_role[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_the_mode_and_the_queue_change_what_is_granted(tmp_path):
    in_place = step_policies(local_params(tmp_path), subject())
    assert {"sagemaker:UpdateEndpoint", "sagemaker:ListTags"} <= in_place["deploy"].actions
    assert "sagemaker:DeleteEndpoint" not in in_place["cleanup"].actions  # fixed in place: the endpoint stays
    new = step_policies(local_params(tmp_path, deploy={"mode": "new-endpoint"}), subject(queues=[]))
    assert "sagemaker:CreateEndpoint" in new["deploy"].actions and "sagemaker:UpdateEndpoint" not in new["deploy"].actions
    assert "sagemaker:DeleteEndpoint" in new["cleanup"].actions
    assert {"sqs:CreateQueue", "sns:Subscribe", "sqs:DeleteQueue"} <= new["verify"].actions  # a temporary queue
    temp = next(st for st in new["verify"].document["Statement"] if "sqs:CreateQueue" in st["Action"])
    assert temp["Resource"] == ["arn:aws:sqs:ap-south-1:111122223333:endpoint-runbook-verify-*"]
    dry = step_policies(local_params(tmp_path, cleanup={"dry_run": True}), subject())
    assert dry["cleanup"].read_only
    # A large archive written server-side that fails its verification is deleted: that key only, only then.
    target = "arn:aws:s3:::stygig-ml-s3/model-artifacts/stygig-async-fixed/model.tar.gz"
    wrong = next(n for n in in_place["rebuild_archive"].needs if "s3:DeleteObject" in n.actions)
    assert wrong.actions == ("s3:DeleteObject",) and wrong.resources == (target,) and wrong.on_failure
    assert not any("s3:DeleteObject" in in_place[s].actions for s in ("diagnose", "deploy", "verify", "cleanup"))
    full = step_policies(local_params(tmp_path, rebuild_archive={"upload": "full"}), subject())
    assert "s3:DeleteObject" not in full["rebuild_archive"].actions  # the full upload never deletes
    assert covers(in_place["rebuild_archive"].document, Grant("s3:GetObject", target))  # read back to verify it
    assert not covers(full["rebuild_archive"].document, Grant("s3:GetObject", target))  # overwrite: never read


def test_the_command_prints_and_writes_each_steps_policy(tmp_path, moto_url, capsys):
    session = boto3.session.Session(region_name="ap-south-1")
    sns, sqs = session.client("sns", endpoint_url=moto_url), session.client("sqs", endpoint_url=moto_url)
    topic = sns.create_topic(Name="policy-cmd-topic")["TopicArn"]
    q = sqs.create_queue(QueueName="policy-cmd-queue")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    run = tmp_path / "run"
    run.mkdir()
    account = qarn.split(":")[4]
    (run / "01-diagnose.json").write_text(json.dumps({"step": "diagnose", "endpoint": {
        "name": "shop-async-endpoint-1", "arn": f"arn:aws:sagemaker:ap-south-1:{account}:endpoint/shop-async-endpoint-1",
        "config_name": "shop-config-1", "model_name": "shop-model-1", "execution_role_arn": ROLE,
        "async_config": {"OutputConfig": {"S3OutputPath": "s3://shop/out", "S3FailurePath": "s3://shop/fail",
                                          "NotificationConfig": {"SuccessTopic": topic, "ErrorTopic": topic}}}},
        "model_data_url": "s3://shop/models/m/model.tar.gz"}))
    raw = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
    raw["aws"]["endpoint_url"] = moto_url
    raw["endpoint_name"] = "shop-async-endpoint-1"
    raw["rebuild_archive"]["target_uri"] = "s3://shop/models/m-fixed/model.tar.gz"
    raw["verify"]["inputs"] = ["s3://shop/in/a.png"]
    raw["cleanup"]["confirm"] = "shop-async-endpoint-1"
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "shop.yaml").write_text(yaml.safe_dump(raw))
    out = tmp_path / "policies"
    assert main(["policy", str(tmp_path / "params" / "shop.yaml"), "--run-dir", str(run), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "# ---- diagnose (read-only)" in printed and "[only grantable on *]" in printed
    files = sorted(p.name for p in out.iterdir())
    assert files == ["policy-all.json", "policy-cleanup.json", "policy-deploy.json", "policy-diagnose.json",
                     "policy-rebuild_archive.json", "policy-verify.json"]
    everything = json.loads((out / "policy-all.json").read_text())
    assert covers(everything, Grant("sqs:ReceiveMessage", qarn))  # the queue subscribed to the topics
    assert covers(everything, Grant("s3:PutObject", "arn:aws:s3:::shop/models/m-fixed/model.tar.gz"))
    assert covers(everything, Grant("sagemaker:DescribeModel",
                                    f"arn:aws:sagemaker:ap-south-1:{account}:model/shop-model-1"))
    assert len(json.dumps(everything, separators=(",", ":"))) < 10_240  # fits an inline role policy
