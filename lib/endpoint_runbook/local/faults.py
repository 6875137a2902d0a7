"""Fault injection for the local stack: chosen AWS calls throttle, fail with a 5xx, or lose their connection.

A WSGI middleware in front of everything the stack serves (moto, hosting, runtime), so the runbook's code
runs unchanged, with its real botocore retries. It is configured at run time through a control endpoint:

    POST   /_local/faults   {"seed": 1, "rules": [{"match": {"service": "s3", "operation": "UploadPart"},
                                                  "fault": "throttle", "rate": 0.3, "max": 5}]}
    GET    /_local/faults   counters: calls seen and faults injected per call class, per rule
    DELETE /_local/faults   clear the rules (returns the counters as they were)

A call is identified by the SigV4 credential scope (service), ``X-Amz-Target`` (JSON protocols), the
``/service/<svc>/operation/<Op>`` path (Smithy RPC v2 CBOR: CloudWatch), the ``Action`` parameter (query
protocols: SNS, STS, IAM) and, for S3 (REST-XML), method + path + sub-resource. SageMaker runtime signs as
``sagemaker`` too; its ``/endpoints/<name>/invocations|async-invocations`` path tells it apart.

Faults (``fault``):
- ``throttle``: the service's own throttling error (S3 ``503 SlowDown``; JSON ``ThrottlingException``; query
  ``Throttling``), which botocore's standard retry mode retries;
- ``5xx``: ``500 InternalError``/``InternalFailure`` in the service's error shape;
- ``drop``: the request body is read, then the connection is shut without a response (botocore sees
  ``ConnectionClosedError`` and retries);
- ``drop-after``: the request is served (its side effect happens), then the connection is shut before the
  response is sent: the client does not know it succeeded;
- ``access-denied``: the service's own permission error (JSON ``AccessDeniedException``, query and S3
  ``AccessDenied``, HTTP 403 where the service answers so), as when a policy or an organization's service
  control policy denies the call (e.g. a region the account may not use). Never retried;
- ``latency``: the call waits ``seconds`` (default 0.02), then is served as usual: the round trip to a real
  region, where the stack on loopback answers in a few milliseconds (for benchmarks of many calls).

Every fault except ``drop-after`` is injected before the request reaches moto/hosting: nothing happened.
A rule matches on ``service``, ``operation`` (a name or a list), ``call_class`` (see :data:`CALL_CLASSES`),
``method``, ``region`` (the SigV4 scope's) and ``account`` (the account the access key belongs to, as moto
resolves it: an assumed role's key is its role's account); fires with probability ``rate`` (a ``random.Random`` per rule, seeded from ``seed`` and the
rule's index: deterministic), skips its first ``after`` matches, and injects at most ``max`` faults. The stack's
own traffic (hosting and runtime talk to the stack with the ``local-stack`` key) is never faulted.
"""

from __future__ import annotations

import io
import json
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

__all__ = ["FAULTS", "TRANSIENT", "CALL_CLASSES", "CONTROL_PATH", "Call", "Rule", "FaultLayer", "identify", "call_class",
           "set_faults", "clear_faults", "fault_counts"]

CONTROL_PATH = "/_local/faults"
#: Faults a retry can ride out (the call may succeed when tried again), and all of them.
TRANSIENT = ("throttle", "5xx", "drop", "drop-after")
FAULTS = (*TRANSIENT, "access-denied", "latency")
CALL_CLASSES = ("s3-get", "s3-put", "s3-multipart", "sagemaker-create", "sagemaker-describe", "sagemaker-delete",
                "logs", "sns", "sqs", "runtime-invoke", "other")
INTERNAL_KEY = "local-stack"  # the access key the stack's own clients use (hosting, runtime)

_CRED = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_RUNTIME = re.compile(r"^/endpoints/([^/]+)/(invocations|async-invocations)$")
_CBOR_PATH = re.compile(r"^/service/([^/]+)/operation/([^/?]+)$")
_S3_MULTIPART = {"CreateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload",
                 "AbortMultipartUpload", "ListParts", "ListMultipartUploads"}
