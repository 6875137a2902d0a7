"""Local SageMaker runtime: InvokeEndpoint and InvokeEndpointAsync on the real wire protocol.

Async requests behave as on SageMaker: the call answers 202 at once with the InferenceId, OutputLocation and
FailureLocation; a worker reads the input from S3, POSTs it to the container's ``/invocations``, writes
``<S3OutputPath>/<inference-id>.out`` (or ``<S3FailurePath>/<inference-id>-error.out``), publishes the
``InferenceResult`` notification to the config's SNS success/error topic, logs to the ``/data-log`` stream and
puts the AWS/SageMaker metrics. ``InvocationTimeoutSeconds`` bounds each request, so a crash-looping
container ends in a timeout failure, never a hang.

``InvokeEndpoint`` (real-time and serverless) passes the request to the container's ``/invocations`` and answers
with its reply, or a ``ModelError`` (424) naming the container's status; the model has ``invocation_timeout``
seconds to answer (SageMaker's 60), past which the caller gets SageMaker's own words ("Received server error (0)
... Your invocation timed out while waiting for a response from container primary ..."). A serverless endpoint
starts a container on its first request after idle (a cold start, ``ModelSetupTime``), refuses requests past its
``MaxConcurrency`` in flight (``ThrottlingException``, 400, sent to no model) and bodies over 4 MB (``Request
<id> has oversize body.``). Each request puts, as SageMaker does (namespace AWS/SageMaker, dimensions EndpointName
and VariantName): ``Invocations``; ``Invocation4XXErrors`` and ``Invocation5XXErrors`` (1 or 0; a request the model
never answered counts as a 5xx, as its "server error (0)" says); ``InvocationModelErrors`` when it failed;
``ModelLatency`` and ``OverheadLatency`` (microseconds) when the model answered; ``InvocationsPerInstance`` (real
time); ``ModelSetupTime`` (microseconds) on a cold start.

Each endpoint has an internal queue (:class:`EndpointQueue`), as SageMaker's: accepted requests wait there for
one of ``MaxConcurrentInvocationsPerInstance`` × instances workers, at most their ``InvocationTimeoutSeconds``.
Its size is published as ``ApproximateBacklogSize``, ``ApproximateBacklogSizePerInstance`` and
``HasBacklogWithoutCapacity`` (namespace AWS/SageMaker, dimension EndpointName) every ``metrics_period``
seconds while the endpoint exists.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import RunbookError
from ..s3 import parse_s3_uri
from .hosting import ColdStartFailed, Hosting, LogShipper

DEFAULT_INVOCATION_TIMEOUT = 900
MAX_INVOCATION_TIMEOUT = 3600
DEFAULT_CONCURRENCY = 4
BACKLOG_METRICS = ("ApproximateBacklogSize", "ApproximateBacklogSizePerInstance", "HasBacklogWithoutCapacity")
#: SageMaker's model timeout for InvokeEndpoint (real-time and serverless: /invocations within 1 minute).
DEFAULT_SYNC_TIMEOUT = 60.0
SERVERLESS_MAX_PAYLOAD = 4 * 1024 * 1024
#: What SageMaker answers when the model does not answer in time (published: tests/data/logs-heldout/359-…).
TIMEOUT_MESSAGE = ("Received server error (0) from primary with message \"Your invocation timed out while waiting "
                   "for a response from container primary. Review the latency metrics for each container in Amazon "
                   "CloudWatch, resolve the issue, and try again.\".")


class RuntimeError_(Exception):
    """An error answered to the caller: (HTTP status, AWS error code, message, and the error's other fields)."""

    def __init__(self, status: int, code: str, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, dict(extra or {})


@dataclass
class ContainerReply:
    status: int
    body: bytes
    content_type: str


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _see_logs(region: str, name: str, account: str) -> str:
    return (f"See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group="
            f"/aws/sagemaker/Endpoints/{name} in account {account} for more information.")


def call_container(url: str, body: bytes, content_type: str | None, accept: str | None,
                   custom_attributes: str | None, timeout: float) -> ContainerReply:
    """POST to the container's /invocations; raises TimeoutError past ``timeout`` seconds."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {"Content-Type": content_type or "application/octet-stream"}
    if accept:
        headers["Accept"] = accept
    if custom_attributes:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
    try:
        conn.request("POST", "/invocations", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return ContainerReply(resp.status, data, resp.getheader("Content-Type") or "application/octet-stream")
    except (TimeoutError, OSError) as e:
        if isinstance(e, TimeoutError) or "timed out" in str(e):
            raise TimeoutError(str(e)) from e
        raise ConnectionError(str(e)) from e
    finally:
        conn.close()


class EndpointQueue:
    """One endpoint's internal queue: accepted requests wait here for a worker; at most ``limit`` run at once
    (MaxConcurrentInvocationsPerInstance × instances, re-read at every submit). Workers are threads started
    on demand, and end when the queue is empty."""

    def __init__(self, name: str, work: Callable[[dict[str, Any]], None]):
        self.name, self._work = name, work
        self._jobs: deque[dict[str, Any]] = deque()
        self._cond = threading.Condition()
        self.limit = 1
        self.workers = 0
        self.active = 0
        self.instances = 1

    def submit(self, job: dict[str, Any], limit: int, instances: int) -> None:
        with self._cond:
            self.limit, self.instances = max(1, limit), instances
            self._jobs.append(job)
            if self.workers < self.limit:
                self.workers += 1
                threading.Thread(target=self._worker, name=f"async-{self.name}", daemon=True).start()

    @property
    def backlog(self) -> int:
        """Requests accepted and not finished: waiting, or being processed (SageMaker counts both)."""
        with self._cond:
            return len(self._jobs) + self.active

    def _worker(self) -> None:
        while True:
            with self._cond:
                if not self._jobs or self.workers > self.limit:
                    self.workers -= 1
                    return
                job = self._jobs.popleft()
                self.active += 1
            try:
                self._work(job)
            except Exception:  # a bug in processing must not stop the queue
                logging.getLogger("endpoint_runbook.local").exception("async request %s", job.get("inference_id"))
            finally:
                with self._cond:
                    self.active -= 1

    def drop(self) -> list[dict[str, Any]]:
        with self._cond:
            jobs, self._jobs = list(self._jobs), deque()
            return jobs


class Runtime:
    def __init__(self, hosting: Hosting, *, metrics_period: float = 5.0,
                 invocation_timeout: float = DEFAULT_SYNC_TIMEOUT):
        self.hosting = hosting
        self.invocation_timeout = invocation_timeout
        self._in_flight: dict[tuple[str, str, str], int] = {}  # serverless: synchronous requests now
        self._queues: dict[tuple[str, str, str], EndpointQueue] = {}
        self._lock = threading.Lock()
        self._data_logs: dict[tuple[str, str, str], LogShipper] = {}
        self.metrics_period = metrics_period
        self._stop = threading.Event()
        self._kick = threading.Event()
        threading.Thread(target=self._publish_backlog_loop, name="backlog-metrics", daemon=True).start()

    # -- helpers -----------------------------------------------------------------------------------
    def _endpoint(self, account: str, region: str, name: str) -> tuple[Any, dict[str, Any]]:
        rec = self.hosting._record(account, region, name)
        if rec is None:
            raise RuntimeError_(400, "ValidationError", f"Endpoint {name} of account {account} not found.")
        cfg = self.hosting.client("sagemaker", region).describe_endpoint_config(
            EndpointConfigName=rec.endpoint_config_name)
        return rec, cfg

    def queue(self, account: str, region: str, name: str) -> EndpointQueue:
        key = (account, region, name)
        with self._lock:
            if key not in self._queues:
                self._queues[key] = EndpointQueue(name, self._process)
            return self._queues[key]

    def backlog(self, account: str, region: str, name: str) -> int:
        with self._lock:
            q = self._queues.get((account, region, name))
        return q.backlog if q else 0

    @staticmethod
    def _instances(rec: Any) -> int:
        return sum(int(v.get("CurrentInstanceCount") or 0) for v in rec.production_variants)

    def _data_log(self, region: str, c: Any) -> LogShipper:
        key = (region, c.endpoint, c.instance_id)
        with self._lock:
            if key not in self._data_logs:
                self._data_logs[key] = LogShipper(self.hosting.client("logs", region),
                                                  f"/aws/sagemaker/Endpoints/{c.endpoint}",
                                                  f"{c.log_stream}/data-log")
            return self._data_logs[key]

    # -- InvokeEndpoint ----------------------------------------------------------------------------
    def invoke(self, account: str, region: str, name: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        rec, cfg = self._endpoint(account, region, name)
        if rec.endpoint_status not in ("InService", "Updating"):
            raise RuntimeError_(400, "ValidationError",
                                f"Endpoint {name} of account {account} is not in service (status {rec.endpoint_status}).")
        serverless = ((cfg.get("ProductionVariants") or [{}])[0]).get("ServerlessConfig")
        if not serverless:
            c = self.hosting.container_for(account, region, name)
            if c is None or c.state != "Running":
                raise RuntimeError_(400, "ValidationError", f"Endpoint {name} of account {account} is not in service "
                                    f"(status {rec.endpoint_status}).")
            return self._sync_call(account, region, name, c, body, headers, per_instance=self._instances(rec))
        if len(body) > SERVERLESS_MAX_PAYLOAD:
            raise RuntimeError_(400, "ValidationError", f"Request {uuid.uuid4()} has oversize body.")
        key, limit = (account, region, name), int(serverless.get("MaxConcurrency") or 1)
        with self._lock:
            if self._in_flight.get(key, 0) >= limit:
                raise RuntimeError_(400, "ThrottlingException", f"The serverless endpoint {name} has {limit} request(s) "
                                    f"in flight, its MaxConcurrency: the request was throttled. Retry with backoff.")
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            t0 = time.time()
            try:
                c, setup_s = self.hosting.cold_start(account, region, name)
            except ColdStartFailed as e:
                variant = ((cfg.get("ProductionVariants") or [{}])[0]).get("VariantName") or "AllTraffic"
                self._sync_metrics(region, name, variant, status=0, model_ms=None, total_ms=(time.time() - t0) * 1000)
                raise RuntimeError_(424, "ModelError", f"Received server error (0) from primary with message "
                                    f"\"{e}\". " + _see_logs(region, name, account), {"OriginalStatusCode": 0}) from None
            return self._sync_call(account, region, name, c, body, headers, setup_ms=setup_s * 1000 or None,
                                   started=t0)
        finally:
            with self._lock:
                self._in_flight[key] -= 1

    def _sync_call(self, account: str, region: str, name: str, c: Any, body: bytes, headers: dict[str, str], *,
                   per_instance: int | None = None, setup_ms: float | None = None,
                   started: float | None = None) -> tuple[int, dict, bytes]:
        """One synchronous request through the container; its metrics; its answer or SageMaker's ModelError."""
        t0 = started or time.time()
        self.hosting.begin_request(c)
        sent = time.time()
        try:
            reply = call_container(c.url, body, headers.get("content-type"), headers.get("accept"),
                                   headers.get("x-amzn-sagemaker-custom-attributes"), timeout=self.invocation_timeout)
        except (TimeoutError, ConnectionError) as e:
            self._sync_metrics(region, name, c.variant, status=0, model_ms=None, total_ms=(time.time() - t0) * 1000,
                               per_instance=per_instance, setup_ms=setup_ms)
            message = TIMEOUT_MESSAGE if isinstance(e, TimeoutError) else \
                f"Received server error (0) from primary with message \"{e}\"."
            raise RuntimeError_(424, "ModelError", f"{message} {_see_logs(region, name, account)}",
                                {"OriginalStatusCode": 0, "LogStreamArn": self._stream_arn(account, region, c)}) from None
        finally:
            self.hosting.end_request(c)
        model_ms = (time.time() - sent) * 1000
        self._sync_metrics(region, name, c.variant, status=reply.status, model_ms=model_ms,
                           total_ms=(time.time() - t0) * 1000, per_instance=per_instance, setup_ms=setup_ms)
        if reply.status >= 400:
            kind = "client" if reply.status < 500 else "server"
            text = reply.body.decode('utf-8', 'replace')[:1000]
            raise RuntimeError_(424, "ModelError",
                                f"Received {kind} error ({reply.status}) from primary with message \"{text}\". "
                                + _see_logs(region, name, account),
                                {"OriginalStatusCode": reply.status, "OriginalMessage": text,
                                 "LogStreamArn": self._stream_arn(account, region, c)})
        return 200, {"Content-Type": reply.content_type, "x-Amzn-Invoked-Production-Variant": c.variant}, reply.body

    @staticmethod
    def _stream_arn(account: str, region: str, c: Any) -> str:
        return (f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{c.endpoint}:log-stream:"
                f"{c.log_stream}")

    def _sync_metrics(self, region: str, endpoint: str, variant: str, *, status: int, model_ms: float | None,
                      total_ms: float, per_instance: int | None = None, setup_ms: float | None = None) -> None:
        """A synchronous request's metrics, as SageMaker puts them (``status`` 0: the model never answered)."""
        dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]

        def m(name: str, value: float, unit: str = "None") -> dict[str, Any]:
            return {"MetricName": name, "Dimensions": dims, "Value": float(value), "Unit": unit}

        data = [m("Invocations", 1), m("Invocation4XXErrors", 1 if 400 <= status < 500 else 0),
                m("Invocation5XXErrors", 1 if status >= 500 or status == 0 else 0)]
        if not 200 <= status < 300:
            data.append(m("InvocationModelErrors", 1))
        if model_ms is not None:
            data += [m("ModelLatency", model_ms * 1000, "Microseconds"),
                     m("OverheadLatency", max(0.0, total_ms - model_ms - (setup_ms or 0)) * 1000, "Microseconds")]
        if per_instance:
            data.append(m("InvocationsPerInstance", 1 / per_instance))
        if setup_ms:
            data.append(m("ModelSetupTime", setup_ms * 1000, "Microseconds"))
        try:
            self.hosting.client("cloudwatch", region).put_metric_data(Namespace="AWS/SageMaker", MetricData=data)
        except Exception:  # metrics are best effort, as on the platform
            pass

    # -- InvokeEndpointAsync -----------------------------------------------------------------------
    def invoke_async(self, account: str, region: str, name: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        rec, cfg = self._endpoint(account, region, name)
        aic = cfg.get("AsyncInferenceConfig")
        if not aic:
            raise RuntimeError_(400, "ValidationError",
                                f"Endpoint {name} of account {account} is not an asynchronous inference endpoint.")
        input_location = headers.get("x-amzn-sagemaker-inputlocation")
        if not input_location:
            raise RuntimeError_(400, "ValidationError", "InputLocation is required.")
        try:
            parse_s3_uri(input_location)
        except RunbookError:
            raise RuntimeError_(400, "ValidationError", f"InputLocation {input_location!r} is not an S3 URI.") from None
        try:
            timeout = int(headers.get("x-amzn-sagemaker-invocationtimeoutseconds") or DEFAULT_INVOCATION_TIMEOUT)
        except ValueError:
            raise RuntimeError_(400, "ValidationError", "InvocationTimeoutSeconds must be an integer.") from None
        if not 1 <= timeout <= MAX_INVOCATION_TIMEOUT:
            raise RuntimeError_(400, "ValidationError",
                                f"InvocationTimeoutSeconds must be between 1 and {MAX_INVOCATION_TIMEOUT}.")
        out_cfg = aic.get("OutputConfig", {})
        inference_id = headers.get("x-amzn-sagemaker-inference-id") or str(uuid.uuid4())
        ext = (headers.get("x-amzn-sagemaker-s3outputpathextension") or "").strip("/")
        out_base = "/".join(p for p in (out_cfg["S3OutputPath"].rstrip("/"), ext) if p)
        output_location = f"{out_base}/{inference_id}.out"
        failure_location = None
        if out_cfg.get("S3FailurePath"):
            fail_base = "/".join(p for p in (out_cfg["S3FailurePath"].rstrip("/"), ext) if p)
            failure_location = f"{fail_base}/{inference_id}-error.out"
        job = {
            "account": account, "region": region, "endpoint": name, "inference_id": inference_id,
            "input_location": input_location, "output_location": output_location,
            "failure_location": failure_location, "timeout": timeout,
            "content_type": headers.get("x-amzn-sagemaker-content-type"),
            "accept": headers.get("x-amzn-sagemaker-accept"),
            "custom_attributes": headers.get("x-amzn-sagemaker-custom-attributes"),
            "received": time.time(),
            "ttl": int(headers.get("x-amzn-sagemaker-requestttlseconds") or 6 * 3600),
            "notification": out_cfg.get("NotificationConfig") or {},
        }
        per_instance = int((aic.get("ClientConfig") or {}).get("MaxConcurrentInvocationsPerInstance")
                           or DEFAULT_CONCURRENCY)
        instances = self._instances(rec)
        self.queue(account, region, name).submit(job, per_instance * max(1, instances), instances)
        self._kick.set()
        resp_headers = {"X-Amzn-SageMaker-OutputLocation": output_location, "Content-Type": "application/json"}
        if failure_location:
            resp_headers["X-Amzn-SageMaker-FailureLocation"] = failure_location
        return 202, resp_headers, json.dumps({"InferenceId": inference_id}).encode()

    def _process(self, job: dict[str, Any]) -> None:
        region, name = job["region"], job["endpoint"]
        deadline = job["received"] + job["timeout"]
        s3 = self.hosting.client("s3", region)
        # Wait (bounded) for a serving container: requests queue while an endpoint is Creating/Updating.
        c = None
        while time.time() < deadline:
            c = self.hosting.container_for(job["account"], region, name)
            rec = self.hosting._record(job["account"], region, name)
            if rec is None:
                return self._fail(job, None, "ClientError: The endpoint was deleted before the request was processed.")
            if c is not None and c.state == "Running":
                break
            if rec.endpoint_status == "Failed":
                return self._fail(job, c, f"ServerError: Endpoint {name} is Failed: {rec.failure_reason}")
            time.sleep(0.5)
        else:
            waited = "in the endpoint's queue for a free instance" if c is not None and c.state == "Running" \
                else "for the endpoint to be InService"
            return self._fail(job, c, f"ServerError: Request timed out after {job['timeout']} seconds "
                                      f"(InvocationTimeoutSeconds) waiting {waited}.")
        try:
            bucket, key = parse_s3_uri(job["input_location"])
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as e:
            return self._fail(job, c, f"ClientError: Failed to download input data from {job['input_location']}: "
                                      f"{type(e).__name__}.")
        started = time.time()
        self.hosting.begin_request(c)
        try:
            reply = call_container(c.url, body, job["content_type"], job["accept"], job["custom_attributes"],
                                   timeout=max(0.1, deadline - started))
        except TimeoutError:
            return self._fail(job, c, f"ServerError: Request timed out after {job['timeout']} seconds "
                                      "(InvocationTimeoutSeconds) waiting for the model to respond.")
        except ConnectionError as e:
            return self._fail(job, c, f"ServerError: Could not reach the model container: {e}")
        finally:
            self.hosting.end_request(c)
        latency_ms = int((time.time() - started) * 1000)
        if reply.status >= 400:
            kind = "ClientError: Received client error" if reply.status < 500 else "ServerError: Received server error"
            msg = reply.body.decode("utf-8", "replace")[:2000]
            return self._fail(job, c, f"{kind} ({reply.status}) from model with message \"{msg}\". See the "
                                      "SageMaker Endpoint logs in your account for more information.",
                              latency_ms=latency_ms)
        bucket, key = parse_s3_uri(job["output_location"])
        s3.put_object(Bucket=bucket, Key=key, Body=reply.body, ContentType=reply.content_type)
        self._data_log(region, c).add(
            f"[sagemaker] Inference request succeeded. InferenceId: {job['inference_id']}. "
            f"ModelLatency: {latency_ms} ms. OutputLocation: {job['output_location']}")
        self._data_log(region, c).flush()
        self._metrics(region, name, c.variant, ok=True, latency_ms=latency_ms)
        self._notify(job, "Completed", {"contentType": reply.content_type, "outputLocation": job["output_location"]})

    def _fail(self, job: dict[str, Any], c: Any, reason: str, *, latency_ms: int | None = None) -> None:
        region = job["region"]
        if job["failure_location"]:
            bucket, key = parse_s3_uri(job["failure_location"])
            self.hosting.client("s3", region).put_object(Bucket=bucket, Key=key, Body=reason.encode(),
                                                         ContentType="text/plain")
        if c is not None:
            self._data_log(region, c).add(
                f"[sagemaker] Inference request failed. InferenceId: {job['inference_id']}. {reason}")
            self._data_log(region, c).flush()
            self._metrics(region, job["endpoint"], c.variant, ok=False, latency_ms=latency_ms)
        params: dict[str, Any] = {}
        if job["failure_location"]:
            params["failureLocation"] = job["failure_location"]
        self._notify(job, "Failed", params, failure_reason=reason)

    def _notify(self, job: dict[str, Any], status: str, response: dict[str, Any], *,
                failure_reason: str | None = None) -> None:
        topic = job["notification"].get("SuccessTopic" if status == "Completed" else "ErrorTopic")
        if not topic:
            return
        message: dict[str, Any] = {
            "awsRegion": job["region"],
            "eventTime": _iso(time.time()),
            "receivedTime": _iso(job["received"]),
            "invocationStatus": status,
            "requestParameters": {"contentType": job["content_type"] or "application/octet-stream",
                                  "endpointName": job["endpoint"], "inputLocation": job["input_location"]},
            "responseParameters": response,
            "inferenceId": job["inference_id"],
            "eventVersion": "1.0",
            "eventSource": "aws:sagemaker",
            "eventName": "InferenceResult",
        }
        if failure_reason:
            message["failureReason"] = failure_reason
        self.hosting.client("sns", job["region"]).publish(TopicArn=topic, Message=json.dumps(message))

    def _metrics(self, region: str, endpoint: str, variant: str, *, ok: bool, latency_ms: int | None) -> None:
        dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        data = [{"MetricName": "Invocations", "Dimensions": dims, "Value": 1.0, "Unit": "Count"}]
        if not ok:
            data.append({"MetricName": "InvocationModelErrors", "Dimensions": dims, "Value": 1.0, "Unit": "Count"})
        if latency_ms is not None:
            data.append({"MetricName": "ModelLatency", "Dimensions": dims, "Value": latency_ms * 1000.0,
                         "Unit": "Microseconds"})
        try:
            self.hosting.client("cloudwatch", region).put_metric_data(Namespace="AWS/SageMaker", MetricData=data)
        except Exception:  # metrics are best effort, as on the platform
            pass

    # -- the backlog metrics ------------------------------------------------------------------------
    def publish_backlog(self) -> None:
        """Put the three backlog metrics of every endpoint that has a queue; forget the deleted ones."""
        with self._lock:
            queues = list(self._queues.items())
        for (account, region, name), q in queues:
            rec = self.hosting._record(account, region, name)
            if rec is None:
                with self._lock:
                    self._queues.pop((account, region, name), None)
                continue
            backlog, instances = q.backlog, self._instances(rec)
            dims = [{"Name": "EndpointName", "Value": name}]
            data = [
                {"MetricName": "ApproximateBacklogSize", "Dimensions": dims, "Value": float(backlog), "Unit": "Count"},
                {"MetricName": "ApproximateBacklogSizePerInstance", "Dimensions": dims,
                 "Value": float(backlog) / instances if instances else float(backlog), "Unit": "Count"},
                {"MetricName": "HasBacklogWithoutCapacity", "Dimensions": dims,
                 "Value": 1.0 if backlog and not instances else 0.0, "Unit": "Count"},
            ]
            try:
                self.hosting.client("cloudwatch", region).put_metric_data(Namespace="AWS/SageMaker", MetricData=data)
            except Exception:  # best effort, as on the platform
                pass

    def _publish_backlog_loop(self) -> None:
        while not self._stop.is_set():
            self._kick.wait(self.metrics_period)
            self._kick.clear()
            if self._stop.is_set():
                return
            self.publish_backlog()
            self._stop.wait(min(1.0, self.metrics_period))  # at most one burst per second

    def shutdown(self) -> None:
        self._stop.set()
        self._kick.set()
        with self._lock:
            queues = list(self._queues.values())
        for q in queues:
            q.drop()
