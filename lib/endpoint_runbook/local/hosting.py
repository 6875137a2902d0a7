"""Local hosting: a SageMaker endpoint is a real model container on loopback.

CreateEndpoint/UpdateEndpoint start a container for the endpoint config's model: ModelDataUrl is fetched
from (local) S3, safely extracted into the container's private base dir (``SAGEMAKER_BASE_DIR``) (uncompressed
model data, a ``ModelDataSource`` prefix, is downloaded object by object into the model dir), and served
by the real SageMaker PyTorch toolkit on the real TorchServe (``container_entry.py`` in the serving
environment of the model's image: its profile, picked from the model's ``Image``, built the first time a
container needs it and verified against its manifest at every start; an image without a profile gets the
default one and the container's log says so). Every line the container prints goes to CloudWatch Logs as
SageMaker ships it. The endpoint is
Creating until ``/ping`` answers, then InService; Failed with a FailureReason when the model data cannot be
fetched or extracted, the container exits, or it never answers within the start-up timeout.

A serverless endpoint (its variant has a ``ServerlessConfig``) has no instances: the container that passed the
health check at creation (or update) is stopped once the endpoint is InService, and the first request after idle
starts one (a cold start: :meth:`Hosting.cold_start`, bounded by the 3 minutes SageMaker gives a serverless
container to download the model and answer ``/ping``); a container idle for ``serverless_idle`` seconds is stopped
again. Its ``MemorySizeInMB`` is its memory limit (``local.memory_limit``: a memory cgroup, else a watchdog).

An instance-based variant (real-time or async) holds its instance type's resources, as SageMaker's instance does:

- **memory**: the type's memory (``endpoint.instances``, EC2's published figures) is the container's memory limit,
  enforced as the serverless one. The whole figure: the share SageMaker's own agents take of a real instance is not
  published and not subtracted, so a model just under the figure may start here and not on SageMaker. A type the
  table does not know runs without a limit, and the container's log says so;
- **ModelDataDownloadTimeoutInSeconds**: the model data must be downloaded and extracted within it
  (``local.model_download``), at the stack's in-region bandwidth (``model_download_bandwidth``; None: loopback's);
- **VolumeSizeInGB**: the instance's ML storage volume (``local.volume``): a tmpfs of that size at the container's
  work dir, mounted before the model data is fetched, holding everything the container writes (its temp dir and
  home through a short symlink, its requirements layer). Model data that does not fit fails the create with
  SageMaker's "model data archive is too large" and the sizes; a model that writes past it gets ``[Errno 28] No
  space left on device``. Without VolumeSizeInGB (or where no tmpfs can be mounted: the log says so) the container
  writes to this machine's disk, unbounded.

A model with ``EnableNetworkIsolation`` gets a container without a network (``serving.netns``): a network namespace
of its own with only loopback, so pip reaches no package index (nor this machine's local ones: its pip gets none of
this machine's configuration) and model code reaches no host, S3 included; the stack reaches its port through a
bridge, at the same URL. Where this machine cannot make a network namespace, the container does not start (the
FailureReason says why): it never runs connected instead. A model's ``VpcConfig`` changes nothing here: its
containers have this machine's network, although a VPC without a NAT gateway has no route to the internet.

All AWS-side effects (S3 reads, log events, SNS, metrics) go through boto3 clients pointed at the stack's own
server, so they are real objects in it. Only the endpoint's status is reported to its record directly
(``LocalEndpoint.set_state`` in ``local.sagemaker``, the stack's SageMaker backend), since the SageMaker API has
no call for that.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import boto3
import botocore.config

from ..endpoint.instances import memory_gib
from ..errors import RunbookError
from ..s3 import parse_s3_prefix, parse_s3_uri
from ..serving.env import ServingEnv, ensure_serving_env
from ..serving.netns import IsolationUnavailable
from ..serving.server import ModelServer, start_model_server
from .memory_limit import MemoryLimit
from .model_download import TIMEOUT_REASON, DownloadClock, DownloadTimedOut
from .volume import Volume, filled, unmount_stale

log = logging.getLogger("endpoint_runbook.local")

_TS_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)[,.](\d{3})")
UPDATE_FAILURE = ("Failed to update endpoint to endpoint configuration {config}; the endpoint stays on its "
                  "previous configuration. {reason}")
#: SageMaker's FailureReason when the model data does not fit on the instance (sagemaker-python-sdk issue 879), then
#: the local stack's figures.
VOLUME_FULL = ("The model data archive is too large. Please reduce the size of the model data archive or move to an "
               "instance type with more memory. (local stack: the instance's ML storage volume is {gib} GiB, "
               "{size} bytes (VolumeSizeInGB); the model data ({data}) filled it while it was being {stage}: "
               "{error}. Raise VolumeSizeInGB, or make the model data smaller.)")
PING_FAILURE = ("The primary container for production variant {variant} did not pass the ping health check. "
                "Please check CloudWatch logs for this endpoint.")
#: SageMaker gives a serverless container 3 minutes to download the model and answer /ping (Developer Guide, Invoke a
#: serverless endpoint).
SERVERLESS_STARTUP_S = 180.0
DEFAULT_SERVERLESS_IDLE_S = 300.0


class ColdStartFailed(Exception):
    """A serverless cold start whose container did not come up; the message says why."""


def new_instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


def line_timestamp(line: str, fallback_ms: int) -> int:
    """The container's own timestamp of a log line (TorchServe/log4j prints local time), else ``fallback``."""
    m = _TS_STAMP.match(line)
    if not m:
        return fallback_ms
    try:
        t = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").astimezone(dt.timezone.utc)
    except ValueError:
        return fallback_ms
    return int(t.timestamp() * 1000) + int(m.group(2))


