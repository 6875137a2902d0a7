"""An endpoint's kind — asynchronous, real-time or serverless — read from its endpoint config, and what each kind
means for the runbook: how a fixed config copies the broken one, how a request is sent, which limits apply.

- **async**: the config has an ``AsyncInferenceConfig``; requests go through ``InvokeEndpointAsync`` (input in S3,
  results and failures in S3, SNS notifications);
- **serverless**: its production variant has a ``ServerlessConfig`` (memory, max concurrency; no instances);
  requests go through ``InvokeEndpoint``;
- **real-time**: instances (type and count), ``InvokeEndpoint``.

Serverless limits (:data:`SERVERLESS_LIMITS`, each with where AWS says it):

- ``MemorySizeInMB`` 1024–6144 in 1 GB steps, ``MaxConcurrency`` 1–200, ``ProvisionedConcurrency`` 1–200 and at
  most ``MaxConcurrency`` (API reference, ProductionVariantServerlessConfig);
- 5 GB of storage whatever the memory, and the memory "at least as large as your model size" (Developer Guide,
  Serverless Inference: memory size);
- no GPUs, VPC configuration, network isolation, data capture, multiple production variants (Developer Guide,
  Serverless Inference: feature exclusions);
- request and response payloads of at most 4 MB, the model downloaded and ``/ping`` answered within 3 minutes,
  ``/invocations`` answered within 1 minute (Developer Guide, Invoke a serverless endpoint);
- an image of at most 10 GiB: SageMaker fails the endpoint with ``Image size 13279248421 is greater than supported
  size 10737418240`` (aws-solutions-library-samples/qnabot-on-aws#691, aws/deep-learning-containers#4616, whose
  ``pytorch-inference:2.0.0-gpu`` image measured 13494688833 bytes).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from ..findings import Finding

__all__ = ["ASYNC", "KINDS", "NAME_INFIX", "REAL_TIME", "REAL_TIME_PAYLOAD_BYTES", "SERVERLESS", "SERVERLESS_LIMITS", "ServerlessLimit",
           "config_kwargs", "is_sync", "kind_of", "kind_of_endpoint", "serverless_config_of",
           "serverless_findings"]

ASYNC, REAL_TIME, SERVERLESS = "async", "real-time", "serverless"
KINDS = (ASYNC, REAL_TIME, SERVERLESS)
#: The word deploy puts in the names it derives for each kind (``<prefix>-<infix>-<sha>…``).
NAME_INFIX = {ASYNC: "async-fixed", REAL_TIME: "realtime-fixed", SERVERLESS: "serverless-fixed"}


@dataclass(frozen=True)
class ServerlessLimit:
    value: Any
    what: str
    source: str


_API = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html"
_GUIDE = "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html"
_INVOKE = "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-invoke.html"
_IMAGE = ("https://github.com/aws-solutions-library-samples/qnabot-on-aws/issues/691, "
          "https://github.com/aws/deep-learning-containers/issues/4616")

SERVERLESS_LIMITS: dict[str, ServerlessLimit] = {
    "memory_mb": ServerlessLimit((1024, 2048, 3072, 4096, 5120, 6144), "MemorySizeInMB: 1024–6144 in 1 GB steps",
                                 _API),
    "max_concurrency": ServerlessLimit((1, 200), "MaxConcurrency: 1–200", _API),
    "provisioned_concurrency": ServerlessLimit((1, 200), "ProvisionedConcurrency: 1–200, at most MaxConcurrency",
                                               _API),
    "storage_bytes": ServerlessLimit(5 * 1000**3, "5 GB of storage whatever the memory size", _GUIDE),
    "no_gpu": ServerlessLimit(True, "no GPUs (nor VPC configuration, network isolation, data capture, several "
                              "production variants)", _GUIDE + "#serverless-endpoints-how-it-works-exclusions"),
    "payload_bytes": ServerlessLimit(4 * 1024 * 1024, "request and response payloads of at most 4 MB", _INVOKE),
    "startup_seconds": ServerlessLimit(180, "model downloaded and /ping answered within 3 minutes", _INVOKE),
    "invocation_seconds": ServerlessLimit(60, "/invocations answered within 1 minute", _INVOKE),
    "image_bytes": ServerlessLimit(10737418240, "an image of at most 10 GiB (10737418240 bytes)", _IMAGE),
}
#: A real-time endpoint's request payload limit: 6 MB (InvokeEndpoint answers 413 past it; the published case in
#: tests/data/logs-corpus/326-bad-request-repost-413-payload-over-6mb.txt).
REAL_TIME_PAYLOAD_BYTES = 6 * 1024 * 1024

_GPU_IMAGE = re.compile(r"[:-]gpu[-:]|-gpu$|-cu\d{3}\b|:[^/]*cu\d{3}")


def serverless_config_of(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """The first production variant's ``ServerlessConfig`` of a DescribeEndpointConfig answer (None: instances)."""
    variants = (config or {}).get("ProductionVariants") or []
    sc = (variants[0] if variants else {}).get("ServerlessConfig")
    return dict(sc) if sc else None


def kind_of(config: dict[str, Any] | None) -> str:
    """``async``, ``serverless`` or ``real-time``, from a DescribeEndpointConfig answer."""
    if (config or {}).get("AsyncInferenceConfig"):
        return ASYNC
    return SERVERLESS if serverless_config_of(config) else REAL_TIME


def kind_of_endpoint(async_config: dict[str, Any] | None, variants: list[dict[str, Any]]) -> str:
    """The kind from an async config and variants as DescribeEndpoint shows them (``CurrentServerlessConfig``) or
    as the config holds them (``ServerlessConfig``)."""
    if async_config:
        return ASYNC
    if any(v.get("ServerlessConfig") or v.get("CurrentServerlessConfig") for v in variants):
        return SERVERLESS
    return REAL_TIME


