"""IAM enforcement on the local stack, and what a refused call becomes in the runbook (no model containers).

The stack judges like AWS where moto can: the action of every call, the resource of S3, SQS, IAM and the runtime's
invocations; a refusal reaches the runbook as ``AccessDenied`` (code ``access-denied``) naming the action and the
resource to grant, never as botocore's ClientError.
"""

from __future__ import annotations

import contextlib
import io
import json

import boto3
import botocore.exceptions
import pytest
from endpoint_runbook.aws import AccessDenied, Aws, AwsParams
from endpoint_runbook.local import access
from endpoint_runbook.permissions import Grant, Where, grants_for
from stacks import running_stack

REGION = "ap-south-1"


@pytest.fixture(scope="module")
def enforced(tmp_path_factory):
    """A stack with a bucket, an object, a queue; then a user allowed a few things, and enforcement on."""
    with running_stack(tmp_path_factory, "access-stack", startup_timeout=60) as info:
        seed = Aws(AwsParams(region=REGION, endpoint_url=info.url))
        s3 = seed.client("s3")
        s3.create_bucket(Bucket="allowed", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.create_bucket(Bucket="other", CreateBucketConfiguration={"LocationConstraint": REGION})
        for b in ("allowed", "other"):
            s3.put_object(Bucket=b, Key="in/a.txt", Body=b"hello")
        q = seed.client("sqs").create_queue(QueueName="notes")["QueueUrl"]
        seed.client("sqs").create_queue(QueueName="elsewhere")
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket", "s3:PutObject"],
             "Resource": ["arn:aws:s3:::allowed", "arn:aws:s3:::allowed/*"]},
            {"Effect": "Allow", "Action": ["sqs:ReceiveMessage"], "Resource": "arn:aws:sqs:ap-south-1:123456789012:notes"},
            {"Effect": "Allow", "Action": ["sagemaker:DescribeEndpoint"],
             "Resource": "arn:aws:sagemaker:ap-south-1:123456789012:endpoint/some"},
            {"Effect": "Allow", "Action": ["cloudwatch:GetMetricStatistics"], "Resource": "*"},
        ]}
        keys = access.enforce(info.url, policy, region=REGION)
        yield {"url": info.url, "keys": keys, "queue": q, "policy": policy}


def as_user(enforced, monkeypatch, who: str = "user") -> Aws:
    for k, v in enforced["keys"][who].items():
        monkeypatch.setenv(k, v)
    return Aws(AwsParams(region=REGION, endpoint_url=enforced["url"], max_attempts=2))


def test_granted_calls_pass_and_resources_are_judged_for_s3(enforced, monkeypatch):
    aws = as_user(enforced, monkeypatch)
    s3 = aws.client("s3")
    assert s3.get_object(Bucket="allowed", Key="in/a.txt")["Body"].read() == b"hello"  # the stack's streamed GET
    s3.head_bucket(Bucket="allowed")  # HeadBucket is s3:ListBucket
    s3.put_object(Bucket="allowed", Key="out/b.txt", Body=b"x")
    with pytest.raises(AccessDenied) as e:
        s3.get_object(Bucket="other", Key="in/a.txt")
    assert e.value.code == "access-denied"
    f = e.value.finding
    assert f.code == "access-denied" and f.data["action"] == "s3:GetObject"
    assert f.data["resource"] == "arn:aws:s3:::other/in/a.txt"
    assert "s3:GetObject on arn:aws:s3:::other/in/a.txt" in str(e.value)
    with pytest.raises(AccessDenied) as e:  # a HEAD's 403 has no body: every permission it needs is named
        s3.head_object(Bucket="other", Key="in/a.txt")
    assert {g["action"] for g in e.value.finding.data["missing"]} == {"s3:GetObject", "s3:ListBucket"}


def test_actions_are_judged_everywhere_and_resources_for_sqs(enforced, monkeypatch):
    aws = as_user(enforced, monkeypatch)
    sqs = aws.client("sqs")
    sqs.receive_message(QueueUrl=enforced["queue"], WaitTimeSeconds=0)
    with pytest.raises(AccessDenied) as e:
        sqs.receive_message(QueueUrl=enforced["queue"].replace("notes", "elsewhere"), WaitTimeSeconds=0)
    assert e.value.finding.data["resource"].endswith(":elsewhere")
    with pytest.raises(AccessDenied) as e:
        sqs.delete_message(QueueUrl=enforced["queue"], ReceiptHandle="x")
    assert e.value.finding.data["action"] == "sqs:DeleteMessage"
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    aws.client("cloudwatch").get_metric_statistics(  # signs as "monitoring": judged as cloudwatch:*
        Namespace="AWS/SageMaker", MetricName="ApproximateBacklogSize", StartTime=now - dt.timedelta(minutes=5),
        EndTime=now, Period=60, Statistics=["Maximum"])
    with pytest.raises(AccessDenied) as e:
        aws.client("sagemaker").list_endpoints()
    assert e.value.finding.data["action"] == "sagemaker:ListEndpoints" and e.value.finding.data["resource"] == "*"


