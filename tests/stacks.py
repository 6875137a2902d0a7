"""Local stacks for tests: on a free loopback port, in a state dir of their own, seeded when asked, always
taken down (with every model container they started)."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

__all__ = ["crash_looping", "kept_environ", "log_text", "running_stack", "stack_clients", "stack_with_bucket",
           "wait_settled"]


@contextlib.contextmanager
def running_stack(tmp_path_factory: Any, name: str, *, startup_timeout: float,
                  scenario: str | None = None, s3_bandwidth: float | None = None, **stack_options: Any) -> Iterator[Any]:
    """A started stack's StackInfo for the block; ``scenario`` (e.g. ``stygig-incident``) is seeded first;
    ``s3_bandwidth``: the link limit (bytes/s per connection) for S3 bodies; ``stack_options``: ``stack.up``'s
    others (``invocation_timeout``, ``serverless_idle``, ``model_download_bandwidth``)."""
    from endpoint_runbook.local import scenarios, stack

    state_dir = tmp_path_factory.mktemp(name)
    info = stack.up(port=0, state_dir=state_dir, startup_timeout=startup_timeout, s3_bandwidth=s3_bandwidth,
                    **stack_options)
    try:
        if scenario:
            scenarios.seed(scenario, info.url)
        yield info
    finally:
        stack.down(state_dir)


@contextlib.contextmanager
def stack_with_bucket(tmp_path_factory: Any, name: str, *, region: str, prefix: str, startup_timeout: float,
                      **stack_options: Any) -> Iterator[dict[str, Any]]:
    """A started stack (``running_stack``) with a new bucket ``<prefix>-<tag>`` in ``region``, for the block:
    ``{"info": StackInfo, "c": stack_clients, "bucket": name, "tag": tag}`` (``tag`` makes a test's names unique)."""
    import uuid

    with running_stack(tmp_path_factory, name, startup_timeout=startup_timeout, **stack_options) as info:
        c = stack_clients(info.url, region)
        tag = uuid.uuid4().hex[:8]
        bucket = f"{prefix}-{tag}"
        c["s3"].create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        yield {"info": info, "c": c, "bucket": bucket, "tag": tag}


def stack_clients(url: str, region: str) -> dict[str, Any]:
    """boto3 clients of a stack by service name: ``s3``, ``sagemaker``, ``logs``, and ``runtime`` (sagemaker-runtime:
    one attempt, 120 s to read a reply)."""
    import boto3
    import botocore.config

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
    c = {n: session.client(n, endpoint_url=url) for n in ("s3", "sagemaker", "logs")}
    c["runtime"] = session.client("sagemaker-runtime", endpoint_url=url, config=botocore.config.Config(
        read_timeout=120, retries={"max_attempts": 1}))
    return c


def wait_settled(sm: Any, name: str, timeout: float) -> dict[str, Any]:
    """DescribeEndpoint of ``name`` once it is no longer Creating or Updating (or ``timeout`` seconds passed)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        d = sm.describe_endpoint(EndpointName=name)
        if d["EndpointStatus"] not in ("Creating", "Updating") or time.monotonic() > deadline:
            return d
        time.sleep(0.5)


def log_text(logs: Any, group: str) -> str:
    """Every message of a CloudWatch log group, oldest first ("" while the group does not exist yet)."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"logGroupName": group}
    try:
        while True:
            page = logs.filter_log_events(**kwargs)
            events += page["events"]
            if not page.get("nextToken"):
                return "\n".join(e["message"] for e in events)
            kwargs["nextToken"] = page["nextToken"]
    except logs.exceptions.ResourceNotFoundException:
        return ""


@contextlib.contextmanager
def kept_environ(*names: str) -> Iterator[None]:
    """The variables ``names`` as they were before the block (a test that runs as another IAM user sets them)."""
    import os

    saved = {k: os.environ.get(k) for k in names}
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def crash_looping(text: str) -> bool:
    """Workers that die again and again without ever loading the model, as TorchServe logs it. TorchServe 0.8.2
    (the 2.0 image) logs "Backend worker process died" for the first death only, and loses the dead worker's last
    lines (the traceback's tail, in the image too); each later death is "Auto recovery failed again" before the
    next "Retry worker" (backoff 1, 1, 2, 3, 5 … 144 s)."""
    deaths = text.count("Backend worker process died") + text.count("Auto recovery failed again")
    return deaths >= 2 and "WorkerLoadTime" not in text