def is_sync(kind: str | None) -> bool:
    """Real-time and serverless endpoints answer ``InvokeEndpoint`` (the caller waits for the model's answer)."""
    return kind in (REAL_TIME, SERVERLESS)


def config_kwargs(kind: str, *, async_config: dict[str, Any] | None = None,
                  data_capture: dict[str, Any] | None = None, kms_key_id: str | None = None) -> dict[str, Any]:
    """What CreateEndpointConfig takes besides the name, tags and variants, for ``kind``: the async config (async
    only), data capture and the KMS key (not serverless: it supports neither)."""
    out: dict[str, Any] = {}
    if kind == ASYNC and async_config:
        out["AsyncInferenceConfig"] = copy.deepcopy(async_config)
    if kind != SERVERLESS:
        if data_capture:
            out["DataCaptureConfig"] = copy.deepcopy(data_capture)
        if kms_key_id:
            out["KmsKeyId"] = kms_key_id
    return out


def _limit(key: str) -> ServerlessLimit:
    return SERVERLESS_LIMITS[key]


def serverless_findings(serverless: dict[str, Any] | None, *, image: str | None,
                        model_bytes: int | None = None, variants: int = 1, network_isolation: bool = False,
                        vpc: bool = False) -> list[Finding]:
    """A serverless endpoint's config held against the limits (:data:`SERVERLESS_LIMITS`): memory, concurrency,
    GPU image, the model data's unpacked size against the storage and the memory, the features it excludes.
    ``model_bytes``: the model data's size once unpacked (the archive's members), None when unknown."""
    if not serverless:
        return []
    out: list[Finding] = []
    mem = serverless.get("MemorySizeInMB")
    sizes = _limit("memory_mb").value
    if mem not in sizes:
        out.append(Finding("serverless-memory-invalid", "error",
                           f"MemorySizeInMB {mem} is not one of {', '.join(map(str, sizes))}: pick one (1 GB steps, "
                           f"1024–6144). Source: {_limit('memory_mb').source}", [f"MemorySizeInMB: {mem}"],
                           {"memory_mb": mem}))
    lo, hi = _limit("max_concurrency").value
    mc = serverless.get("MaxConcurrency")
    if not isinstance(mc, int) or not lo <= mc <= hi:
        out.append(Finding("serverless-concurrency-invalid", "error",
                           f"MaxConcurrency {mc} is outside {lo}–{hi}: set it in that range. Source: "
                           f"{_limit('max_concurrency').source}", [f"MaxConcurrency: {mc}"]))
    pc = serverless.get("ProvisionedConcurrency")
    if pc is not None and (not isinstance(pc, int) or pc < 1 or (isinstance(mc, int) and pc > mc)):
        out.append(Finding("serverless-concurrency-invalid", "error",
                           f"ProvisionedConcurrency {pc} must be 1–200 and at most MaxConcurrency ({mc}). Source: "
                           f"{_limit('provisioned_concurrency').source}", [f"ProvisionedConcurrency: {pc}"]))
    if image and _GPU_IMAGE.search(image.rsplit("/", 1)[-1]):
        out.append(Finding("serverless-gpu-image", "error",
                           f"The image {image} is a GPU image: serverless endpoints have no GPU (and AWS's GPU "
                           "framework images are larger than the 10 GiB serverless image limit). Use the CPU image of "
                           f"the same framework version. Sources: {_limit('no_gpu').source}; {_limit('image_bytes').source}",
                           [image]))
    if variants > 1:
        out.append(Finding("serverless-feature-excluded", "error", "A serverless endpoint takes one production "
                           f"variant, this config has {variants}. Source: {_limit('no_gpu').source}", [str(variants)]))
    for on, what in ((network_isolation, "network isolation"), (vpc, "a VPC configuration")):
        if on:
            out.append(Finding("serverless-feature-excluded", "error", f"The model asks for {what}, which serverless "
                               f"endpoints do not support. Source: {_limit('no_gpu').source}", [what]))
    if model_bytes is not None:
        storage = _limit("storage_bytes").value
        if model_bytes > storage:
            out.append(Finding("serverless-model-too-large", "error",
                               f"The model data unpacks to {model_bytes / 1e9:.2f} GB, more than the 5 GB of storage a "
                               "serverless endpoint has: use a real-time (or async) endpoint, or a smaller model. "
                               f"Source: {_limit('storage_bytes').source}", [f"{model_bytes} bytes"],
                               {"model_bytes": model_bytes, "storage_bytes": storage}))
        elif isinstance(mem, int) and model_bytes > mem * 1024 * 1024:
            out.append(Finding("serverless-memory-below-model", "warning",
                               f"The model data unpacks to {model_bytes / 2**20:.0f} MiB, more than the endpoint's "
                               f"{mem} MB of memory: loading it may kill the container (AWS: the memory should be at "
                               f"least as large as the model). Raise MemorySizeInMB. Source: {_GUIDE}",
                               [f"{model_bytes} bytes", f"MemorySizeInMB: {mem}"],
                               {"model_bytes": model_bytes, "memory_mb": mem}))
    out.append(Finding("serverless-image-size-unchecked", "info",
                       "A serverless image must be at most 10 GiB (10737418240 bytes); its size is not readable here "
                       "(the image lives in another account's registry). SageMaker says 'Image size N is greater than "
                       f"supported size 10737418240' in FailureReason when it is larger. Source: "
                       f"{_limit('image_bytes').source}", [image or "(no image)"]))
    return out