class LogShipper:
    """Ships lines to one CloudWatch Logs stream in batches, in order, with the lines' own timestamps."""

    def __init__(self, logs_client: Any, group: str, stream: str):
        self.logs, self.group, self.stream = logs_client, group, stream
        self._buf: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._last_ts = 0
        self._ensure()

    def _ensure(self) -> None:
        for call, kw in ((self.logs.create_log_group, {"logGroupName": self.group}),
                         (self.logs.create_log_stream, {"logGroupName": self.group, "logStreamName": self.stream})):
            try:
                call(**kw)
            except self.logs.exceptions.ResourceAlreadyExistsException:
                pass

    def add(self, line: str, ts_ms: int | None = None) -> None:
        now = int(time.time() * 1000)
        ts = line_timestamp(line, now) if ts_ms is None else ts_ms
        with self._lock:
            ts = max(ts, self._last_ts)  # CloudWatch wants a batch in time order
            self._last_ts = ts
            self._buf.append({"timestamp": ts, "message": line.rstrip("\n") or " "})
            full = len(self._buf) >= 500
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._buf = self._buf, []
            if not batch:
                return
            try:
                self.logs.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=batch)
            except self.logs.exceptions.ResourceNotFoundException:
                self._ensure()
                self.logs.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=batch)


@dataclass
class Container:
    """One model container (one instance of a production variant)."""

    endpoint: str
    variant: str
    model: dict[str, Any]
    workdir: Path
    instance_id: str = field(default_factory=new_instance_id)
    state: str = "Pending"  # Pending → Starting → Running | Failed | Stopped
    failure_reason: str | None = None
    shipper: LogShipper | None = None
    server: ModelServer | None = None
    inflight: int = 0  # requests the runtime is sending to it now (an update drains them before stopping it)
    profile: str | None = None  # the image profile whose serving environment runs it
    serverless: dict[str, Any] | None = None  # its variant's ServerlessConfig (None: an instance)
    memory: MemoryLimit | None = None  # serverless: MemorySizeInMB as its limit; an instance: its type's memory
    instance_type: str | None = None  # an instance's ML instance type (None: serverless)
    download_timeout: float | None = None  # the variant's ModelDataDownloadTimeoutInSeconds (None: unbounded)
    volume: Volume | None = None  # the variant's VolumeSizeInGB at ``workdir`` (None: this machine's disk)
    last_used: float = field(default_factory=time.monotonic)

    @property
    def spec(self) -> dict[str, Any]:
        """The model's primary container (image, ModelDataUrl, Environment)."""
        return self.model.get("PrimaryContainer") or (self.model.get("Containers") or [{}])[0]

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.server.proc if self.server else None

    @property
    def url(self) -> str:
        return self.server.url if self.server else ""

    @property
    def log_stream(self) -> str:
        return f"{self.variant}/{self.instance_id}"

    def describe(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "variant": self.variant, "instance_id": self.instance_id,
                "state": self.state, "profile": self.profile, "port": self.server.port if self.server else None,
                "pid": self.proc.pid if self.proc else None,
                "workdir": str(self.workdir), "failure_reason": self.failure_reason,
                "serverless": self.serverless, "instance_type": self.instance_type,
                "memory_limit": self.memory.mechanism if self.memory else None,
                "memory_limit_mb": self.memory.limit_mb if self.memory else None,
                "oom_kills": self.memory.oom_kills() if self.memory else 0,
                "volume_gib": self.volume.size_gib if self.volume else None,
                "volume_enforced": bool(self.volume and self.volume.enforced),
                "volume_used_bytes": self.volume.used_bytes() if self.volume else None}