def test_a_missing_endpoint_without_list_endpoints_says_it_could_not_list(enforced, monkeypatch):
    from endpoint_runbook.endpoint.facts import endpoint_facts
    from endpoint_runbook.errors import NotFoundError

    aws = as_user(enforced, monkeypatch)
    with pytest.raises(NotFoundError) as e:  # DescribeEndpoint granted, ListEndpoints (the near misses) not
        endpoint_facts(aws.client("sagemaker"), "some")
    assert e.value.code == "endpoint-not-found"
    assert "could not be listed (sagemaker:ListEndpoints" in e.value.hint and "none" not in e.value.hint


def test_the_runtime_is_judged_on_the_endpoint(enforced, monkeypatch):
    aws = as_user(enforced, monkeypatch)
    with pytest.raises(AccessDenied) as e:
        aws.client("sagemaker-runtime").invoke_endpoint_async(EndpointName="some", InputLocation="s3://allowed/in/a.txt")
    assert e.value.finding.data["action"] == "sagemaker:InvokeEndpointAsync"
    assert e.value.finding.data["resource"] == "arn:aws:sagemaker:ap-south-1:123456789012:endpoint/some"


def test_what_a_create_implies_is_judged_pass_role_with_its_condition_and_add_tags(enforced, monkeypatch):
    role = "arn:aws:iam::123456789012:role/exec"
    model = "arn:aws:sagemaker:ap-south-1:123456789012:model/m-ok"

    def with_grants(*extra: dict) -> None:
        doc = {**enforced["policy"], "Statement": [*enforced["policy"]["Statement"],
                                                   {"Effect": "Allow", "Action": "sagemaker:CreateModel",
                                                    "Resource": "*"}, *extra]}
        access.set_policy(enforced["url"], enforced["keys"]["admin"], doc, region=REGION)

    def create(name: str) -> None:
        aws.client("sagemaker").create_model(
            ModelName=name, ExecutionRoleArn=role, Tags=[{"Key": "run", "Value": "1"}],
            PrimaryContainer={"Image": "1.dkr.ecr.ap-south-1.amazonaws.com/x:1", "ModelDataUrl": "s3://allowed/m"})

    aws = as_user(enforced, monkeypatch)
    pass_role = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role,
                 "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}
    add_tags = {"Effect": "Allow", "Action": "sagemaker:AddTags", "Resource": model}
    admin = boto3.session.Session(**{k.lower(): v for k, v in enforced["keys"]["admin"].items()},
                                  region_name=REGION).client("sagemaker", endpoint_url=enforced["url"])
    try:
        with_grants(add_tags)
        with pytest.raises(AccessDenied) as e:
            create("m-ok")
        assert e.value.finding.data["action"] == "iam:PassRole" and e.value.finding.data["resource"] == role
        with_grants(add_tags, {**pass_role, "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}})
        with pytest.raises(AccessDenied) as e:  # passed to SageMaker, granted for EC2 only
            create("m-ok")
        assert e.value.finding.data["action"] == "iam:PassRole"
        with_grants(pass_role)
        with pytest.raises(AccessDenied) as e:
            create("m-ok")
        assert e.value.finding.data["action"] == "sagemaker:AddTags" and e.value.finding.data["resource"] == model
        with_grants(pass_role, add_tags)
        with pytest.raises(AccessDenied) as e:  # AddTags is judged on the model it tags
            create("m-other")
        assert e.value.finding.data["action"] == "sagemaker:AddTags"
        assert not [m for m in admin.list_models()["Models"] if m["ModelName"].startswith("m-")]  # nothing made
        create("m-ok")
        assert admin.describe_model(ModelName="m-ok")["ExecutionRoleArn"] == role
    finally:
        access.set_policy(enforced["url"], enforced["keys"]["admin"], enforced["policy"], region=REGION)


@contextlib.contextmanager
def granted(enforced, *statements: dict):
    """The user holds the fixture's policy plus ``statements`` while the block runs."""
    doc = {**enforced["policy"], "Statement": [*enforced["policy"]["Statement"], *statements]}
    access.set_policy(enforced["url"], enforced["keys"]["admin"], doc, region=REGION)
    try:
        yield
    finally:
        access.set_policy(enforced["url"], enforced["keys"]["admin"], enforced["policy"], region=REGION)


def admin_s3(enforced):
    return boto3.session.Session(**{k.lower(): v for k, v in enforced["keys"]["admin"].items()},
                                 region_name=REGION).client("s3", endpoint_url=enforced["url"])


def test_a_failed_upload_whose_abort_is_refused_names_the_upload_it_leaves(enforced, monkeypatch):
    from endpoint_runbook.local.faults import clear_faults, set_faults
    from endpoint_runbook.s3 import upload_stream

    aws = as_user(enforced, monkeypatch)
    admin = admin_s3(enforced)
    uploads = {"Effect": "Allow", "Action": "s3:ListBucketMultipartUploads", "Resource": "arn:aws:s3:::allowed"}
    abort = {"Effect": "Allow", "Action": "s3:AbortMultipartUpload", "Resource": "arn:aws:s3:::allowed/*"}
    set_faults(enforced["url"], [{"match": {"service": "s3", "operation": "UploadPart"}, "fault": "5xx", "max": 100}])
    try:
        with granted(enforced, uploads), pytest.raises(AccessDenied) as e:
            upload_stream(aws.client("s3"), io.BytesIO(b"x" * 100), "s3://allowed/up/a.tar.gz", overwrite=True)
        f = e.value.finding
        assert f.data["action"] == "s3:AbortMultipartUpload" and f.data["resource"] == "arn:aws:s3:::allowed/up/a.tar.gz"
        assert "unfinished multipart upload is left" in f.data["done"][0] and "InternalError" in f.data["done"][0]
        left = admin.list_multipart_uploads(Bucket="allowed").get("Uploads", [])
        assert [u["Key"] for u in left] == ["up/a.tar.gz"]  # what the finding says is really there
        with granted(enforced, uploads, abort), pytest.raises(botocore.exceptions.ClientError) as e2:
            upload_stream(aws.client("s3"), io.BytesIO(b"x" * 100), "s3://allowed/up/a.tar.gz", overwrite=True)
        assert "InternalError" in str(e2.value)  # the upload's own failure, and nothing left behind
        assert not admin.list_multipart_uploads(Bucket="allowed").get("Uploads")
    finally:
        clear_faults(enforced["url"])
        for u in admin.list_multipart_uploads(Bucket="allowed").get("Uploads", []):
            admin.abort_multipart_upload(Bucket="allowed", Key=u["Key"], UploadId=u["UploadId"])
    assert "Contents" not in admin.list_objects_v2(Bucket="allowed", Prefix="up/")


def test_a_wrong_write_is_deleted_and_a_refused_delete_names_what_it_leaves(enforced, monkeypatch, tmp_path):
    from endpoint_runbook.archive.remote import plan_splice, verify_or_remove, write_splice
    from endpoint_runbook.errors import CheckFailed
    from tinymodel import INFERENCE, TINYPKG, tar_gz

    aws = as_user(enforced, monkeypatch)
    admin, s3 = admin_s3(enforced), aws.client("s3")
    admin.put_object(Bucket="allowed", Key="m/model.tar.gz", Body=tar_gz({"code/inference.py": INFERENCE}))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_bytes(TINYPKG)
    target, key = "s3://allowed/m-fixed/model.tar.gz", "m-fixed/model.tar.gz"
    uploads = {"Effect": "Allow", "Action": ["s3:ListBucketMultipartUploads"], "Resource": "arn:aws:s3:::allowed"}
    delete = {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::allowed/{key}"}

    def wrong_write(n: int) -> tuple:
        head = admin.head_object(Bucket="allowed", Key="m/model.tar.gz")
        plan = plan_splice(s3, "s3://allowed/m/model.tar.gz", [(tmp_path / "pkg", "code/tinypkg")],
                           check_dir=tmp_path / f"c{n}", size=head["ContentLength"], etag=head["ETag"])
        written = write_splice(s3, plan, target, overwrite=True)
        admin.put_object(Bucket="allowed", Key=key, Body=b"someone else's bytes")  # replaced after it was written
        return plan, written

    with granted(enforced, uploads):
        plan, written = wrong_write(1)
        with pytest.raises(AccessDenied) as e:
            verify_or_remove(s3, plan, written)
    f = e.value.finding
    assert f.data["action"] == "s3:DeleteObject" and f.data["resource"] == f"arn:aws:s3:::allowed/{key}"
    assert f.data["done"][0].startswith(f"wrote {target}, which failed its verification") and "still there" in \
        f.data["done"][0]
    assert admin.head_object(Bucket="allowed", Key=key)["ContentLength"] == len(b"someone else's bytes")
    with granted(enforced, uploads, delete):
        plan, written = wrong_write(2)
        with pytest.raises(CheckFailed) as e2:
            verify_or_remove(s3, plan, written)
    assert e2.value.code == "result-mismatch"
    assert "Contents" not in admin.list_objects_v2(Bucket="allowed", Prefix="m-fixed/")  # never left for deploy


def test_the_stacks_own_traffic_is_not_judged(enforced):
    import boto3

    s3 = boto3.session.Session(aws_access_key_id="local-stack", aws_secret_access_key="local-stack",
                               region_name=REGION).client("s3", endpoint_url=enforced["url"])
    assert s3.get_object(Bucket="other", Key="in/a.txt")["Body"].read() == b"hello"


def test_moto_view_widens_only_what_moto_cannot_judge():
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Mixed", "Effect": "Allow", "Action": ["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpointAsync",
                                                        "sqs:CreateQueue", "sqs:ReceiveMessage"],
         "Resource": ["arn:aws:sagemaker:r:1:endpoint/x", "arn:aws:sqs:r:1:q"]}]}
    view = access.moto_view(policy)["Statement"]
    assert view[0]["Action"] == ["sagemaker:InvokeEndpointAsync", "sqs:ReceiveMessage"]
    assert view[0]["Resource"] == policy["Statement"][0]["Resource"]
    assert view[1] == {"Sid": "MixedOnStar", "Effect": "Allow", "Action": ["sagemaker:DescribeEndpoint",
                                                                          "sqs:CreateQueue"], "Resource": "*"}


