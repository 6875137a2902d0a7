"""Why ``model_fn`` failed: a named sub-cause from the exception, its message and its traceback.

The load check (and the container's log lines) show the exception that stopped the model from loading. The
kinds that need different fixes:

- ``model-fn-signature``: the toolkit's own call of model_fn failed on its signature: it appends its context
  to a model_fn with two parameters (``model_fn(model_dir, file_name=None)`` then gets TorchServe's ``Context``
  as ``file_name``: ``... not 'Context'``), and refuses other counts (``model_fn takes 3 arguments but 1 were
  given``).
- ``network-at-startup``: model_fn downloads something (pretrained weights from a model hub, a file over
  HTTP, S3 without an endpoint) -- DNS failure, connection refused or reset, no route, hub offline errors, the
  load check's refusing proxy (``network``: the hosts it recorded). The container has no internet unless its
  VPC allows it: ship the weights in the archive.
- ``missing-artifact``: model_fn opens a file the archive lacks (``FileNotFoundError``, ``could not open``).
- ``version-mismatch``: unpickling or ``torch.load`` of an artifact saved with other library versions
  (``No module named 'numpy._core'``, ``Can't get attribute``, ``unsupported pickle protocol``,
  ``Weights only load failed``, binary incompatibility).
- ``out-of-memory``: ``MemoryError``, allocator failures, the process killed by the kernel.
- ``model-fn-exception``: anything else; the innermost frame in the model code says where.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["SUB_CAUSES", "StartupFailure", "classify_startup_failure"]

#: Sub-cause → what to do.
SUB_CAUSES: dict[str, str] = {
    "model-fn-signature": "the SageMaker toolkit calls model_fn(model_dir) for a one-parameter model_fn and "
                          "model_fn(model_dir, context) for a two-parameter one (any other count is a TypeError): "
                          "make it def model_fn(model_dir) and pass optional values some other way.",
    "network-at-startup": "model_fn reaches the network while loading; the container has no internet unless the "
                          "VPC allows it (and network isolation forbids it). Ship the weights in the archive and "
                          "load them from model_dir.",
    "missing-artifact": "model_fn opens a file the archive lacks; add it to model.tar.gz where model_fn reads it "
                        "(relative to model_dir, i.e. /opt/ml/model).",
    "version-mismatch": "an artifact was saved (pickle / torch.save / joblib) with library versions the serving "
                        "image does not have; re-save it with the image's versions, or pin the versions it needs "
                        "in code/requirements.txt.",
    "out-of-memory": "loading the model runs out of memory; use a larger instance type, fewer workers "
                     "(SAGEMAKER_MODEL_SERVER_WORKERS) or a smaller model.",
    "model-fn-exception": "model_fn raised; see the innermost frame in the model code and fix the code or the "
                          "artifacts.",
}

_NET_TYPES = {"URLError", "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "ConnectionAbortedError",
              "gaierror", "herror", "MaxRetryError", "NewConnectionError", "ConnectTimeout", "ConnectTimeoutError",
              "ProxyError", "LocalEntryNotFoundError", "OfflineModeIsEnabled", "EndpointConnectionError",
              "NameResolutionError", "HfHubHTTPError", "RemoteDisconnected"}
_NET_TEXT = re.compile(
    r"Name or service not known|Temporary failure in name resolution|nodename nor servname|getaddrinfo failed|"
    r"Connection refused|Connection reset|Network is unreachable|No route to host|Failed to establish a new "
    r"connection|Max retries exceeded|Could not resolve host|outgoing traffic has been disabled|couldn't connect to|"
    r"Cannot connect to|Could not connect to the endpoint URL|urlopen error|Connection timed out|"
    r"connect timeout|Failed to resolve|Failed to download", re.I)
_NET_FRAMES = re.compile(r"/(?:urllib/request|http/client|socket|ssl)\.py|/(?:requests|urllib3|huggingface_hub|"
                         r"httpx|aiohttp)/|torch/hub\.py|download_url_to_file|hf_hub_download|from_pretrained")
#: The toolkit's context object by its class name in an error (TorchServe's ``Context``; MMS's ``Context``):
#: ``join() argument must be str ... not 'Context'``, ``'Context' object has no attribute ...``.
_CONTEXT_TEXT = re.compile(r"""(?:not|object) '?Context'?|'Context' object|\bContext\b object""")
_TOOLKIT_COUNT = re.compile(r"\bmodel_fn takes \d+ arguments but \d+ were given")
_FILE_TYPES = {"FileNotFoundError", "IsADirectoryError", "NotADirectoryError"}
_FILE_TEXT = re.compile(r"No such file or directory|could not open .* for reading|does not appear to have a file "
                        r"named|Unable to open file|file not found", re.I)
_PATH = re.compile(r"No such file or directory: '(?P<a>[^']+)'|could not open (?P<b>\S+) for reading|"
                   r"Unable to open file \(?.*?name = '(?P<c>[^']+)'")
_VERSION_TEXT = re.compile(
    r"numpy\._core|numpy\.core\.multiarray failed to import|_ARRAY_API not found|Can't get attribute|"
    r"unsupported pickle protocol|Weights only load failed|invalid load key|UnpicklingError|"
    r"Trying to unpickle estimator|InconsistentVersionWarning|size changed, may indicate binary incompatibility|"
    r"was compiled (?:using|against)|incompatible (?:version|with)", re.I)
_UNPICKLE_FRAMES = re.compile(r"pickle\.load|pickle\.loads|torch\.load|joblib\.load|/torch/serialization\.py|"
                              r"/joblib/|find_class|_load_from_bytes|np\.load\(.*allow_pickle|load_state_dict")
_OOM_TYPES = {"MemoryError", "OutOfMemoryError"}
_OOM_TEXT = re.compile(r"out of memory|Cannot allocate memory|can't allocate memory|std::bad_alloc|"
                       r"DefaultCPUAllocator|^Killed$", re.I | re.M)


@dataclass
class StartupFailure:
    """A model_fn failure, named. ``path``/``archive_path``: the file a ``missing-artifact`` wanted."""

    sub_cause: str
    summary: str
    advice: str
    evidence: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def classify_startup_failure(error_type: str | None, message: str | None, traceback: str | None = None, *,
                             model_dir: str = "/opt/ml/model", exit_code: int | None = None,
                             network: list[dict[str, Any]] | None = None,
                             signature: dict[str, Any] | None = None) -> StartupFailure:
    """Name why loading the model failed. ``model_dir``: where the archive was extracted (paths under it are
    reported relative to the archive root); ``exit_code``: the process's, when it died without an exception
    (``-9``/``137``: killed, usually out of memory); ``network``: the hosts the load check saw model_fn try
    (``LoadCheck.startup_network``); ``signature``: the load check found the toolkit's call to be the cause."""
    et = error_type or ""
    msg = message or ""
    tb = traceback or ""
    text = f"{et}: {msg}\n{tb}"
    first = f"{et}: {msg}".strip(": ")
    evidence = [first] if first else []
    if et in _OOM_TYPES or _OOM_TEXT.search(text) or exit_code in (-9, 137):
        return _named("out-of-memory", f"loading the model ran out of memory ({first or f'exit {exit_code}'})",
                      evidence, {"exit_code": exit_code})
    if signature or (et in ("TypeError", "AttributeError", "ValueError") and _CONTEXT_TEXT.search(msg)) or \
            (et == "TypeError" and _TOOLKIT_COUNT.search(msg)):
        return _named("model-fn-signature", f"the toolkit's call of model_fn fails on its signature ({first})",
                      evidence, dict(signature or {}))
    hosts = list(dict.fromkeys(str(n.get("host")) for n in network or [] if n.get("host")))
    if hosts and (et in _NET_TYPES or _NET_TEXT.search(text) or "403 Forbidden" in text or "no network" in text):
        return _named("network-at-startup", f"model_fn reached {', '.join(hosts)} while loading and failed "
                      f"({first})", evidence, {"host": hosts[0], "hosts": hosts, "network": list(network or [])})
    unpickling = bool(_UNPICKLE_FRAMES.search(tb))
    if _VERSION_TEXT.search(text) or (unpickling and et in ("ModuleNotFoundError", "AttributeError", "ImportError",
                                                            "TypeError", "ValueError")):
        mod = re.search(r"No module named '([^']+)'", msg)
        return _named("version-mismatch", f"an artifact does not load with the serving image's library versions "
                      f"({first})", evidence, {"module": mod.group(1) if mod else None})
    if et in _NET_TYPES or _NET_TEXT.search(msg) or (et in ("OSError", "TimeoutError", "timeout", "HTTPError")
                                                     and _NET_FRAMES.search(tb)):
        host = re.search(r"host='([^']+)'|https?://([^/\s'\"]+)|\[Errno -?\d+\] [^:]+: '?([\w.-]+)", text)
        return _named("network-at-startup", f"model_fn reached the network while loading and failed ({first})",
                      evidence, {"host": next((g for g in host.groups() if g), None) if host else None})
    if et in _FILE_TYPES or _FILE_TEXT.search(msg):
        m = _PATH.search(msg)
        path = next((g for g in m.groups() if g), None) if m else None
        rel = None
        if path:
            root = model_dir.rstrip("/") + "/"
            # The load check extracts to <tmp>/ml/model, the container to /opt/ml/model.
            rel = path[len(root):] if path.startswith(root) else (
                path.split("/ml/model/", 1)[1] if "/ml/model/" in path else None)
        what = f"{rel} (not in the archive)" if rel else (path or "a file")
        return _named("missing-artifact", f"model_fn opens {what}: {first}", evidence,
                      {"path": path, "archive_path": rel})
    return _named("model-fn-exception", f"model_fn raised {first or 'an exception'}", evidence, {})


def _named(code: str, summary: str, evidence: list[str], data: dict[str, Any]) -> StartupFailure:
    return StartupFailure(code, summary, SUB_CAUSES[code], evidence, data)