class ModelDataError(Exception):
    """The model data cannot be used; the message is the endpoint's FailureReason."""


def safe_extract(archive: Path, dest: Path, clock: DownloadClock | None = None) -> None:
    """Extract a model.tar.gz like the platform does, refusing members that would land outside ``dest``; within
    ``clock``'s deadline (DownloadTimedOut past it)."""
    from ..archive import safe_extract as extract_archive
    from ..errors import InputError

    try:
        with open(archive, "rb") as f:
            # streaming, refuses hostile members; any Python (tarfile's filter= is 3.11.4+)
            extract_archive(clock.reader(f) if clock and clock.active else f, dest)
    except InputError as e:
        raise ModelDataError(str(e)) from e
    except (OSError, EOFError) as e:
        raise ModelDataError(str(e)) from e


def fetch_prefix(s3: Any, uri: str, dest: Path, clock: DownloadClock | None = None) -> None:
    """Uncompressed model data (``S3Prefix``, ``CompressionType: None``): every object under the prefix,
    downloaded to ``dest`` at its path relative to the prefix, as SageMaker copies it to /opt/ml/model."""
    if not uri.endswith("/"):
        raise ModelDataError(f"Could not download model data from {uri}: an S3Prefix S3Uri must end with '/'.")
    try:
        bucket, prefix = parse_s3_prefix(uri)
        objects = [o for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                   for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    except Exception as e:
        raise ModelDataError(f"Could not list model data under {uri}. Please ensure that the role passed to "
                             f"CreateModel has permissions to list and download it. ({type(e).__name__})") from e
    if not objects:
        raise ModelDataError(f"No model data found under {uri}. Please ensure that objects exist under the prefix.")
    root = dest.resolve()
    for o in objects:
        target = (root / o["Key"][len(prefix):]).resolve()
        if not target.is_relative_to(root):
            raise ModelDataError(f"Model data object {o['Key']} resolves outside the model directory.")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            s3.download_file(bucket, o["Key"], str(target), Callback=clock if clock and clock.active else None)
        except DownloadTimedOut:
            raise
        except Exception as e:
            raise ModelDataError(f"Failed to download model data(bucket: {bucket}, key: {o['Key']}). "
                                 f"({type(e).__name__})") from e


class Hosting:
    """Model containers for the endpoints of one stack. Thread-safe; called by the stack's request handler."""

    def __init__(self, *, server_url: str, work_root: Path, startup_timeout: float = 600.0,
                 on_change: Callable[[], None] | None = None,
                 serverless_idle: float = DEFAULT_SERVERLESS_IDLE_S, model_download_bandwidth: float | None = None):
        if model_download_bandwidth is not None and model_download_bandwidth <= 0:
            raise ValueError("model_download_bandwidth must be positive (bytes/s) or None")
        self.server_url = server_url
        self.model_download_bandwidth = model_download_bandwidth  # bytes/s from S3 to an instance (None: unlimited)
        self.work_root = Path(work_root)
        for point in unmount_stale(self.work_root):  # a crashed stack's volumes hold RAM
            log.warning("unmounted a stale instance volume at %s", point)
        self.startup_timeout = startup_timeout
        self.serverless_idle = serverless_idle
        self.on_change = on_change or (lambda: None)
        self._lock = threading.RLock()
        self.containers: dict[tuple[str, str, str], Container] = {}  # (account, region, endpoint) → serving
        self._cold: dict[tuple[str, str, str], threading.Lock] = {}  # one cold start at a time per endpoint
        self._stopping = threading.Event()
        threading.Thread(target=self._reap_idle, name="serverless-idle", daemon=True).start()

    # -- clients -----------------------------------------------------------------------------------
    def client(self, service: str, region: str) -> Any:
        cfg = botocore.config.Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=60)
        return boto3.session.Session(
            aws_access_key_id="local-stack", aws_secret_access_key="local-stack", region_name=region
        ).client(service, endpoint_url=self.server_url, config=cfg)

    # -- the endpoint's record (``local.sagemaker``: the stack's SageMaker backend) ---------------------
    @staticmethod
    def _record(account: str, region: str, name: str) -> Any | None:
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[account][region].endpoints.get(name)

    def _set_status(self, account: str, region: str, name: str, status: str, reason: str | None = None,
                    *, config_name: str | None = None, variants: list[dict[str, Any]] | None = None) -> None:
        rec = self._record(account, region, name)
        if rec is None:  # deleted meanwhile
            return
        rec.set_state(status, reason, config_name=config_name, variants=variants)
        self.on_change()

    # -- lifecycle (called by the SageMaker backend once the record is Creating or Updating) -----------
    def create_endpoint(self, account: str, region: str, name: str, config_name: str) -> None:
        threading.Thread(target=self._bring_up, args=(account, region, name, config_name, None),
                         name=f"create-{name}", daemon=True).start()
        self.on_change()

    def update_endpoint(self, account: str, region: str, name: str, config_name: str) -> None:
        """Blue/green, as SageMaker's UpdateEndpoint: the old container keeps serving while the new one starts;
        it must pass /ping before traffic shifts. If it does not, the endpoint stays on the previous config and
        returns to InService with a FailureReason."""
        with self._lock:
            old = self.containers.get((account, region, name))
        # A Failed endpoint (its container never passed the health check) has nothing serving to fall back on: the
        # update brings it up as a create does, and leaves it Failed when the new container fails too.
        failed = old is not None and old.state == "Failed"
        threading.Thread(target=self._bring_up, args=(account, region, name, config_name, None if failed else old),
                         kwargs={"update": not failed}, name=f"update-{name}", daemon=True).start()
        self.on_change()

    def delete_endpoint(self, account: str, region: str, name: str) -> None:
        with self._lock:
            c = self.containers.pop((account, region, name), None)
        if c:
            self._stop(c)
        self.on_change()

    def container_for(self, account: str, region: str, name: str) -> Container | None:
        with self._lock:
            return self.containers.get((account, region, name))

    def all_containers(self) -> list[Container]:
        with self._lock:
            return list(self.containers.values())

    def shutdown(self) -> None:
        """Stop every container at once (each gets its SIGTERM grace period side by side, not one after another: a
        stack of a dozen endpoints stops in one container's time)."""
        self._stopping.set()
        stoppers = [threading.Thread(target=self._stop, args=(c,), name=f"stop-{c.instance_id}", daemon=True)
                    for c in self.all_containers()]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        with self._lock:
            self.containers.clear()

    # -- internals ---------------------------------------------------------------------------------
    def _bring_up(self, account: str, region: str, name: str, config_name: str, old: Container | None, *,
                  update: bool = False) -> None:
        """Start a container of ``config_name`` and wait for /ping; an update (``update``) leaves the endpoint on its
        previous config when it fails, and drains the ``old`` container (None: a serverless endpoint at zero) once
        traffic has shifted. A serverless endpoint's container stops once it passed: the first request starts one."""
        update = update or old is not None
        sm = self.client("sagemaker", region)
        try:
            config = sm.describe_endpoint_config(EndpointConfigName=config_name)
            variant = config["ProductionVariants"][0]
            model = sm.describe_model(ModelName=variant["ModelName"])
        except Exception as e:  # the config or model vanished, or is malformed
            # an update rolls back (the old container keeps serving); a create fails
            reason = f"Could not read the endpoint configuration: {e}"
            return self._set_status(account, region, name, "InService" if update else "Failed",
                                    UPDATE_FAILURE.format(config=config_name, reason=reason) if update else reason)
        c = self._container(name, variant, model)
        timeout = float(variant.get("ContainerStartupHealthCheckTimeoutInSeconds") or self.startup_timeout)
        if c.serverless:
            timeout = min(timeout, SERVERLESS_STARTUP_S)
        with self._lock:
            if not update:
                self.containers[(account, region, name)] = c
        self._launch(c, region, timeout)
        if self._stopping.is_set():
            return self._stop(c)
        variants = [dict(v, InitialInstanceCount=v.get("InitialInstanceCount", 1)) for v in
                    config["ProductionVariants"]]
        if c.state == "Running":
            with self._lock:
                self.containers[(account, region, name)] = c
            self._set_status(account, region, name, "InService", config_name=config_name, variants=variants)
            if old:  # traffic has shifted: the old fleet finishes what it is serving, then stops
                self._drain_and_stop(old)
            if c.serverless:  # no instances: compute comes with the first request (a cold start)
                if c.shipper:
                    c.shipper.add("[local stack] serverless: the container that passed the health check stops; the "
                                  "first request starts one (a cold start)")
                self._release(account, region, name, c)
        else:
            self._stop(c)
            if update:  # a failed update: the old container keeps serving, on the previous config
                return self._set_status(account, region, name, "InService", UPDATE_FAILURE.format(
                    config=config_name, reason=c.failure_reason))
            self._set_status(account, region, name, "Failed", c.failure_reason)

    def _launch(self, c: Container, region: str, timeout: float) -> None:
        """Fetch the model, start the container, wait for /ping: ``c.state`` says how it went."""
        try:
            if c.volume:
                c.volume.mount()  # before anything lands in the work dir; not enforced: _start's log says why
            self._fetch_model(c, region)
            self._start(c, region)
            self._wait_ready(c, timeout)
        except ModelDataError as e:
            c.state, c.failure_reason = "Failed", str(e)
        except BaseException:
            if c.volume:  # a bug: the caller never stops this container, its volume must not hold RAM
                c.volume.unmount()
            raise

    def _container(self, name: str, variant: dict[str, Any], model: dict[str, Any]) -> Container:
        """A new container of ``variant`` (serverless: with its memory limit)."""
        c = Container(endpoint=name, variant=variant["VariantName"], model=model,
                      workdir=self.work_root / name / secrets.token_hex(4))
        sc = variant.get("ServerlessConfig")
        if sc:
            c.serverless = dict(sc)
            c.memory = MemoryLimit(int(sc.get("MemorySizeInMB") or 2048), c.instance_id)
            return c
        c.instance_type = variant.get("InstanceType")
        timeout = variant.get("ModelDataDownloadTimeoutInSeconds")
        c.download_timeout = float(timeout) if timeout else None
        if variant.get("VolumeSizeInGB"):
            c.volume = Volume(c.workdir, int(variant["VolumeSizeInGB"]))
        gib = memory_gib(c.instance_type or "")
        if gib:
            c.memory = MemoryLimit(int(gib * 1024), c.instance_id, source=f"{c.instance_type}'s {gib:g} GiB")
        return c

    def _release(self, account: str, region: str, name: str, c: Container) -> None:
        """A serverless container goes (idle, or right after its health check): the endpoint scales to zero."""
        with self._lock:
            if self.containers.get((account, region, name)) is c:
                del self.containers[(account, region, name)]
        self._drain_and_stop(c)

    def cold_start(self, account: str, region: str, name: str) -> tuple[Container, float]:
        """The running container of serverless endpoint ``name``, started now when there is none (a cold start:
        the endpoint's current config and model, its memory limit, /ping within 3 minutes). Returns it and the
        setup's seconds (0.0 when it was warm). Raises ColdStartFailed."""
        key = (account, region, name)
        with self._lock:
            lock = self._cold.setdefault(key, threading.Lock())
        with lock:
            c = self.container_for(account, region, name)
            if c is not None and c.state == "Running":
                if c.proc is None or c.proc.poll() is None:
                    return c, 0.0
                self._release(account, region, name, c)  # it died (e.g. past its memory): a new one
            t0 = time.monotonic()
            rec = self._record(account, region, name)
            if rec is None:
                raise ColdStartFailed(f"Endpoint {name} was deleted.")
            sm = self.client("sagemaker", region)
            config = sm.describe_endpoint_config(EndpointConfigName=rec.endpoint_config_name)
            variant = config["ProductionVariants"][0]
            c = self._container(name, variant, sm.describe_model(ModelName=variant["ModelName"]))
            self._launch(c, region, SERVERLESS_STARTUP_S)
            if c.state != "Running" or self._record(account, region, name) is None:  # failed, or deleted meanwhile
                self._stop(c)
                raise ColdStartFailed(c.failure_reason or PING_FAILURE.format(variant=c.variant)
                                      if c.state != "Running" else f"Endpoint {name} was deleted.")
            c.last_used = time.monotonic()
            with self._lock:
                self.containers[key] = c
            self.on_change()
            return c, time.monotonic() - t0

    def _reap_idle(self) -> None:
        """Serverless containers idle for ``serverless_idle`` seconds stop (the endpoint scales to zero)."""
        while not self._stopping.wait(1.0):
            now = time.monotonic()
            with self._lock:
                idle = [(k, c) for k, c in self.containers.items() if c.serverless and c.state == "Running"
                        and c.inflight == 0 and now - c.last_used > self.serverless_idle]
            for (account, region, name), c in idle:
                if c.shipper:
                    c.shipper.add(f"[local stack] serverless: idle for {self.serverless_idle:g} s, the container stops")
                self._release(account, region, name, c)

    def _fetch_model(self, c: Container, region: str) -> None:
        """The model data onto the instance (``ml/model``); an instance's within its ModelDataDownloadTimeoutInSeconds
        at the stack's in-region bandwidth. Raises ModelDataError (its message is the FailureReason)."""
        clock = DownloadClock(c.download_timeout, None if c.serverless else self.model_download_bandwidth)
        url = c.spec.get("ModelDataUrl")
        source = (c.spec.get("ModelDataSource") or {}).get("S3DataSource") or {}
        shown = url or source.get("S3Uri") or ""
        try:
            self._fetch_data(c, region, clock)
        except DownloadTimedOut:
            total = self._model_data_bytes(region, shown)
            raise ModelDataError(TIMEOUT_REASON.format(
                variant=c.variant, timeout=c.download_timeout or 0, done=clock.received,
                total=total if total is not None else "?", url=shown)) from None
        except ModelDataError as e:
            full = filled(e)
            if full is None or not (c.volume and c.volume.enforced):
                raise
            total = self._model_data_bytes(region, shown)
            raise ModelDataError(VOLUME_FULL.format(
                gib=c.volume.size_gib, size=c.volume.size_bytes, data=f"{total} bytes in S3" if total is not None
                else "its size in S3 unknown", error=f"[Errno {full.errno}] {full.strerror}",
                stage="extracted" if "extract" in str(e) else "downloaded")) from e

    def _model_data_bytes(self, region: str, uri: str) -> int | None:
        """The model data's size in bytes (an object, or every object under a prefix); None when it cannot be read."""
        try:
            s3 = self.client("s3", region)
            if uri.endswith("/"):
                bucket, prefix = parse_s3_prefix(uri)
                return sum(o["Size"] for page in s3.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=prefix) for o in page.get("Contents", []))
            bucket, key = parse_s3_uri(uri)
            return int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except Exception:
            return None

    def _fetch_data(self, c: Container, region: str, clock: DownloadClock) -> None:
        url = c.spec.get("ModelDataUrl")
        base = c.workdir / "ml"
        (base / "model").mkdir(parents=True, exist_ok=True)
        source = (c.spec.get("ModelDataSource") or {}).get("S3DataSource") or {}
        if not url and source.get("S3DataType") == "S3Prefix" and source.get("CompressionType") == "None":
            return fetch_prefix(self.client("s3", region), source.get("S3Uri") or "", base / "model", clock)
        url = url or (source.get("S3Uri") if source.get("CompressionType") == "Gzip" else None)
        if not url:
            return  # a model without data: code only, as SageMaker allows
        try:
            bucket, key = parse_s3_uri(url)
        except RunbookError as e:
            raise ModelDataError(f"Could not download model data from {url}: {e}") from e
        archive = c.workdir / "model.tar.gz"
        try:
            self.client("s3", region).download_file(bucket, key, str(archive),
                                                    Callback=clock if clock.active else None)
        except DownloadTimedOut:
            archive.unlink(missing_ok=True)
            raise
        except Exception as e:
            archive.unlink(missing_ok=True)
            raise ModelDataError(
                f"Failed to download model data(bucket: {bucket}, key: {key}). Please ensure that there is an "
                "object located at the URL and that the role passed to CreateModel has permissions to "
                f"download the model. ({type(e).__name__})") from e
        try:
            safe_extract(archive, base / "model", clock)
        except ModelDataError as e:
            raise ModelDataError(
                f"Failed to extract model data archive from URL \"{url}\". Please ensure that the object "
                f"located at the URL is a valid tar.gz archive. ({e})") from e
        finally:
            archive.unlink(missing_ok=True)

    @staticmethod
    def env_for(image: str | None, say: Callable[[str], None] = log.info) -> ServingEnv:
        """The serving environment of the model's image: its profile's, built the first time a container of
        that profile starts (concurrent starts wait for one build; the start-up timeout runs after it) and
        verified at every start."""
        return ensure_serving_env(image, log=say)

    def _start(self, c: Container, region: str) -> None:
        shipper = c.shipper = LogShipper(self.client("logs", region), f"/aws/sagemaker/Endpoints/{c.endpoint}",
                                         c.log_stream)

        def say(msg: str) -> None:  # a build takes minutes: the endpoint's log says why it is still Creating
            log.info(msg)
            shipper.add(f"[local stack] {msg}")

        try:
            env = self.env_for(c.spec.get("Image"), say)
        except RunbookError as e:  # no serving environment for this image here: the container cannot start
            raise ModelDataError(f"The local stack could not build the serving environment of "
                                 f"{c.spec.get('Image')}: {str(e).splitlines()[0]}") from e
        c.profile = env.profile.name if env.profile else None
        for note in env.profile.notes if env.profile else ():
            shipper.add(f"[local stack] {note}")
        isolated = bool(c.model.get("EnableNetworkIsolation"))
        try:
            c.server = start_model_server(
                env, base_dir=c.workdir / "ml", workdir=c.workdir,
                environment=c.spec.get("Environment") or {},
                # The container's AWS: the stack itself (on SageMaker, the execution role).
                extra_env={"AWS_ENDPOINT_URL": self.server_url, "AWS_ACCESS_KEY_ID": "local-stack",
                           "AWS_SECRET_ACCESS_KEY": "local-stack", "AWS_DEFAULT_REGION": region, "AWS_REGION": region},
                preexec_fn=c.memory.preexec if c.memory else None, network=not isolated,
                temp_on=c.workdir if c.volume and c.volume.enforced else None,
            )
        except IsolationUnavailable as e:
            reason = (f"The local stack cannot isolate this container's network: {e}; it does not run it with the "
                      "network (the model has EnableNetworkIsolation).")
            shipper.add(f"[local stack] {reason}")
            shipper.flush()
            raise ModelDataError(reason) from e
        if isolated:
            shipper.add("[local stack] EnableNetworkIsolation: the container has no network (a network namespace of "
                        "its own with only loopback: no S3, no package index, no DNS); the stack reaches its port "
                        "through a bridge")
        if c.memory and c.serverless:
            shipper.add(f"[local stack] serverless: memory limit {c.memory.limit_mb} MB (MemorySizeInMB), enforced by "
                        f"a {c.memory.mechanism}")
        elif c.memory:
            shipper.add(f"[local stack] instance {c.instance_type}: memory limit {c.memory.limit_mb} MB (the instance "
                        f"type's memory, none of it set aside for SageMaker's own agents), enforced by a "
                        f"{c.memory.mechanism}")
        else:
            shipper.add(f"[local stack] instance type {c.instance_type} is not in the stack's table of instance sizes "
                        "(endpoint.instances): the container runs without a memory limit")
        if c.volume and c.volume.enforced:
            shipper.add(f"[local stack] instance volume: {c.volume.size_gib} GiB (VolumeSizeInGB), enforced by a tmpfs")
        elif c.volume:
            shipper.add(f"[local stack] instance volume: {c.volume.size_gib} GiB (VolumeSizeInGB) is NOT enforced: "
                        f"{c.volume.why_not}; the container writes to this machine's disk, without a limit")
        elif not c.serverless:
            shipper.add("[local stack] instance volume: no VolumeSizeInGB, the container writes to this machine's disk "
                        "(SageMaker gives the instance type's default volume)")
        if c.memory:
            c.memory.watch(c.server.proc.pid, shipper.add)
        c.state = "Starting"
        self.on_change()
        threading.Thread(target=self._pump, args=(c,), name=f"logs-{c.instance_id}", daemon=True).start()

    def _pump(self, c: Container) -> None:
        assert c.proc and c.proc.stdout and c.shipper
        stop_flusher = threading.Event()

        def flusher() -> None:
            while not stop_flusher.wait(0.5):
                c.shipper.flush()

        t = threading.Thread(target=flusher, daemon=True)
        t.start()
        try:
            for line in c.proc.stdout:
                c.shipper.add(line)
        finally:
            stop_flusher.set()
            c.shipper.flush()

    def _wait_ready(self, c: Container, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._stopping.is_set():
            if c.proc and c.proc.poll() is not None:
                c.state = "Failed"
                c.failure_reason = PING_FAILURE.format(variant=c.variant)
                return
            try:
                with urllib.request.urlopen(f"{c.url}/ping", timeout=2) as r:
                    if r.status == 200:
                        c.state = "Running"
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                c.state = "Failed"
                c.failure_reason = PING_FAILURE.format(variant=c.variant)
                return
            time.sleep(0.5)

    def begin_request(self, c: Container) -> None:
        with self._lock:
            c.inflight += 1
            c.last_used = time.monotonic()

    def end_request(self, c: Container) -> None:
        with self._lock:
            c.inflight -= 1
            c.last_used = time.monotonic()

    def _drain_and_stop(self, c: Container, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while c.inflight > 0 and time.monotonic() < deadline and not self._stopping.is_set():
            time.sleep(0.2)
        self._stop(c)

    def _stop(self, c: Container) -> None:
        if c.server:
            c.server.stop()
        if c.memory:
            c.memory.close()
        if c.state != "Failed":
            c.state = "Stopped"
        if c.volume:  # its RAM goes back; then the (empty) mount point goes with the work dir
            c.volume.unmount()
        shutil.rmtree(c.workdir, ignore_errors=True)
        self.on_change()