_S3_SUBRESOURCES = ("uploads", "uploadId", "tagging", "acl", "policy", "versioning", "location", "lifecycle",
                    "cors", "notification", "encryption", "attributes", "retention", "legal-hold", "versions",
                    "delete", "restore", "object-lock", "ownershipControls", "publicAccessBlock", "website",
                    "logging", "replication", "accelerate", "requestPayment", "analytics", "inventory", "metrics")


# ---------------------------------------------------------------------------------------------------------
# identifying a call
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    service: str  # signing name, except "sagemaker-runtime" for the runtime paths; "" when unsigned
    operation: str  # e.g. UploadPart, CreateModel, FilterLogEvents, Publish; "" when unknown
    protocol: str  # rest-xml | json | rest-json | query | cbor
    method: str
    access_key: str = ""
    region: str = ""

    @property
    def account(self) -> str:
        """The account the access key belongs to (moto's own resolution: an assumed role's key is its role's
        account; any other key is moto's default account)."""
        from moto.iam.models import get_account_id_from

        return get_account_id_from(self.access_key)

    @property
    def call_class(self) -> str:
        return call_class(self.service, self.operation)

    @property
    def internal(self) -> bool:
        return self.access_key == INTERNAL_KEY


def _s3_operation(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> str:
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "ListBuckets" if method == "GET" else ""
    on_object = len(parts) > 1
    if on_object:
        if "uploadId" in query:
            if method == "PUT":
                return "UploadPartCopy" if "x-amz-copy-source" in headers else "UploadPart"
            return {"POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload",
                    "GET": "ListParts"}.get(method, "")
        if "uploads" in query and method == "POST":
            return "CreateMultipartUpload"
        sub = next((s for s in _S3_SUBRESOURCES if s in query), None)
        if sub:
            verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "POST": "Post", "HEAD": "Head"}.get(method, "")
            return f"{verb}Object{sub[:1].upper()}{sub[1:]}"
        if method == "PUT":
            return "CopyObject" if "x-amz-copy-source" in headers else "PutObject"
        return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject",
                "POST": "PostObject"}.get(method, "")
    if "uploads" in query and method == "GET":
        return "ListMultipartUploads"
    if "delete" in query and method == "POST":
        return "DeleteObjects"
    if method == "GET" and query.get("list-type") == ["2"]:
        return "ListObjectsV2"
    sub = next((s for s in _S3_SUBRESOURCES if s in query), None)
    if sub:
        verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "POST": "Post", "HEAD": "Head"}.get(method, "")
        return f"{verb}Bucket{sub[:1].upper()}{sub[1:]}"
    return {"GET": "ListObjects", "HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket",
            "POST": "PostObject"}.get(method, "")


