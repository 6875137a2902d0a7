"""IAM enforcement on the local stack, and what a refused call becomes in the runbook (no model containers).

The stack judges like AWS where moto can: the action of every call, the resource of S3, SQS, IAM and the runtime's
invocations; a refusal reaches the runbook as ``AccessDenied`` (code ``access-denied``) naming the action and the
resource to grant, never as botocore's ClientError.
"""

from __future__ import annotations

import json

import pytest
from endpoint_runbook.aws import AccessDenied, Aws, AwsParams
from endpoint_runbook.local import access
from endpoint_runbook.permissions import Where, grants_for
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


def test_the_runtime_is_judged_on_the_endpoint(enforced, monkeypatch):
    aws = as_user(enforced, monkeypatch)
    with pytest.raises(AccessDenied) as e:
        aws.client("sagemaker-runtime").invoke_endpoint_async(EndpointName="some", InputLocation="s3://allowed/in/a.txt")
    assert e.value.finding.data["action"] == "sagemaker:InvokeEndpointAsync"
    assert e.value.finding.data["resource"] == "arn:aws:sagemaker:ap-south-1:123456789012:endpoint/some"


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
