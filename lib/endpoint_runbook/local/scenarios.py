"""Scenarios seeded into a running local stack through its AWS API, as a user would set them up.

``fleet``: many endpoints across regions and accounts that need no model container (see :func:`seed_fleet`).

``stygig-incident``: the incident this project was born from (see ../shared/DESIGN.md). The StyGig sample's
catalog is generated and uploaded, the sample is trained and packaged with the training job's bug (the
``stygig`` package and ``config/`` left out), and the async endpoint is deployed with the seed's names, so
its model container crash-loops for real and its CloudWatch logs hold the genuine evidence.

``stygig-realtime`` and ``stygig-serverless``: the same broken archive behind a real-time endpoint (one
``ml.m5.xlarge``) and behind a serverless one (2048 MB, max concurrency 5), each with the users' requests of the
outage sent synchronously: they fail (the model never answers in time), and only the endpoint's CloudWatch metrics
(``Invocation5XXErrors``) and logs keep them. Each seeds alone or beside the others (the bucket, catalog, archive
and role are shared).

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
from .startup_scenarios import STARTUP_FAILURES, seed_startup_failure

__all__ = ["SCENARIOS", "STYGIG_REALTIME", "STYGIG_SERVERLESS", "StygigIncident", "Fleet", "CannedLog", "seed", "seed_fleet", "canned_logs", "examples_dir"]

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
    """The seed's real names (region ap-south-1); ``kind``: the endpoint's (the seed's was async); a serverless one
    has ``memory_mb`` and ``max_concurrency``."""

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
    kind: str = "async"
    memory_mb: int = 2048
    max_concurrency: int = 5

    @property
    def archive_key(self) -> str:
        return f"model-artifacts/{self.training_job}/output/model.tar.gz"


#: The incident's archive behind a real-time endpoint, and behind a serverless one.
STYGIG_REALTIME = StygigIncident(endpoint="stygig-realtime-endpoint-20251115-101546",
                                 model="stygig-realtime-model-20251115-101546",
                                 endpoint_config="stygig-realtime-config-20251115-101546", kind="real-time")
STYGIG_SERVERLESS = StygigIncident(endpoint="stygig-serverless-endpoint-20251115-101546",
                                   model="stygig-serverless-model-20251115-101546",
                                   endpoint_config="stygig-serverless-config-20251115-101546", kind="serverless")


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


def _shared(client: Callable[[str], Any], names: StygigIncident, say: Callable[[str], None]
            ) -> tuple[Path, list[Path], str]:
    """What every StyGig scenario shares, made once in a stack: the bucket with the catalog and the broken archive,
    the execution role. Returns (the catalog dir, its images, the role's ARN)."""
    catalog, broken = build_stygig("buggy", per_type=names.per_type, image=names.image, progress=say)
    s3, iam = client("s3"), client("iam")
    images = sorted(p for p in (catalog / "train").rglob("*.png"))
    try:
        s3.head_object(Bucket=names.bucket, Key=names.archive_key)
        say(f"bucket s3://{names.bucket}, its catalog and the broken archive are there already")
    except s3.exceptions.ClientError:
        say(f"bucket s3://{names.bucket} with the catalog under train/")
        try:
            s3.create_bucket(Bucket=names.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        for p in images:
            s3.put_object(Bucket=names.bucket, Key=p.relative_to(catalog).as_posix(), Body=p.read_bytes(),
                          ContentType="image/png")
        s3.put_object(Bucket=names.bucket, Key=names.archive_key, Body=broken.read_bytes())
    try:
        role_arn = iam.create_role(
            RoleName=names.role, Path="/service-role/",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        )["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role_arn = iam.get_role(RoleName=names.role)["Role"]["Arn"]
    return catalog, images, role_arn


def _model(sm: Any, names: StygigIncident, role_arn: str) -> None:
    sm.create_model(
        ModelName=names.model, ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": names.image, "ModelDataUrl": f"s3://{names.bucket}/{names.archive_key}",
                          "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                          "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                                          "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                                          "SAGEMAKER_REGION": REGION}},
    )


_EVIDENCE = ("Auto recovery failed again", "No module named 'stygig'")


def _crash_logged(logs: Any, endpoint: str) -> bool:
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    try:
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
        text = "\n".join(e["message"] for page in pages for e in page["events"])
    except logs.exceptions.ResourceNotFoundException:
        return False
    return all(marker in text for marker in _EVIDENCE)


def seed_stygig_incident(url: str, *, names: StygigIncident = StygigIncident(), wait: float = 180.0,
                         progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    if names.kind != "async":
        return _seed_sync_incident(url, names=names, wait=wait, progress=progress)
    say = progress or (lambda _msg: None)
    client = _clients(url)
    t0 = time.monotonic()
    sm, sns, sqs = (client(n) for n in ("sagemaker", "sns", "sqs"))
    catalog, images, role_arn = _shared(client, names, say)
    topic_arn = sns.create_topic(Name=names.topic)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=names.queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    say(f"deploying {names.endpoint} (the broken archive)")
    _model(sm, names, role_arn)
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
    deadline = time.monotonic() + wait
    status, crash_seen = "Creating", False
    while time.monotonic() < deadline and not (status != "Creating" and crash_seen):
        status = sm.describe_endpoint(EndpointName=names.endpoint)["EndpointStatus"]
        if status == "Failed":
            break
        crash_seen = _crash_logged(logs, names.endpoint)
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


def _seed_sync_incident(url: str, *, names: StygigIncident, wait: float,
                        progress: Callable[[str], None] | None) -> dict[str, Any]:
    """The broken archive behind a real-time or serverless endpoint, InService, with the outage's synchronous
    requests failed (in its metrics) and the crash loop in its logs."""
    say = progress or (lambda _msg: None)
    client = _clients(url)
    t0 = time.monotonic()
    sm = client("sagemaker")
    catalog, images, role_arn = _shared(client, names, say)
    say(f"deploying {names.endpoint} ({names.kind}, the broken archive)")
    _model(sm, names, role_arn)
    variant: dict[str, Any] = {"VariantName": "AllTraffic", "ModelName": names.model}
    if names.kind == "serverless":
        variant["ServerlessConfig"] = {"MemorySizeInMB": names.memory_mb, "MaxConcurrency": names.max_concurrency}
    else:
        variant.update(InitialInstanceCount=1, InstanceType=names.instance_type, InitialVariantWeight=1.0)
    sm.create_endpoint_config(EndpointConfigName=names.endpoint_config, ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=names.endpoint, EndpointConfigName=names.endpoint_config)
    deadline = time.monotonic() + wait
    status = "Creating"
    while time.monotonic() < deadline and status == "Creating":
        time.sleep(1)
        status = sm.describe_endpoint(EndpointName=names.endpoint)["EndpointStatus"]
    if status != "InService":
        raise RunbookError(f"the {names.kind} incident endpoint is {status}, not InService.", code="scenario-seed",
                           hint="See the stack log (endpoint-runbook local status).")
    failed = _sync_outage_requests(client, names, images, catalog, say)
    logs = client("logs")
    while time.monotonic() < deadline + 60 and not _crash_logged(logs, names.endpoint):
        time.sleep(1)
    if not _crash_logged(logs, names.endpoint):
        raise RunbookError(f"the {names.kind} incident endpoint did not log the crash loop.", code="scenario-seed",
                           hint="See the stack log (endpoint-runbook local status).")
    return {"endpoint": names.endpoint, "kind": names.kind, "status": status,
            "model_data": f"s3://{names.bucket}/{names.archive_key}",
            "catalog": f"s3://{names.bucket}/train/ ({len(images)} images)",
            "outage_failures": f"{failed} synchronous request(s) failed (Invocation5XXErrors)",
            "seeded_in": f"{time.monotonic() - t0:.1f} s"}


def _sync_outage_requests(client: Callable[[str], Any], names: StygigIncident, images: list[Path], catalog: Path,
                          say: Callable[[str], None]) -> int:
    """The users' synchronous requests during the outage, at once: the model never answers, each caller gets a
    ModelError, and only the endpoint's metrics and logs keep them."""
    import concurrent.futures as cf

    if not names.outage_requests:
        return 0
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=REGION)
    runtime = session.client("sagemaker-runtime", endpoint_url=client("s3").meta.endpoint_url,
                             config=botocore.config.Config(read_timeout=600, retries={"max_attempts": 1}))
    picks = images[:: max(1, len(images) // names.outage_requests)][: names.outage_requests]
    say(f"{len(picks)} synchronous request(s) sent during the crash loop (each waits for the model's timeout)")

    def send(p: Path) -> str | None:
        try:
            runtime.invoke_endpoint(EndpointName=names.endpoint, Body=p.read_bytes(), ContentType="image/png")
            return None
        except runtime.exceptions.ModelError as e:
            return str(e)

    with cf.ThreadPoolExecutor(max_workers=len(picks)) as pool:
        errors = list(pool.map(send, picks))
    if not all(errors):
        raise RunbookError("an outage request was served: the endpoint is not broken.", code="scenario-seed")
    return len(errors)


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


# ------------------------------------------------------------------------------------------------------
# A fleet at scale: endpoints that need no container
# ------------------------------------------------------------------------------------------------------
#: Real published logs (tests/data/logs-corpus, each with its source) and our own containers' real output
#: (tests/data/logs): what the canned endpoints' log groups hold. Crash-looping while InService: the workers die
#: at start-up or per request while the endpoint is up; Failed: the container never served.
CRASH_LOGS = ("logs/crashloop-tinypkg.log", "logs-corpus/02-missing-module-tfs-eia-grpc.txt",
              "logs-corpus/03-model-fn-error-hf-mms-model-fn-signature.txt",
              "logs-corpus/05-model-fn-error-sklearn-cloudpickle-code-args.txt",
              "logs-corpus/16-missing-module-mxnet-gunicorn-keras.txt",
              "logs-corpus/17-model-fn-error-xgboost-algorithm-mode-no-model-file.txt",
              "logs-corpus/19-out-of-memory-mms-jvm-direct-buffer-dlc-mxnet.txt",
              "logs-corpus/04-import-error-xgboost-protobuf-service.txt",
              "logs-corpus/06-worker-timeout-gunicorn-nginx-504.txt")
FAILED_LOGS = ("logs-corpus/01-requirements-install-failed-tfs-ei-pip3.txt",
               "logs-corpus/22-requirements-install-failed-legacy-tf-container-pip-exit-2.txt",
               "logs-corpus/10-disk-full-hf-mms-model-copy.txt",
               "logs-corpus/11-disk-full-inference-toolkit-model-archiver.txt",
               "logs-corpus/21-missing-entry-script-mxnet-mms-custom-image-entrypoint-module.txt")
HEALTHY_LOGS = ("logs-corpus/12-healthy-torchserve-mme-startup.txt",
                "logs-corpus/13-healthy-mms-worker-model-loaded.txt",
                "logs-corpus/14-healthy-mms-local-mode-startup.txt")
#: What SageMaker says of an endpoint whose container never answered /ping (hosting's own wording).
FAILED_REASON = ("The primary container for production variant AllTraffic did not pass the ping health check. "
                 "Please check CloudWatch logs for this endpoint.")


@dataclass(frozen=True)
class CannedLog:
    path: str  # relative to tests/data
    source: str
    expected_cause: str
    lines: tuple[str, ...]


def _data_dir() -> Path:
    here = Path(__file__).resolve().parents[3] / "tests" / "data"
    if not (here / "logs-corpus").is_dir():
        raise RunbookError("the log corpus (tests/data/logs-corpus) is not next to this installation.",
                           code="no-sample", hint="Install the project from a checkout: pip install -e '.[local]'.")
    return here


def canned_logs(paths: tuple[str, ...]) -> list[CannedLog]:
    """The excerpts at ``paths`` (under tests/data): header (``# source:``, ``# expected-cause:``) and the log
    lines after ``---``, as they were published. A file without a header is our own containers' output."""
    out = []
    for rel in paths:
        text = (_data_dir() / rel).read_text(encoding="utf-8")
        head, sep, body = text.partition("\n---\n")
        if not sep:
            head, body = "", text
        meta = {k.strip(): v.strip() for k, _, v in (line[1:].partition(":") for line in head.splitlines()
                                                       if line.startswith("#"))}
        out.append(CannedLog(rel, meta.get("source", "this project's local stack (a real container's output)"),
                             meta.get("expected-cause", "missing-module"),
                             tuple(line for line in body.splitlines() if line.strip())))
    return out


@dataclass(frozen=True)
class Fleet:
    """A fleet of endpoints that need no container, spread over regions and accounts (each reached by assuming
    ``role_name`` there). ``crash_looping`` of them are InService with a crash-loop log, ``failed`` are Failed with
    their container's last words; the rest are healthy (a start-up log). Kinds alternate real-time, async,
    serverless. Placement is deterministic (``placement``)."""

    endpoints: int = 1000
    regions: tuple[str, ...] = ("us-east-1", "us-west-2", "eu-west-1", "ap-south-1")
    accounts: tuple[str, ...] = ("111111111111", "222222222222")
    crash_looping: int = 10
    failed: int = 5
    role_name: str = "EndpointScanner"
    prefix: str = "fleet"
    placement: int = 26  # the random placement of the broken ones (deterministic)
    workers: int = 8

    def role_arn(self, account: str) -> str:
        return f"arn:aws:iam::{account}:role/{self.role_name}"

    @property
    def role_arns(self) -> list[str]:
        return [self.role_arn(a) for a in self.accounts]


def _fleet_plan(f: Fleet) -> list[dict[str, Any]]:
    import random

    if f.crash_looping + f.failed > f.endpoints:
        raise RunbookError("a fleet cannot have more broken endpoints than endpoints.", code="bad-input")
    rng = random.Random(f.placement)
    scopes = [(a, r) for a in f.accounts for r in f.regions]
    states = ["crash"] * f.crash_looping + ["failed"] * f.failed + ["healthy"] * (f.endpoints - f.crash_looping - f.failed)
    rng.shuffle(states)
    crash, failed, healthy = canned_logs(CRASH_LOGS), canned_logs(FAILED_LOGS), canned_logs(HEALTHY_LOGS)
    plan, n = [], {"crash": 0, "failed": 0, "healthy": 0}
    for i, state in enumerate(states):
        account, region = scopes[i % len(scopes)]
        pool = {"crash": crash, "failed": failed, "healthy": healthy}[state]
        log = pool[n[state] % len(pool)]
        n[state] += 1
        plan.append({"name": f"{f.prefix}-{i:04d}", "account": account, "region": region, "state": state,
                     "kind": ("real-time", "async", "serverless")[i % 3], "log": log})
    return plan


def _account_clients(url: str, f: Fleet, account: str) -> Callable[[str, str], Any]:
    """Clients in ``account``: the fleet's role there, assumed with the stack's test credentials (moto puts every
    call signed with the assumed key into the role's account); the role is then created there as well."""
    base = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    cfg = botocore.config.Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=f.workers * 2)
    creds = base.client("sts", endpoint_url=url, config=cfg).assume_role(
        RoleArn=f.role_arn(account), RoleSessionName="fleet-seed")["Credentials"]
    session = boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                    aws_session_token=creds["SessionToken"])
    iam = session.client("iam", endpoint_url=url, config=cfg, region_name="us-east-1")
    caller = base.client("sts", endpoint_url=url, config=cfg).get_caller_identity()["Account"]
    try:
        iam.create_role(RoleName=f.role_name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{caller}:root"}, "Action": "sts:AssumeRole"}]}))
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    cache: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in cache:
            cache[(service, region)] = session.client(service, endpoint_url=url, config=cfg, region_name=region)
        return cache[(service, region)]

    return client


def seed_fleet(url: str, *, fleet: Fleet = Fleet(), progress: Callable[[str], None] | None = None,
               now_ms: int | None = None) -> dict[str, Any]:
    """Seed ``fleet`` into a running stack through its AWS API: per account and region one model and one config
    per kind, then each endpoint (tagged ``local-stack:state``, so no container starts) and its log group, whose
    events are a real log: a crash loop repeated over the last 40 minutes, a failed start-up, or a healthy one.
    Returns the role ARNs to scan with and what each broken endpoint's logs hold (``broken``)."""
    import concurrent.futures as cf

    from .sagemaker.models import REASON_TAG, STATE_TAG

    say = progress or (lambda _msg: None)
    t0 = time.monotonic()
    plan = _fleet_plan(fleet)
    now_ms = now_ms or int(time.time() * 1000)
    clients = {a: _account_clients(url, fleet, a) for a in fleet.accounts}
    say(f"fleet: {fleet.endpoints} endpoints in {len(fleet.regions)} regions × {len(fleet.accounts)} accounts "
        f"({fleet.crash_looping} crash-looping while InService, {fleet.failed} Failed)")
    for account in fleet.accounts:
        for region in fleet.regions:
            sm = clients[account]("sagemaker", region)
            model = f"{fleet.prefix}-model"
            sm.create_model(ModelName=model, ExecutionRoleArn=f"arn:aws:iam::{account}:role/SageMakerExecution",
                            PrimaryContainer={"Image": f"763104351884.dkr.ecr.{region}.amazonaws.com/pytorch-inference:"
                                                       "2.1.0-cpu-py310",
                                              "ModelDataUrl": f"s3://{fleet.prefix}-{account}-{region}/model.tar.gz"})
            variant = {"VariantName": "AllTraffic", "ModelName": model}
            sm.create_endpoint_config(EndpointConfigName=f"{fleet.prefix}-real-time", ProductionVariants=[
                dict(variant, InstanceType="ml.m5.large", InitialInstanceCount=1)])
            sm.create_endpoint_config(EndpointConfigName=f"{fleet.prefix}-async", ProductionVariants=[
                dict(variant, InstanceType="ml.m5.xlarge", InitialInstanceCount=1)], AsyncInferenceConfig={
                "OutputConfig": {"S3OutputPath": f"s3://{fleet.prefix}-{account}-{region}/async-out/"}})
            sm.create_endpoint_config(EndpointConfigName=f"{fleet.prefix}-serverless", ProductionVariants=[
                dict(variant, ServerlessConfig={"MemorySizeInMB": 2048, "MaxConcurrency": 5})])

    def one(e: dict[str, Any]) -> None:
        client = clients[e["account"]]
        state = {"crash": "InService", "failed": "Failed", "healthy": "InService"}[e["state"]]
        tags = [{"Key": STATE_TAG, "Value": state}]
        if state == "Failed":
            tags.append({"Key": REASON_TAG, "Value": FAILED_REASON})
        client("sagemaker", e["region"]).create_endpoint(EndpointName=e["name"],
                                                         EndpointConfigName=f"{fleet.prefix}-{e['kind']}", Tags=tags)
        logs = client("logs", e["region"])
        group, stream = f"/aws/sagemaker/Endpoints/{e['name']}", f"AllTraffic/i-{e['name'].encode().hex()[-17:]}"
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        lines = e["log"].lines
        if e["state"] == "crash":  # the loop: the same death every ~13 minutes over the last 40
            starts = [now_ms - m * 60_000 for m in (40, 27, 14)]
        else:  # one start-up, 30 minutes ago
            starts = [now_ms - 30 * 60_000]
        events = [{"timestamp": t + i, "message": line} for t in starts for i, line in enumerate(lines)]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    with cf.ThreadPoolExecutor(max_workers=fleet.workers) as pool:
        for i, _ in enumerate(pool.map(one, plan), 1):
            if i % 250 == 0:
                say(f"fleet: {i}/{len(plan)} endpoints")
    broken = [{"account": e["account"], "region": e["region"], "endpoint": e["name"], "kind": e["kind"],
               "status": "Failed" if e["state"] == "failed" else "InService", "log": e["log"].path,
               "expected_cause": e["log"].expected_cause, "source": e["log"].source}
              for e in plan if e["state"] != "healthy"]
    return {"endpoints": len(plan), "regions": ", ".join(fleet.regions), "role_arns": ", ".join(fleet.role_arns),
            "crash_looping": fleet.crash_looping, "failed": fleet.failed, "broken": broken,
            "scan": f"endpoint-runbook scan --regions {','.join(fleet.regions)} "
                    + " ".join(f"--role-arn {r}" for r in fleet.role_arns),
            "seeded_in": f"{time.monotonic() - t0:.1f} s"}


def seed_default_fleet(url: str, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``local up --scenario fleet``: the default :class:`Fleet` (1,000 endpoints, 4 regions, 2 accounts)."""
    result = seed_fleet(url, progress=progress)
    broken = result.pop("broken")
    result["broken"] = "; ".join(f"{b['endpoint']} ({b['status']}, {b['expected_cause']})" for b in broken)
    return result


def seed_stygig_realtime(url: str, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``local up --scenario stygig-realtime``: the incident's archive behind a real-time endpoint."""
    return seed_stygig_incident(url, names=STYGIG_REALTIME, progress=progress)


def seed_stygig_serverless(url: str, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``local up --scenario stygig-serverless``: the incident's archive behind a serverless endpoint."""
    return seed_stygig_incident(url, names=STYGIG_SERVERLESS, progress=progress)


SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {"stygig-incident": seed_stygig_incident,
                                                        "stygig-realtime": seed_stygig_realtime,
                                                        "stygig-serverless": seed_stygig_serverless,
                                                        "fleet": seed_default_fleet}


def _startup_seeder(name: str) -> Callable[..., dict[str, Any]]:
    def seed_one(url: str, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        return seed_startup_failure(_clients(url), STARTUP_FAILURES[name], progress=progress)
    return seed_one


SCENARIOS.update({name: _startup_seeder(name) for name in STARTUP_FAILURES})


def seed(name: str, url: str, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    if name not in SCENARIOS:
        raise RunbookError(f"unknown scenario {name!r}.", code="bad-input",
                           hint=f"Known: {', '.join(SCENARIOS)}.")
    return SCENARIOS[name](url, progress=progress)