def identify(environ: dict[str, Any], body: bytes | None = None) -> Call:
    """What AWS call a WSGI request is. ``body`` (form-encoded) is only needed for query protocols."""
    method = environ.get("REQUEST_METHOD", "")
    path = environ.get("PATH_INFO", "")
    auth = environ.get("HTTP_AUTHORIZATION", "")
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    m = _CRED.search(auth)
    if m:
        key, region, service = m.group(1), m.group(2), m.group(3)
    else:  # presigned URL
        cred = (query.get("X-Amz-Credential") or [""])[0].split("/")
        key, region, service = (cred[0], cred[2], cred[3]) if len(cred) >= 5 else ("", "", "")
    if _RUNTIME.match(path) and method == "POST":
        op = "InvokeEndpoint" if path.endswith("/invocations") else "InvokeEndpointAsync"
        return Call("sagemaker-runtime", op, "rest-json", method, key, region)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return Call(service, target.rsplit(".", 1)[-1], "json", method, key, region)
    cbor = _CBOR_PATH.match(path)
    if cbor and "cbor" in environ.get("HTTP_SMITHY_PROTOCOL", "") + environ.get("CONTENT_TYPE", ""):
        return Call(service, cbor.group(2), "cbor", method, key, region)
    if service == "s3":
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        return Call("s3", _s3_operation(method, path, query, headers), "rest-xml", method, key, region)
    action = (query.get("Action") or [""])[0]
    if not action and body:
        action = (urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action") or [""])[0]
    return Call(service, action, "query", method, key, region)


def call_class(service: str, operation: str) -> str:
    """The report's call class of a call (see :data:`CALL_CLASSES`). S3 writes and deletes are ``s3-put``."""
    if service == "s3":
        if operation in _S3_MULTIPART:
            return "s3-multipart"
        if operation.startswith(("Get", "Head", "List")):
            return "s3-get"
        return "s3-put" if operation else "other"
    if service == "sagemaker":
        if operation.startswith(("Describe", "List", "Get", "Search")):
            return "sagemaker-describe"
        if operation.startswith(("Delete", "Stop")):
            return "sagemaker-delete"
        return "sagemaker-create" if operation else "other"
    return {"sagemaker-runtime": "runtime-invoke", "logs": "logs", "sns": "sns", "sqs": "sqs"}.get(service, "other")


# ---------------------------------------------------------------------------------------------------------
# rules
# ---------------------------------------------------------------------------------------------------------

@dataclass
class Rule:
    fault: str
    match: dict[str, Any] = field(default_factory=dict)
    rate: float = 1.0
    max: int | None = None
    after: int = 0
    seed: int = 0
    index: int = 0
    seconds: float = 0.02  # latency only
    matched: int = 0
    injected: int = 0

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {', '.join(FAULTS)}")
        unknown = set(self.match) - {"service", "operation", "call_class", "method", "region", "account"}
        if unknown:
            raise ValueError(f"unknown match key(s): {', '.join(sorted(unknown))}")
        if not 0.0 <= float(self.rate) <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        self._rng = random.Random(f"{self.seed}:{self.index}")

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, seed: int, index: int) -> "Rule":
        return cls(fault=d.get("fault", ""), match=dict(d.get("match") or {}), rate=float(d.get("rate", 1.0)),
                   max=d.get("max"), after=int(d.get("after", 0)), seed=seed, index=index,
                   seconds=float(d.get("seconds", 0.02)))

    def matches(self, call: Call) -> bool:
        for key, want in self.match.items():
            have = call.call_class if key == "call_class" else getattr(call, key)
            if have not in (want if isinstance(want, (list, tuple)) else [want]):
                return False
        return True

    def fire(self) -> bool:
        """Called (under the layer's lock) for a matching call: inject a fault this time?"""
        self.matched += 1
        roll = self._rng.random()  # drawn for every match, so the sequence depends only on the seed
        if self.matched <= self.after or (self.max is not None and self.injected >= self.max):
            return False
        if roll < self.rate:
            self.injected += 1
            return True
        return False

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "fault": self.fault, "match": self.match, "rate": self.rate, "max": self.max,
                "after": self.after, "matched": self.matched, "injected": self.injected}


# ---------------------------------------------------------------------------------------------------------
# error shapes
# ---------------------------------------------------------------------------------------------------------

def _cbor_text(s: str) -> bytes:
    b = s.encode()
    n = len(b)
    if n < 24:
        return bytes([0x60 + n]) + b
    if n < 256:
        return bytes([0x78, n]) + b
    return bytes([0x79]) + n.to_bytes(2, "big") + b


def _cbor_map(d: dict[str, str]) -> bytes:
    return bytes([0xA0 + len(d)]) + b"".join(_cbor_text(k) + _cbor_text(v) for k, v in d.items())


def _denied(call: Call) -> str:
    return (f"User: arn:aws:iam::{call.account}:user/local-stack is not authorized to perform: "
            f"{call.service}:{call.operation} in region {call.region or '?'} with an explicit deny in a service "
            "control policy")


