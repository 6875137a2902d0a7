"""Start-up failures other than missing code, each a small model that really fails that way on the stack.

Every scenario is a real-time endpoint (one instance) serving a tiny JSON model in the incident's image, broken the
way people's endpoints break (see issue 24): the container's own behaviour on the stack (the real toolkit, TorchServe
and pip) produces the failure, the stack enforces SageMaker's semantics (the start-up health-check window, ...), and
its CloudWatch logs hold what the container printed. Nothing here writes a log line for the container.

- ``slow-start``: model_fn takes 70 s to load. On the PyTorch image the toolkit gives TorchServe a response timeout
  of ``SAGEMAKER_MODEL_SERVER_TIMEOUT`` (60 s unless set): the worker still loading is killed ("Backend worker did not
  respond in given time") and restarted, again and again, while ``/ping`` answers 200 (TorchServe's own behaviour,
  seen on the stack: the endpoint goes InService and never serves).
- ``wrong-program``: ``SAGEMAKER_PROGRAM`` names ``serve.py``; the archive's entry script is ``code/inference.py``.
  The toolkit finds no module ``serve`` and runs its default handler, whose model_fn wants a ``.pt`` file ("Exactly
  one .pth or .pt file is required"): the worker dies at every start.
- ``pin-not-found``: ``code/requirements.txt`` pins numpy to a release that does not exist; the code imports numpy,
  which the image ships.
- ``out-of-memory``: model_fn holds 5 GiB (one worker) on an ``ml.t2.medium`` (4 GiB): past the instance's memory the
  kernel kills the worker (the stack enforces the type's memory as a memory cgroup), again at every restart.
- ``private-package``: ``code/requirements.txt`` names a package of a private index (it is not on PyPI) that no code
  imports.
- ``disk-full``: model_fn unpacks 1.2 GiB of weights next to the model at start-up, on an instance whose config sets
  ``VolumeSizeInGB: 1``: the write fails with ``[Errno 28] No space left on device`` (the stack gives the container a
  volume of that size) at every worker start.
- ``archive-too-large``: the archive's ``weights.bin`` unpacks to 1.2 GiB (a 20 MB download) on an instance whose
  config sets ``VolumeSizeInGB: 1``: SageMaker cannot extract it ("The model data archive is too large"), the
  endpoint goes Failed before any container starts.
- ``no-network``: the model has ``EnableNetworkIsolation``; its code imports ``tabulate``, which the image does not
  ship and ``code/requirements.txt`` names. The stack runs the container with no network (its own network
  namespace, loopback only): pip cannot reach the index, the container exits and restarts, and the endpoint never
  serves — as on SageMaker, where an isolated container reaches no host at all.
- ``download-timeout``: 16 MB of model data on a 200 kB/s link from S3 to the instance (80 s) where the variant
  allows 60 s (``ModelDataDownloadTimeoutInSeconds``): the download is cut at the deadline, no container starts, the
  endpoint goes Failed.
- ``pin-then-memory``: two causes, one after the other: pip fails on a numpy pin that does not exist; with the pin
  dropped, model_fn holds 5 GiB on an ``ml.t2.medium``.
- ``slow-install``: ``code/requirements.txt`` names a package that comes as source only (an sdist in
  ``code/wheelhouse``), whose build takes 80 s (it stands for a C extension compiled at install time); the toolkit
  installs requirements before it starts the model server, so ``/ping`` does not answer past the variant's
  ``ContainerStartupHealthCheckTimeoutInSeconds`` (60 s) and the endpoint goes Failed on the ping health check. Its
  variant has its own volume (``VolumeSizeInGB``): the stack then installs in a fresh layer on it, as every SageMaker
  instance does (without one, the stack's containers share installed layers).

- ``weights-no-route``: the model has ``EnableNetworkIsolation``; model_fn loads its checkpoint with
  ``torch.hub.load_state_dict_from_url`` (a pretrained checkpoint's usual way in), which downloads it at every start:
  the container reaches no host, the worker dies, again at every restart. A copy of the checkpoint is in the bucket
  (``weights/``), where the user's params point ``diagnose.weights``.

Each seeds its bucket (``startup-failures-<account>``), the request the model answers (``requests/input.json``), the
broken archive, the model, config and endpoint, and waits until the endpoint is broken: Failed, or its logs show the
failure.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import RunbookError

__all__ = ["STARTUP_FAILURES", "StartupFailure", "seed_startup_failure"]

REGION = "ap-south-1"
IMAGE = "763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"
BUCKET = "startup-failures-ap-south-1"
ROLE = "SageMakerExecutionRole-StartupFailures"
REQUEST_KEY = "requests/input.json"

_HANDLERS = '''

def input_fn(body, content_type):
    if content_type != "application/json":
        raise ValueError("expected application/json, got %s" % content_type)
    return json.loads(body)


def predict_fn(data, model):
    return {"answer": sum(x * x for x in data["x"]) + model["offset"]}


def output_fn(prediction, accept):
    return json.dumps(prediction)
'''
_PLAIN = "import json\n\n\ndef model_fn(model_dir):\n    return {\"offset\": 100}\n" + _HANDLERS
_SLOW = ("import json\nimport time\n\n\ndef model_fn(model_dir):\n"
         "    print(\"loading the model: a large checkpoint takes a while\", flush=True)\n"
         "    time.sleep(70)\n    return {\"offset\": 100}\n" + _HANDLERS)
_LARGE = ("import json\n\nimport numpy as np\n\n\ndef model_fn(model_dir):\n"
          "    weights = np.ones(5 * 2**30, dtype=np.uint8)  # a 5 GiB model, every page touched\n"
          "    return {\"offset\": 100, \"weights\": weights}\n" + _HANDLERS)
_TABLE = ("import json\n\nfrom tabulate import tabulate\n\n\ndef model_fn(model_dir):\n"
          "    print(tabulate([[\"offset\", 100]]), flush=True)\n    return {\"offset\": 100}\n" + _HANDLERS)
_UNPACKS = ("import json\nimport os\n\n\ndef model_fn(model_dir):\n"
            "    # the weights ship compressed; unpacked next to the model at start-up: 1.2 GiB\n"
            "    with open(os.path.join(model_dir, \"unpacked.bin\"), \"wb\") as f:\n"
            "        for _ in range(77):\n            f.write(b\"\\0\" * 2**24)\n"
            "    return {\"offset\": 100}\n" + _HANDLERS)
_SLOW_IMPORT = ("import json\n\nfrom slow_extension import OFFSET\n\n\ndef model_fn(model_dir):\n"
                "    return {\"offset\": OFFSET}\n" + _HANDLERS)
#: setup.py of a source-only package whose build (only the wheel's, not its metadata's) takes 80 s.
_SLOW_SETUP = ("import sys\nimport time\n\nfrom setuptools import setup\n\n"
               "if 'bdist_wheel' in sys.argv:  # a C extension compiling: minutes on a real package\n"
               "    time.sleep(80)\n"
               "setup(name='slow-extension', version='1.0', py_modules=['slow_extension'])\n")


def _add(tar: tarfile.TarFile, name: str, size: int, data: Any) -> None:
    """One regular file, with fixed times and modes (the scenarios' archives are the same bytes every run)."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 1_700_000_000, 0o644
    tar.addfile(info, data)


def slow_sdist() -> bytes:
    """slow_extension-1.0.tar.gz: an sdist whose wheel takes 80 s to build (the same bytes every run)."""
    files = {"setup.py": _SLOW_SETUP, "slow_extension.py": "OFFSET = 100\n",
             "PKG-INFO": "Metadata-Version: 2.1\nName: slow-extension\nVersion: 1.0\n"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in sorted(files.items()):
            _add(tar, f"slow_extension-1.0/{name}", len(text.encode()), io.BytesIO(text.encode()))
    return buf.getvalue()


#: A checkpoint model_fn downloads at start-up (a pretrained model's usual way in), and the user's copy of it.
WEIGHTS_URL = "https://download.pytorch.org/models/offset-net-5c1e2f3a.pth"
_HUB = ("import json\n\nimport torch\n\nURL = %r\n\n\ndef model_fn(model_dir):\n"
        "    state = torch.hub.load_state_dict_from_url(URL, map_location=\"cpu\")\n"
        "    return {\"offset\": int(state[\"offset\"])}\n" % WEIGHTS_URL) + _HANDLERS


def offset_checkpoint() -> bytes:
    """The checkpoint: a state dict torch.load reads (saved by this machine's torch, read by the image's)."""
    import torch

    buf = io.BytesIO()
    torch.save({"offset": torch.tensor(100)}, buf)
    return buf.getvalue()


_NUMPY = ("import json\n\nimport numpy as np\n\n\ndef model_fn(model_dir):\n"
          "    return {\"offset\": int(np.int64(100))}\n" + _HANDLERS)


@dataclass(frozen=True)
class StartupFailure:
    """One scenario: its endpoint's names, the archive's members, the model's environment, the variant's extra fields,
    and what shows it is broken (``evidence``: a line of its log; None: its status Failed)."""

    name: str
    members: dict[str, str | bytes]  # path → text or bytes
    environment: dict[str, str] = field(default_factory=dict)
    variant: dict[str, Any] = field(default_factory=dict)
    evidence: str | None = None
    instance_type: str = "ml.m5.large"
    model_fields: dict[str, Any] = field(default_factory=dict)  # CreateModel's other fields (EnableNetworkIsolation)
    weights_bytes: int = 0  # a weights.bin of this size in the archive (about 64x compressed: see large_archive)
    random_bytes: int = 0  # a weights.bin of this many random bytes instead: the archive is as large on the wire
    # The stack's in-region link from S3 to an instance (bytes/s) the scenario needs (``local up`` starts the stack
    # with it): the failure scaled down, a model of megabytes on a link of kilobytes a second.
    download_bandwidth: float | None = None
    # other objects of the bucket: key → a function making its bytes (when it is called: a checkpoint needs torch)
    objects: dict[str, Callable[[], bytes]] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"{self.name}-endpoint"

    @property
    def model(self) -> str:
        return f"{self.name}-model"

    @property
    def config(self) -> str:
        return f"{self.name}-config"

    @property
    def archive_key(self) -> str:
        return f"models/{self.name}/model.tar.gz"


STARTUP_FAILURES: dict[str, StartupFailure] = {s.name: s for s in (
    StartupFailure("slow-start", {"code/inference.py": _SLOW}, evidence="Backend worker did not respond in given time"),
    StartupFailure("wrong-program", {"code/inference.py": _PLAIN}, environment={"SAGEMAKER_PROGRAM": "serve.py"},
                   evidence="default_pytorch_inference_handler"),
    StartupFailure("pin-not-found", {"code/inference.py": _NUMPY,
                                     "code/requirements.txt": "numpy==1.0.99\nsix\n"},
                   evidence="numpy==1.0.99"),
    StartupFailure("out-of-memory", {"code/inference.py": _LARGE}, environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "1"},
                   instance_type="ml.t2.medium", evidence="OOM killer"),
    StartupFailure("private-package", {"code/inference.py": _PLAIN,
                                       "code/requirements.txt": "six\nacme-internal-features==2.3.1\n"},
                   evidence="acme-internal-features"),
    StartupFailure("disk-full", {"code/inference.py": _UNPACKS}, variant={"VolumeSizeInGB": 1},
                   evidence="No space left on device"),
    StartupFailure("archive-too-large", {"code/inference.py": _PLAIN}, variant={"VolumeSizeInGB": 1},
                   weights_bytes=1229 * 2**20),
    # two causes, one after the other: pip fails on the pin first; with it dropped, the 5 GiB model outgrows 4 GiB
    StartupFailure("pin-then-memory", {"code/inference.py": _LARGE, "code/requirements.txt": "numpy==1.0.99\nsix\n"},
                   environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}, instance_type="ml.t2.medium",
                   evidence="numpy==1.0.99"),
    StartupFailure("slow-install", {"code/inference.py": _SLOW_IMPORT,
                                    "code/requirements.txt": "--find-links wheelhouse\nslow-extension==1.0\n",
                                    "code/wheelhouse/slow_extension-1.0.tar.gz": slow_sdist()},
                   variant={"ContainerStartupHealthCheckTimeoutInSeconds": 60, "VolumeSizeInGB": 4}),
    # 16 MB on a 200 kB/s link: 80 s to arrive where the variant allows 60 (a large model past its download timeout)
    StartupFailure("download-timeout", {"code/inference.py": _PLAIN}, random_bytes=16_000_000,
                   variant={"ModelDataDownloadTimeoutInSeconds": 60}, download_bandwidth=200_000),
    StartupFailure("no-network", {"code/inference.py": _TABLE, "code/requirements.txt": "tabulate==0.9.0\n"},
                   model_fields={"EnableNetworkIsolation": True}, evidence="No matching distribution found for tabulate"),
    StartupFailure("weights-no-route", {"code/inference.py": _HUB}, model_fields={"EnableNetworkIsolation": True},
                   evidence="URLError", objects={"weights/offset-net-5c1e2f3a.pth": offset_checkpoint}),
)}