def test_call_log_records_every_call_with_its_grants(enforced, monkeypatch, tmp_path):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("ENDPOINT_RUNBOOK_CALL_LOG", str(log))
    aws = as_user(enforced, monkeypatch)
    aws.client("s3").get_object(Bucket="allowed", Key="in/a.txt")
    with pytest.raises(AccessDenied):
        aws.client("s3").put_object(Bucket="other", Key="x", Body=b"")
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    ops = [(x["service"], x["operation"], x["status"]) for x in lines]
    assert ("s3", "GetObject", 200) in ops and ("s3", "PutObject", 403) in ops
    assert {"action": "s3:PutObject", "resource": "arn:aws:s3:::other/x"} in next(
        x["grants"] for x in lines if x["operation"] == "PutObject")


def test_grants_for_the_operations_that_differ_from_their_action():
    w = Where("ap-south-1", "111122223333")
    assert [g.action for g in grants_for("s3", "UploadPartCopy", {"Bucket": "b", "Key": "k",
                                                                  "CopySource": {"Bucket": "s", "Key": "src"}}, w)] \
        == ["s3:PutObject", "s3:GetObject"]
    g = grants_for("sagemaker", "CreateModel", {"ModelName": "Fixed-M", "ExecutionRoleArn": "arn:aws:iam::1:role/r",
                                                "Tags": [{"Key": "a", "Value": "b"}]}, w)
    assert [(x.action, x.resource) for x in g] == [
        ("sagemaker:CreateModel", "arn:aws:sagemaker:ap-south-1:111122223333:model/fixed-m"),
        ("sagemaker:AddTags", "arn:aws:sagemaker:ap-south-1:111122223333:model/fixed-m"),
        ("iam:PassRole", "arn:aws:iam::1:role/r")]
    assert g[2].conditions == (("StringEquals", "iam:PassedToService", "sagemaker.amazonaws.com"),)
    assert grants_for("sts", "GetCallerIdentity", {}, w) == []
    assert grants_for("sns", "Unsubscribe", {"SubscriptionArn": "arn:aws:sns:r:1:topic:abc-123"}, w)[0].resource \
        == "arn:aws:sns:r:1:topic"


def test_denied_grant_reads_the_action_and_resource_aws_names():
    from endpoint_runbook.permissions import denied_grant

    quoted = ('User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: s3:GetObject on resource: '
              '"arn:aws:s3:::b/k" because no identity-based policy allows the s3:GetObject action')
    assert denied_grant(quoted) == Grant("s3:GetObject", "arn:aws:s3:::b/k")
    wrapped = ("<ErrorResponse><Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/u is not authorized "
               "to perform: sagemaker:CreateModel</Message></Error></ErrorResponse>")
    assert denied_grant(wrapped) == Grant("sagemaker:CreateModel", "*")
    assert denied_grant("not authorized to perform: sqs:ReceiveMessage on resource: arn:aws:sqs:r:1:q.") \
        == Grant("sqs:ReceiveMessage", "arn:aws:sqs:r:1:q")
    assert denied_grant("Access Denied") is None