def error_response(call: Call, fault: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of the service's own error for ``fault`` (throttle, 5xx or access-denied)."""
    rid = uuid.uuid4().hex
    throttle = fault == "throttle"
    if fault == "access-denied":
        return _access_denied(call, rid)
    if call.protocol == "rest-xml":
        status, code, msg = (503, "SlowDown", "Please reduce your request rate.") if throttle else \
            (500, "InternalError", "We encountered an internal error. Please try again.")
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{msg}</Message>'
                f"<RequestId>{rid}</RequestId></Error>").encode()
        if call.method == "HEAD":
            body = b""
        return status, [("Content-Type", "application/xml"), ("x-amz-request-id", rid)], body
    status, code, msg = (400, "ThrottlingException", "Rate exceeded") if throttle else \
        (500, "InternalFailure", "The request processing has failed because of an unknown error.")
    if call.protocol == "query":
        code = "Throttling" if throttle else code
        kind = "Sender" if throttle else "Receiver"
        body = (f'<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{msg}</Message></Error>'
                f"<RequestId>{rid}</RequestId></ErrorResponse>").encode()
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body
    if call.protocol == "cbor":
        return status, [("Content-Type", "application/cbor"), ("Smithy-Protocol", "rpc-v2-cbor"),
                        ("x-amzn-RequestId", rid)], _cbor_map({"__type": code, "message": msg})
    ctype = "application/json" if call.protocol == "rest-json" else "application/x-amz-json-1.1"
    return status, [("Content-Type", ctype), ("x-amzn-ErrorType", code), ("x-amzn-RequestId", rid)], \
        json.dumps({"__type": code, "message": msg}).encode()


def _access_denied(call: Call, rid: str) -> tuple[int, list[tuple[str, str]], bytes]:
    msg = _denied(call)
    if call.protocol in ("rest-xml", "query"):
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{msg}</Message>"
                f"</Error><RequestId>{rid}</RequestId></ErrorResponse>").encode()
        if call.protocol == "rest-xml":
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>{msg}'
                    f"</Message><RequestId>{rid}</RequestId></Error>").encode() if call.method != "HEAD" else b""
        return 403, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body
    if call.protocol == "cbor":
        return 400, [("Content-Type", "application/cbor"), ("Smithy-Protocol", "rpc-v2-cbor"),
                     ("x-amzn-RequestId", rid)], _cbor_map({"__type": "AccessDeniedException", "message": msg})
    ctype = "application/json" if call.protocol == "rest-json" else "application/x-amz-json-1.1"
    return 400, [("Content-Type", ctype), ("x-amzn-ErrorType", "AccessDeniedException"), ("x-amzn-RequestId", rid)], \
        json.dumps({"__type": "AccessDeniedException", "message": msg}).encode()


# ---------------------------------------------------------------------------------------------------------
# the middleware
# ---------------------------------------------------------------------------------------------------------