def _member(data: str | bytes) -> bytes:
    return data if isinstance(data, bytes) else data.encode()


def archive_bytes(members: dict[str, str | bytes], *, random_bytes: int = 0) -> bytes:
    """A model.tar.gz of ``members``, and a ``weights.bin`` of ``random_bytes`` that do not compress (the same bytes
    every run)."""
    import random

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1 if random_bytes else 9) as tar:
        if random_bytes:
            _add(tar, "weights.bin", random_bytes, io.BytesIO(random.Random(24).randbytes(random_bytes)))
        for name, data in sorted(members.items()):
            raw = _member(data)
            _add(tar, name, len(raw), io.BytesIO(raw))
    return buf.getvalue()


def large_archive(members: dict[str, str | bytes], weights_bytes: int) -> bytes:
    """A model.tar.gz with ``members`` and a ``weights.bin`` of ``weights_bytes``, built streaming: each MiB 16 KiB
    of random bytes, then zeros (about 64x compressed: extraction refuses more than 200x as a gzip bomb)."""
    import gzip
    import os

    mib = 2**20
    twice = (os.urandom(16 * 1024) + bytes(mib - 16 * 1024)) * 2  # a MiB apart: gzip's 32 KiB window sees no repeat

    class Weights:
        pos = 0

        def read(self, n: int = -1) -> bytes:
            n = min(weights_bytes - self.pos, mib if n < 0 else min(n, mib))
            start = self.pos % mib
            self.pos += n
            return twice[start:start + n]

    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w|") as tar:
        _add(tar, "weights.bin", weights_bytes, Weights())
        for name, data in sorted(members.items()):
            raw = _member(data)
            _add(tar, name, len(raw), io.BytesIO(raw))
    return buf.getvalue()


