"""Scenarios seeded into a running local stack through its AWS API, as a user would set them up.

``stygig-incident``: the incident this project was born from (see ../shared/DESIGN.md). The StyGig sample's
catalog is generated and uploaded, the sample is trained and packaged with the training job's bug (the
``stygig`` package and ``config/`` left out), and the async endpoint is deployed with the seed's names, so
its model container crash-loops for real and its CloudWatch logs hold the genuine evidence.

Training runs like a training job: in the serving environment of the image the scenario deploys (its
profile: the same numpy, faiss and pickle formats the model container loads with) plus a layer with the
sample's requirements (faiss), never in the runbook's own environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import boto3
import botocore.config

from ..errors import RunbookError
from ..serving.env import cache_root, ensure_serving_env, isolated_env
from ..serving.image_profiles import profile_for_image

__all__ = ["SCENARIOS", "StygigIncident", "seed", "examples_dir"]

REGION = "ap-south-1"


def examples_dir() -> Path:
    """The repository's examples/ (the scenario needs a checkout: the sample is not part of the package)."""
    here = Path(__file__).resolve().parents[3] / "examples"
    if not (here / "stygig").is_dir():
        raise RunbookError("the StyGig sample (examples/stygig) is not next to this installation.",
                           code="no-sample", hint="Install the project from a checkout: pip install -e '.[local]'.")
    return here


@dataclass(frozen=True)
class StygigIncident:
    """The seed's real names (region ap-south-1)."""

    bucket: str = "stygig-ml-s3"
    training_job: str = "stygig-training-20251115-094512"
    endpoint: str = "stygig-async-endpoint-20251115-101546"
    model: str = "stygig-model-20251115-101546"
    endpoint_config: str = "stygig-async-config-20251115-101546"
    topic: str = "SNSMLTopic"
    queue: str = "stygig-async-notifications"
    role: str = "SageMakerExecutionRole-StyGig"
    image: str = "763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"
    instance_type: str = "ml.m5.xlarge"
    output_prefix: str = "async-inference-results"
    failure_prefix: str = "async-inference-failures"
    per_type: int = 24
    outage_requests: int = 3  # async requests users sent during the crash loop (they fail: replayed after the fix)
    outage_timeout: int = 10  # their InvocationTimeoutSeconds

    @property
    def archive_key(self) -> str:
        return f"model-artifacts/{self.training_job}/output/model.tar.gz"


def _clients(url: str) -> Callable[[str], Any]:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=REGION)
    cfg = botocore.config.Config(retries={"mode": "standard", "max_attempts": 5})
    return lambda service: session.client(service, endpoint_url=url, config=cfg)