_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error",
            503: "Service Unavailable"}


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the whole request body and put it back as a fresh stream for whoever comes next."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    if length:
        body = stream.read(length)
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _drop(environ: dict[str, Any]) -> None:
    """Shut the client's connection without a response; the server then treats the request as dropped."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise ConnectionResetError("connection dropped by an injected fault")


class FaultLayer:
    """WSGI middleware: injects the configured faults, serves ``/_local/faults``, passes the rest to ``app``."""

    def __init__(self, app: Callable):
        self.app = app
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._seed = 0
        self._seen: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._by_fault: Counter[str] = Counter()
        self._ops: Counter[str] = Counter()

    # -- control -------------------------------------------------------------------------------------
    def configure(self, rules: Iterable[dict[str, Any]], seed: int = 0) -> None:
        """Replace the rules and reset the counters."""
        built = [Rule.from_dict(r, seed=seed, index=i) for i, r in enumerate(rules)]
        with self._lock:
            self._rules, self._seed = built, seed
            self._seen, self._faults, self._by_fault, self._ops = Counter(), Counter(), Counter(), Counter()

    def counts(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self._seed, "rules": [r.to_dict() for r in self._rules], "seen": dict(self._seen),
                    "faults": dict(self._faults), "by_fault": dict(self._by_fault), "operations": dict(self._ops),
                    "injected": sum(self._faults.values())}

    def clear(self) -> dict[str, Any]:
        out = self.counts()
        with self._lock:
            self._rules = []
        return out

    def _control(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        status = 200
        try:
            if method == "POST":
                cfg = json.loads(_read_body(environ) or b"{}")
                self.configure(cfg.get("rules") or [], int(cfg.get("seed", 0)))
                out = self.counts()
            elif method == "DELETE":
                out = self.clear()
            elif method == "GET":
                out = self.counts()
            else:
                status, out = 400, {"error": f"method {method} not allowed"}
        except (ValueError, TypeError, AttributeError) as e:
            status, out = 400, {"error": str(e)}
        body = json.dumps(out).encode()
        start_response(f"{status} {_REASONS[status]}", [("Content-Type", "application/json"),
                                                         ("Content-Length", str(len(body)))])
        return [body]

    # -- requests ------------------------------------------------------------------------------------
    def _decide(self, call: Call) -> Rule | None:
        with self._lock:
            cls = call.call_class
            self._seen[cls] += 1
            self._ops[f"{call.service}:{call.operation}"] += 1
            for rule in self._rules:
                if rule.matches(call) and rule.fire():
                    self._faults[cls] += 1
                    self._by_fault[f"{cls}:{rule.fault}"] += 1
                    return rule
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == CONTROL_PATH:
            return self._control(environ, start_response)
        if path.startswith("/_local/") or not self._rules:
            return self.app(environ, start_response)
        body = None
        if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "") and not environ.get("HTTP_X_AMZ_TARGET"):
            body = _read_body(environ)  # query protocols carry Action in the form body
        call = identify(environ, body)
        if call.internal:
            return self.app(environ, start_response)
        rule = self._decide(call)
        if rule is None:
            return self.app(environ, start_response)
        fault = rule.fault
        if fault == "latency":
            time.sleep(rule.seconds)
            return self.app(environ, start_response)
        if body is None:
            _read_body(environ)  # the client sent it all: nothing half-read on the wire
        if fault == "drop":
            _drop(environ)
        if fault == "drop-after":
            captured: list[Any] = []
            result = self.app(environ, lambda status, headers, exc_info=None: captured.append(status))
            try:
                for _ in result:  # run the handler to the end: the side effect happens
                    pass
            finally:
                close = getattr(result, "close", None)
                if close:
                    close()
            _drop(environ)
        status, headers, out = error_response(call, fault)
        start_response(f"{status} {_REASONS.get(status, '')}", [*headers, ("Content-Length", str(len(out)))])
        return [out]


# ---------------------------------------------------------------------------------------------------------
# the client side
# ---------------------------------------------------------------------------------------------------------

def _request(url: str, method: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url.rstrip("/") + CONTROL_PATH, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        detail = json.loads(e.read() or b"{}").get("error", str(e))
        raise ValueError(f"the stack refused the fault rules: {detail}") from None


def set_faults(url: str, rules: list[dict[str, Any]], *, seed: int = 0) -> dict[str, Any]:
    """Replace the stack's fault rules (counters reset). Returns the counters (all zero)."""
    return _request(url, "POST", {"seed": seed, "rules": rules})


def clear_faults(url: str) -> dict[str, Any]:
    """Remove every rule; returns the counters as they were just before."""
    return _request(url, "DELETE")


def fault_counts(url: str) -> dict[str, Any]:
    """{seed, rules: [... matched, injected], seen: {class: n}, faults: {class: n}, by_fault: {"class:fault": n},
    operations: {"service:Operation": n seen}, injected}. Calls are counted while rules are set."""
    return _request(url, "GET")
