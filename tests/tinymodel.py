"""A tiny purpose-built model archive: inference.py imports a package `tinypkg` that may or may not ship."""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from typing import Any

#: The serving image of every test model: the incident's (pytorch-inference 2.1). One image, one profile, so the
#: suite builds one serving environment (a placeholder image would pick the newest profile and build another).
IMAGE = "763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"

INFERENCE = b'''import json
from tinypkg import answer


def model_fn(model_dir):
    return {"offset": 100}


def input_fn(body, content_type):
    if content_type != "application/json":
        raise ValueError("expected application/json, got %s" % content_type)
    return json.loads(body)


def predict_fn(data, model):
    return {"answer": answer(data["x"]) + model["offset"]}


def output_fn(prediction, accept):
    return json.dumps(prediction)
'''
TINYPKG = b"def answer(xs):\n    return sum(x * x for x in xs)\n"
#: model_fn reads the weights (their first byte is the answer's offset), so serving proves they were copied.
FIRST_BYTE = INFERENCE.replace(b'return {"offset": 100}',
                               b'return {"offset": open(model_dir + "/weights.bin", "rb").read(1)[0]}')


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tiny_archive(*, with_package: bool) -> bytes:
    members = {"code/inference.py": INFERENCE}
    if with_package:
        members["code/tinypkg/__init__.py"] = TINYPKG
    return tar_gz(members)


class World:
    """A bucket, an SNS topic with an SQS queue subscribed, and helpers to deploy async endpoints."""

    def __init__(self, aws: Any):
        self.aws = aws
        self.s3, self.sm, self.sns, self.sqs = (aws.client(n) for n in ("s3", "sagemaker", "sns", "sqs"))
        self.tag = uuid.uuid4().hex[:8]
        self.bucket = f"tiny-{self.tag}"
        self.s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})
        self.topic = self.sns.create_topic(Name=f"tiny-{self.tag}")["TopicArn"]
        self.queue = self.sqs.create_queue(QueueName=f"tiny-{self.tag}")["QueueUrl"]
        qarn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=qarn)

    def put(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"

    def deploy(self, name: str, model_data_url: str) -> None:
        self.sm.create_model(
            ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/tiny",
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": model_data_url, "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}})
        self.sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large",
                                 "InitialInstanceCount": 1}],
            AsyncInferenceConfig={"OutputConfig": {
                "S3OutputPath": f"s3://{self.bucket}/out/", "S3FailurePath": f"s3://{self.bucket}/fail/",
                "NotificationConfig": {"SuccessTopic": self.topic, "ErrorTopic": self.topic}}})
        self.sm.create_endpoint(EndpointName=name, EndpointConfigName=name)

    def wait_status(self, name: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            d = self.sm.describe_endpoint(EndpointName=name)
            if d["EndpointStatus"] not in ("Creating", "Updating") or time.monotonic() > deadline:
                return d
            time.sleep(0.5)

    def notification(self, inference_id: str, timeout: float = 60) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.sqs.receive_message(QueueUrl=self.queue, WaitTimeSeconds=1,
                                              MaxNumberOfMessages=10).get("Messages", []):
                msg = json.loads(json.loads(m["Body"])["Message"])
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
                if msg.get("inferenceId") == inference_id:
                    return msg
        return None


def prefix_model(aws: Any, *, weights: bytes, with_package: bool, tag: str | None = None) -> tuple[str, str]:
    """Objects under s3://<bucket>/model/ and a model/config/endpoint whose ModelDataSource is that prefix
    (with a ModelAccessConfig, which a fixed model must keep). Returns (endpoint name, bucket)."""
    s3, sm = aws.client("s3"), aws.client("sagemaker")
    name = tag or f"pfx-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": aws.region})
    objects = {"model/code/inference.py": FIRST_BYTE, "model/config.json": b'{"dim": 4}',
               "model/weights.bin": weights}
    if with_package:
        objects["model/code/tinypkg/__init__.py"] = TINYPKG
    for k, v in objects.items():
        s3.put_object(Bucket=name, Key=k, Body=v)
    source = {"S3Uri": f"s3://{name}/model/", "S3DataType": "S3Prefix", "CompressionType": "None",
              "ModelAccessConfig": {"AcceptEula": True}}
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/tiny", PrimaryContainer={
        "Image": "763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.1-cpu-py310",
        "ModelDataSource": {"S3DataSource": source}, "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": f"s3://{name}/out/",
                                               "S3FailurePath": f"s3://{name}/fail/"}})
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return name, name