def _sample_digest(sample: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(sample.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
            h.update(str(p.relative_to(sample)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def build_stygig(packaging: str, *, per_type: int = 24, image: str | None = None,
                 progress: Callable[[str], None] | None = None) -> tuple[Path, Path]:
    """Generate the catalog and train + package the sample in the serving environment of ``image`` (the image
    the model is served on; default: the incident's), cached by the sample's content and that environment's
    requirements. Returns (catalog dir holding ``train/``, model.tar.gz)."""
    sample = examples_dir() / "stygig"
    image = image or StygigIncident().image
    profile = profile_for_image(image)
    reqs = hashlib.sha256("\n".join(profile.requirements()).encode()).hexdigest()[:8]
    out = cache_root() / "stygig" / f"{_sample_digest(sample)}-{per_type}"
    catalog, archive = out / "catalog", out / f"model-{packaging}-{profile.version}-{reqs}.tar.gz"
    if archive.exists() and (catalog / "train").is_dir():
        return catalog, archive
    env = ensure_serving_env(profile=profile, log=progress)
    site = env.layer((sample / "sagemaker" / "requirements.txt").read_text(), log=None)
    # The training job's environment: the image, the sample's requirements, and endpoint-runbook itself (its
    # packaging and check-archive, as a training job would pip-install them). The model container never sees it.
    lib_dir = str(Path(__file__).resolve().parents[2])
    run_env = isolated_env({"PYTHONPATH": os.pathsep.join(p for p in (str(site) if site else "", lib_dir) if p)},
                           path_prefix=[str(env.bin_dir)])
    out.mkdir(parents=True, exist_ok=True)
    if not (catalog / "train").is_dir():
        if progress:
            progress("generating the StyGig catalog")
        _run([str(env.python), str(sample / "catalog.py"), str(catalog), "--per-type", str(per_type)], run_env)
    if progress:
        progress(f"training the StyGig sample ({packaging} packaging) in the serving environment of {profile.name}")
    tmp = archive.with_suffix(".tmp")
    _run([str(env.python), str(sample / "sagemaker" / "train.py"), "--catalog", str(catalog),
          "--code-root", str(sample), "--output", str(tmp), "--packaging", packaging,
          *(["--no-check"] if packaging == "buggy" else [])], run_env)
    tmp.replace(archive)
    return catalog, archive


def _run(cmd: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
        raise RunbookError(f"{Path(cmd[1]).name} failed:\n{tail}", code="scenario-build")


def seed_stygig_incident(url: str, *, names: StygigIncident = StygigIncident(), wait: float = 180.0,
                         progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = progress or (lambda _msg: None)
    client = _clients(url)
    t0 = time.monotonic()
    catalog, broken = build_stygig("buggy", per_type=names.per_type, image=names.image, progress=say)
    s3, sm, sns, sqs, iam = (client(n) for n in ("s3", "sagemaker", "sns", "sqs", "iam"))

    say(f"bucket s3://{names.bucket} with the catalog under train/")
    s3.create_bucket(Bucket=names.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    images = sorted(p for p in (catalog / "train").rglob("*.png"))
    for p in images:
        s3.put_object(Bucket=names.bucket, Key=p.relative_to(catalog).as_posix(), Body=p.read_bytes(),
                      ContentType="image/png")
    s3.put_object(Bucket=names.bucket, Key=names.archive_key, Body=broken.read_bytes())

    role_arn = iam.create_role(
        RoleName=names.role, Path="/service-role/",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
    )["Role"]["Arn"]
    topic_arn = sns.create_topic(Name=names.topic)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=names.queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    say(f"deploying {names.endpoint} (the broken archive)")
    sm.create_model(
        ModelName=names.model, ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": names.image, "ModelDataUrl": f"s3://{names.bucket}/{names.archive_key}",
                          "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                          "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                                          "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                                          "SAGEMAKER_REGION": REGION}},
    )
    sm.create_endpoint_config(
        EndpointConfigName=names.endpoint_config,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": names.model, "InitialInstanceCount": 1,
                             "InstanceType": names.instance_type, "InitialVariantWeight": 1.0}],
        AsyncInferenceConfig={
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
            "OutputConfig": {
                "S3OutputPath": f"s3://{names.bucket}/{names.output_prefix}/",
                "S3FailurePath": f"s3://{names.bucket}/{names.failure_prefix}/",
                "NotificationConfig": {"SuccessTopic": topic_arn, "ErrorTopic": topic_arn},
            },
        },
    )
    sm.create_endpoint(EndpointName=names.endpoint, EndpointConfigName=names.endpoint_config)

    # The incident state: InService, and the crash loop with its cause already in the logs.
    logs = client("logs")
    group = f"/aws/sagemaker/Endpoints/{names.endpoint}"
    evidence = ("Auto recovery failed again", "No module named 'stygig'")
    deadline = time.monotonic() + wait
    status, crash_seen = "Creating", False
    while time.monotonic() < deadline and not (status != "Creating" and crash_seen):
        status = sm.describe_endpoint(EndpointName=names.endpoint)["EndpointStatus"]
        if status == "Failed":
            break
        try:
            pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
            text = "\n".join(e["message"] for page in pages for e in page["events"])
            crash_seen = all(marker in text for marker in evidence)
        except logs.exceptions.ResourceNotFoundException:
            pass
        time.sleep(1)
    if status != "InService" or not crash_seen:
        raise RunbookError(f"the incident endpoint did not reach the crash loop (status {status}).",
                           code="scenario-seed", hint="See the stack log (endpoint-runbook local status).")
    failed = _outage_requests(client, names, images, catalog, say)
    return {
        "endpoint": names.endpoint,
        "status": status,
        "model_data": f"s3://{names.bucket}/{names.archive_key}",
        "catalog": f"s3://{names.bucket}/train/ ({len(images)} images)",
        "topic": topic_arn,
        "queue": queue_url,
        "outage_failures": ", ".join(failed) or "none",
        "seeded_in": f"{time.monotonic() - t0:.1f} s",
    }


def _outage_requests(client: Callable[[str], Any], names: StygigIncident, images: list[Path], catalog: Path,
                     say: Callable[[str], None]) -> list[str]:
    """The users' requests during the outage: sent to the crash-looping endpoint, they time out; their failure
    objects and error notifications are the record of what a fix must replay."""
    if not names.outage_requests:
        return []
    runtime, s3 = client("sagemaker-runtime"), client("s3")
    picks = images[:: max(1, len(images) // names.outage_requests)][: names.outage_requests]
    say(f"{len(picks)} async request(s) sent during the crash loop (they fail after {names.outage_timeout} s)")
    ids = [runtime.invoke_endpoint_async(
        EndpointName=names.endpoint, InputLocation=f"s3://{names.bucket}/{p.relative_to(catalog).as_posix()}",
        ContentType="image/png", InvocationTimeoutSeconds=names.outage_timeout)["InferenceId"] for p in picks]
    deadline = time.monotonic() + names.outage_timeout + 60
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        for iid in list(pending):
            try:
                s3.head_object(Bucket=names.bucket, Key=f"{names.failure_prefix}/{iid}-error.out")
                pending.discard(iid)
            except s3.exceptions.ClientError:
                pass
        time.sleep(1)
    if pending:
        raise RunbookError(f"{len(pending)} outage request(s) left no failure object.", code="scenario-seed",
                           hint="See the stack log (endpoint-runbook local status).")
    return ids


SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {"stygig-incident": seed_stygig_incident}


def seed(name: str, url: str, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    if name not in SCENARIOS:
        raise RunbookError(f"unknown scenario {name!r}.", code="bad-input",
                           hint=f"Known: {', '.join(SCENARIOS)}.")
    return SCENARIOS[name](url, progress=progress)