def _role(iam: Any) -> str:
    try:
        return iam.create_role(RoleName=ROLE, Path="/service-role/", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
                "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=ROLE)["Role"]["Arn"]


def _logged(logs: Any, endpoint: str, marker: str) -> bool:
    try:
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=f"/aws/sagemaker/Endpoints/{endpoint}")
        return any(marker in e["message"] for page in pages for e in page["events"])
    except logs.exceptions.ResourceNotFoundException:
        return False


def seed_startup_failure(client: Callable[[str], Any], scenario: StartupFailure, *, wait: float = 300.0,
                         progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Seed ``scenario`` through the stack's AWS API (``client(service)``) and wait until its endpoint is broken."""
    say = progress or (lambda _msg: None)
    t0 = time.monotonic()
    s3, sm, logs = client("s3"), client("sagemaker"), client("logs")
    try:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass
    s3.put_object(Bucket=BUCKET, Key=REQUEST_KEY, Body=json.dumps({"x": [1, 2, 3]}).encode(),
                  ContentType="application/json")
    body = (large_archive(scenario.members, scenario.weights_bytes) if scenario.weights_bytes else
            archive_bytes(scenario.members, random_bytes=scenario.random_bytes))
    s3.put_object(Bucket=BUCKET, Key=scenario.archive_key, Body=body)
    for key, data in scenario.objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=data())
    role_arn = _role(client("iam"))
    env = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
           "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": REGION, **scenario.environment}
    say(f"deploying {scenario.endpoint} ({scenario.name})")
    sm.create_model(ModelName=scenario.model, ExecutionRoleArn=role_arn, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{scenario.archive_key}", "Environment": env},
        **scenario.model_fields)
    sm.create_endpoint_config(EndpointConfigName=scenario.config, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": scenario.model, "InitialInstanceCount": 1,
        "InstanceType": scenario.instance_type, "InitialVariantWeight": 1.0, **scenario.variant}])
    sm.create_endpoint(EndpointName=scenario.endpoint, EndpointConfigName=scenario.config)
    deadline = time.monotonic() + wait
    status = "Creating"
    while time.monotonic() < deadline:
        status = sm.describe_endpoint(EndpointName=scenario.endpoint)["EndpointStatus"]
        if status == "Failed" or (scenario.evidence and _logged(logs, scenario.endpoint, scenario.evidence)):
            break
        time.sleep(2)
    else:
        raise RunbookError(f"{scenario.endpoint} did not break within {wait:g} s (it is {status}).",
                           code="scenario-seed", hint="See the stack log (endpoint-runbook local status).")
    return {"endpoint": scenario.endpoint, "status": status, "model_data": f"s3://{BUCKET}/{scenario.archive_key}",
            "request": f"s3://{BUCKET}/{REQUEST_KEY}", "seeded_in": f"{time.monotonic() - t0:.1f} s"}
