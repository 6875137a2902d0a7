"""Fault injection (issue 8, item 2): the runbook's steps under throttling, 5xx and dropped connections.

A dedicated local stack (its own process; plain moto calls, no model containers) with the fault layer set
per test through ``/_local/faults``. The runbook's code runs unchanged with its real botocore retries
(standard mode; ``AwsParams.max_attempts=3`` = botocore's retries, so 4 attempts). Only the backoff *sleep*
is scaled down (x0.1) to keep the suite quick; what is retried, how often, and the retry quota are botocore's.

Every case either completes or stops with a named error (a RunbookError, or a botocore error whose code says
what failed), and then: no partial object at a target key, no unfinished multipart upload, the source never
touched, nothing deleted outside the cleanup plan, and a rerun without faults completes with no duplicates.
Each case is recorded for the reliability report.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import random
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import botocore.exceptions
import botocore.retries.standard
import cleanup_audit
import pytest
from endpoint_runbook import s3 as s3mod
from endpoint_runbook.aws import Aws, AwsParams, error_code
from endpoint_runbook.errors import RunbookError
from endpoint_runbook.local import faults
from endpoint_runbook.records import read_record
from endpoint_runbook.steps import cleanup as cleanup_step
from endpoint_runbook.steps import diagnose, rebuild_archive
from reliability import record_case
from stacks import running_stack
from tinymodel import IMAGE, INFERENCE, TINYPKG, tar_gz

pytestmark = pytest.mark.timeout(90)

REGION = "ap-south-1"
ROLE = "arn:aws:iam::123456789012:role/fault-tests"
NAMED = (RunbookError, botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
BACKOFF_SCALE = 0.1


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def fstack(tmp_path_factory):
    with running_stack(tmp_path_factory, "fault-stack", startup_timeout=60) as info:
        yield info


@pytest.fixture(autouse=True)
def _no_rules_left(request):
    yield
    if "fstack" in request.fixturenames:
        faults.clear_faults(request.getfixturevalue("fstack").url)


@pytest.fixture(autouse=True)
def _quick_backoff(monkeypatch):
    real = botocore.retries.standard.ExponentialBackoff.delay_amount
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount",
                        lambda self, ctx: real(self, ctx) * BACKOFF_SCALE)


def new_aws(url: str, retries: int = 3) -> Aws:
    """A fresh Aws (fresh clients, fresh retry quota) with ``retries`` botocore retries."""
    return Aws(AwsParams(region=REGION, endpoint_url=url, max_attempts=retries))


@contextlib.contextmanager
def injected(url: str, rules: list[dict[str, Any]], seed: int = 0) -> Iterator[dict[str, Any]]:
    """Rules on for the block; afterwards the dict holds the counters (``faults`` per call class, ...)."""
    faults.set_faults(url, rules, seed=seed)
    counts: dict[str, Any] = {}
    try:
        yield counts
    finally:
        counts.update(faults.clear_faults(url))


def assert_fired(c: dict[str, Any]) -> None:
    """The fault layer did what the case is about: a rule at rate 1 injected its whole budget (``max``: the
    step made the call and botocore retried it that often); a random rule exactly what its seeded sequence
    gives for the calls it matched (none, if an earlier fault stopped the step first); at least one fault."""
    for r in c["rules"]:
        if r["rate"] == 1.0:
            assert r["injected"] == r["max"], (f"rule {r['index']} {r['match']} injected {r['injected']} of "
                                               f"{r['max']}; calls seen: {c['operations']}")
        else:
            replay = faults.Rule.from_dict(r, seed=c["seed"], index=r["index"])
            for _ in range(r["matched"]):
                replay.fire()
            assert r["injected"] == replay.injected, (r, replay.injected)
    assert c["injected"] == sum(r["injected"] for r in c["rules"]) > 0, c


def attempt(fn: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    """Run a step; any exception that is not a named one is a bug and fails the test right here."""
    try:
        return fn(), None
    except NAMED as e:
        return None, e


def rule(fault: str, plan: str, **match: Any) -> dict[str, Any]:
    """``rides-out``: two faults, fewer than the 4 attempts (must complete); ``exhausts``: every attempt of
    the first matching call fails (must stop cleanly)."""
    return {"match": match, "fault": fault, "rate": 1.0, "max": 2 if plan == "rides-out" else 4}


def bucket(s3: Any, prefix: str = "fx") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def object_sha(s3: Any, b: str, key: str) -> str | None:
    try:
        return hashlib.sha256(s3.get_object(Bucket=b, Key=key)["Body"].read()).hexdigest()
    except botocore.exceptions.ClientError as e:
        if error_code(e) in ("NoSuchKey", "404"):
            return None
        raise


def open_uploads(s3: Any, b: str) -> list[dict[str, Any]]:
    return s3.list_multipart_uploads(Bucket=b).get("Uploads", [])


# ---------------------------------------------------------------------------------------------- the layer itself

# One call per protocol family; the codes botocore reports once the retries are spent.
CALLS: dict[str, tuple[str, Callable[[Aws, str], Any]]] = {
    "s3-get": ("rest-xml", lambda a, b: a.client("s3").list_objects_v2(Bucket=b)),
    "s3-put": ("rest-xml", lambda a, b: a.client("s3").put_object(Bucket=b, Key="k", Body=b"x")),
    "sagemaker-describe": ("json", lambda a, b: a.client("sagemaker").list_models()),
    "logs": ("json", lambda a, b: a.client("logs").describe_log_groups()),
    "sqs": ("json", lambda a, b: a.client("sqs").list_queues()),
    "sns": ("query", lambda a, b: a.client("sns").list_topics()),
    "other": ("cbor", lambda a, b: a.client("cloudwatch").list_metrics()),  # CloudWatch: Smithy RPC v2 CBOR
}
EXPECTED_CODE = {
    ("throttle", "rest-xml"): "SlowDown", ("5xx", "rest-xml"): "InternalError",
    ("throttle", "json"): "ThrottlingException", ("5xx", "json"): "InternalFailure",
    ("throttle", "cbor"): "ThrottlingException", ("5xx", "cbor"): "InternalFailure",
    ("throttle", "query"): "Throttling", ("5xx", "query"): "InternalFailure",
}


@pytest.mark.parametrize("fault", ["throttle", "5xx", "drop"])
def test_each_fault_has_the_services_own_shape_and_is_retried(fstack, fault):
    no_retry, retrying = new_aws(fstack.url, retries=0), new_aws(fstack.url, retries=3)
    b = bucket(retrying.client("s3"))
    for cls, (protocol, call) in CALLS.items():
        with injected(fstack.url, [{"match": {"call_class": cls}, "fault": fault, "max": 1}]) as c:
            with pytest.raises((botocore.exceptions.ClientError, botocore.exceptions.ConnectionClosedError)) as e:
                call(no_retry, b)
        assert c["faults"] == {cls: 1}, (cls, c)
        if fault == "drop":
            assert isinstance(e.value, botocore.exceptions.ConnectionClosedError)
        else:
            assert error_code(e.value) == EXPECTED_CODE[(fault, protocol)], (cls, e.value)
        with injected(fstack.url, [{"match": {"call_class": cls}, "fault": fault, "max": 2}]) as c:
            call(retrying, b)  # two faults, four attempts: botocore rides it out
        assert c["faults"] == {cls: 2} and c["seen"][cls] == 3


def test_calls_are_identified_by_service_and_operation(fstack):
    aws = new_aws(fstack.url, retries=0)
    s3 = aws.client("s3")
    with injected(fstack.url, [{"match": {"operation": "NoSuchOperation"}, "fault": "throttle"}]) as c:
        b = bucket(s3)
        s3.put_object(Bucket=b, Key="a/b", Body=b"x")
        s3.head_object(Bucket=b, Key="a/b")
        s3.get_object(Bucket=b, Key="a/b")["Body"].read()
        up = s3.create_multipart_upload(Bucket=b, Key="m")["UploadId"]
        s3.upload_part(Bucket=b, Key="m", UploadId=up, PartNumber=1, Body=b"y")
        s3.list_multipart_uploads(Bucket=b)
        s3.abort_multipart_upload(Bucket=b, Key="m", UploadId=up)
        aws.client("sagemaker").list_endpoints()
        aws.client("sts").get_caller_identity()
        aws.client("sns").list_topics()
        with pytest.raises(botocore.exceptions.ClientError):
            aws.client("sagemaker-runtime").invoke_endpoint(EndpointName="nope", Body=b"{}")
    ops = c["operations"]
    for op in ("s3:CreateBucket", "s3:PutObject", "s3:HeadObject", "s3:GetObject", "s3:CreateMultipartUpload",
               "s3:UploadPart", "s3:ListMultipartUploads", "s3:AbortMultipartUpload", "sagemaker:ListEndpoints",
               "sts:GetCallerIdentity", "sns:ListTopics", "sagemaker-runtime:InvokeEndpoint"):
        assert ops.get(op) == 1, (op, ops)
    assert c["seen"] == {"s3-put": 2, "s3-get": 2, "s3-multipart": 4, "sagemaker-describe": 1, "other": 1,
                         "sns": 1, "runtime-invoke": 1}
    assert c["injected"] == 0


def test_rules_are_seeded_bounded_and_skip_internal_traffic(fstack):
    aws = new_aws(fstack.url, retries=0)
    s3 = aws.client("s3")
    b = bucket(s3)

    def pattern(seed: int, **extra: Any) -> list[bool]:
        out = []
        with injected(fstack.url, [{"match": {"operation": "ListObjectsV2"}, "fault": "5xx", "rate": 0.5,
                                    **extra}], seed=seed):
            for _ in range(24):
                out.append(attempt(lambda: s3.list_objects_v2(Bucket=b))[1] is not None)
        return out

    first = pattern(7)
    assert first == pattern(7) and first != pattern(8) and 0 < sum(first) < 24
    bounded = pattern(7, max=3, after=2)
    assert sum(bounded) == 3 and bounded[:2] == [False, False]
    # The stack's own clients (hosting, runtime) sign with the key "local-stack": never faulted.
    internal = Aws(AwsParams(region=REGION, endpoint_url=fstack.url, max_attempts=0))
    internal.__dict__["session"] = __import__("boto3").session.Session(
        aws_access_key_id="local-stack", aws_secret_access_key="local-stack", region_name=REGION)
    with injected(fstack.url, [{"match": {}, "fault": "throttle"}]) as c:
        internal.client("s3").list_objects_v2(Bucket=b)
    assert c["injected"] == 0
    with pytest.raises(ValueError):
        faults.set_faults(fstack.url, [{"match": {}, "fault": "explode"}])
    with pytest.raises(ValueError):
        faults.set_faults(fstack.url, [{"match": {"colour": "red"}, "fault": "drop"}])


# ---------------------------------------------------------------------------------------------- archive.upload_stream

PART = 5 << 20
_PAYLOAD: list[bytes] = []


def payload() -> bytes:
    """Two parts (5 MiB + 1 MiB), deterministic."""
    if not _PAYLOAD:
        _PAYLOAD.append(random.Random(0).randbytes(PART + (1 << 20)))
    return _PAYLOAD[0]


UPLOAD_CASES = [pytest.param(op, fault, plan, id=f"{op}-{fault}-{plan}")
                for op in ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")
                for fault in faults.TRANSIENT for plan in ("rides-out", "exhausts")]


def _upload_case(fstack: Any, rules: list[dict[str, Any]], seed: int = 0, *,
                 name: str) -> tuple[bool, BaseException | None]:
    aws = new_aws(fstack.url)
    s3 = aws.client("s3")
    b = bucket(s3)
    s3.put_object(Bucket=b, Key="bystander", Body=b"keep me")
    data, key = payload(), "fixed/model.tar.gz"
    with injected(fstack.url, rules, seed) as c:
        result, err = attempt(lambda: s3mod.upload_stream(s3, io.BytesIO(data), f"s3://{b}/{key}",
                                                            part_size=PART))
    got = object_sha(s3, b, key)
    left = open_uploads(s3, b)
    lost = int(object_sha(s3, b, "bystander") != hashlib.sha256(b"keep me").hexdigest())
    whole = got == hashlib.sha256(data).hexdigest()
    record_case("fault:upload", faults=c["faults"], completed=err is None and whole and not left,
                stopped_cleanly=err is not None and (got is None or whole) and not left, objects_lost=lost,
                name=name, detail={"error": repr(err)[:200] if err else None, "open_uploads": len(left)})
    assert_fired(c)
    assert lost == 0
    assert got is None or whole, "a partial or wrong object at the target key"
    assert not left, f"unfinished multipart uploads left: {len(left)}"
    if err is None:
        assert whole and result["sha256"] == hashlib.sha256(data).hexdigest() and result["parts"] == 2
    return err is None, err


@pytest.mark.parametrize("op, fault, plan", UPLOAD_CASES)
def test_upload_is_all_or_nothing(fstack, op, fault, plan):
    completed, err = _upload_case(fstack, [rule(fault, plan, service="s3", operation=op)],
                                  name=f"{op}-{fault}-{plan}")
    if plan == "rides-out" or (op, fault) == ("CompleteMultipartUpload", "drop-after"):
        # A retried Complete of a completed upload answers 200 (S3 and moto alike): it rides out even all drops
        # but the last... unless every answer is lost.
        assert completed or (plan == "exhausts" and isinstance(err, botocore.exceptions.ConnectionClosedError))
    else:
        assert not completed


@pytest.mark.parametrize("abort_plan", ["rides-out", "exhausts"])
def test_a_failed_upload_is_aborted_even_when_abort_is_faulted(fstack, abort_plan):
    completed, _ = _upload_case(fstack, [rule("5xx", "exhausts", service="s3", operation="UploadPart"),
                                         rule("throttle", abort_plan, service="s3", operation="AbortMultipartUpload")],
                                name=f"abort-{abort_plan}")
    assert not completed


@pytest.mark.parametrize("seed", [1, 3, 4, 5])  # seeds whose draws fault this short upload (checked: assert_fired)
def test_upload_under_random_faults(fstack, seed):
    fault_kinds = ["throttle", "5xx", "drop"]
    rules = [{"match": {"service": "s3", "operation": op}, "fault": fault_kinds[(i + seed) % 3], "rate": 0.45,
              "max": 6} for i, op in enumerate(("UploadPart", "CompleteMultipartUpload", "HeadObject"))]
    _upload_case(fstack, rules, seed, name=f"random-{seed}")


# ---------------------------------------------------------------------------------------------- incident on the stack

@pytest.fixture(scope="module")
def incident(fstack, tmp_path_factory):
    """A broken endpoint on the fault stack without a model container: the endpoint is created before its
    archive is uploaded, so hosting marks it Failed at once; then the archive (lacking ``tinypkg``) and
    crash-loop log lines are put in place, and diagnose runs once without faults (its record is the
    template for the rebuild cases)."""
    aws = new_aws(fstack.url)
    s3, sm, logs = aws.client("s3"), aws.client("sagemaker"), aws.client("logs")
    name = f"fx-{uuid.uuid4().hex[:8]}"
    b = bucket(s3, "fx-incident")
    key = "training/output/model.tar.gz"
    failed_endpoint(sm, name, f"s3://{b}/{key}")
    src = tar_gz({"code/inference.py": INFERENCE, "weights.bin": bytes(range(256)) * 4096})
    s3.put_object(Bucket=b, Key=key, Body=src)
    group, stream = f"/aws/sagemaker/Endpoints/{name}", "AllTraffic/i-0fault"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    lines = ["W-9000-model_1.0-stdout MODEL_LOG - ModuleNotFoundError: No module named 'tinypkg'",
             "W-9000-model_1.0-stdout MODEL_LOG - Backend worker process died.",
             "W-9000-model_1.0 org.pytorch.serve.wlm.WorkerThread - Auto recovery failed again"]
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": now - 60_000 + i, "message": m} for i, m in enumerate(lines)])
    repo = tmp_path_factory.mktemp("repo")
    (repo / "src" / "tinypkg").mkdir(parents=True)
    (repo / "src" / "tinypkg" / "__init__.py").write_bytes(TINYPKG)
    run_dir = tmp_path_factory.mktemp("incident-run")
    d = diagnose.run(aws, run_dir=str(run_dir), endpoint_name=name, source_roots=[str(repo)])
    assert d.verdict.cause == "missing-module" and d.verdict.fix["additions"]
    return {"name": name, "bucket": b, "key": key, "src_sha": hashlib.sha256(src).hexdigest(), "repo": repo,
            "run_dir": run_dir, "verdict": d.verdict.to_dict()}


def failed_endpoint(sm: Any, name: str, model_data_url: str, *, config: str | None = None,
                    model: str | None = None) -> None:
    """Model (unless given), config (unless given), endpoint; the model data is absent so the endpoint fails
    at once without a container. Waits until it is Failed."""
    if model is None:
        model = name
        sm.create_model(ModelName=model, ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": model_data_url})
    if config is None:
        config = name
        sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    deadline = time.monotonic() + 30
    while sm.describe_endpoint(EndpointName=name)["EndpointStatus"] != "Failed":
        assert time.monotonic() < deadline, f"{name} did not fail"
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------- diagnose

DIAG_CASES = [(cls, fault, plan) for cls in ("logs", "sagemaker-describe", "s3-get")
              for fault, plan in (("throttle", "rides-out"), ("5xx", "rides-out"), ("drop", "rides-out"),
                                  ("throttle", "exhausts"), ("drop", "exhausts"))]


@pytest.mark.parametrize("cls, fault, plan", DIAG_CASES, ids=["-".join(c) for c in DIAG_CASES])
def test_diagnose_completes_or_stops_with_a_named_error(fstack, incident, tmp_path, cls, fault, plan):
    aws = new_aws(fstack.url)
    with injected(fstack.url, [rule(fault, plan, call_class=cls)]) as c:
        d, err = attempt(lambda: diagnose.run(aws, run_dir=str(tmp_path), endpoint_name=incident["name"],
                                              source_roots=[str(incident["repo"])]))
    rec = read_record(tmp_path, "diagnose")
    record_case("fault:diagnose", faults=c["faults"], completed=err is None,
                stopped_cleanly=isinstance(err, RunbookError), name=f"{cls}-{fault}-{plan}",
                detail={"error": repr(err)[:200] if err else None,
                        "cause": d.verdict.cause if d else None})
    assert_fired(c)
    if err is not None:
        # No raw botocore traceback: a named, user-facing error that says to rerun.
        assert isinstance(err, RunbookError) and err.code == "aws-call-failed", repr(err)
        assert plan == "exhausts" and cls in ("sagemaker-describe", "s3-get")
        assert rec is None  # nothing half-written
        return
    if plan == "exhausts" and cls == "logs":
        # The logs are unreadable, said so; the archive views still name the cause.
        assert d.logs["read"]["error"] and d.verdict.cause == "missing-module"
        return
    assert d.verdict.cause == incident["verdict"]["cause"] and d.verdict.fix == incident["verdict"]["fix"]
    assert rec["verdict"]["cause"] == "missing-module"


# ---------------------------------------------------------------------------------------------- rebuild_archive

REBUILD_CASES = [pytest.param({"call_class": cls}, fault, plan, id=f"{cls}-{fault}-{plan}")
                 for cls in ("s3-get", "s3-multipart") for fault in ("throttle", "5xx", "drop")
                 for plan in ("rides-out", "exhausts")] + [
    pytest.param({"operation": op}, fault, "exhausts", id=f"{op}-{fault}-exhausts")
    for op, fault in (("GetObject", "drop"), ("UploadPart", "5xx"), ("CompleteMultipartUpload", "throttle"))] + [
    pytest.param({"operation": "UploadPart"}, "drop-after", "rides-out", id="UploadPart-drop-after-rides-out"),
    pytest.param({"operation": "CreateMultipartUpload"}, "drop-after", "rides-out",
                 id="CreateMultipartUpload-drop-after-rides-out")]


def _rebuild_case(fstack: Any, incident: dict[str, Any], tmp_path: Path, rules: list[dict[str, Any]], seed: int,
                  name: str) -> tuple[bool, BaseException | None]:
    aws = new_aws(fstack.url)
    s3 = aws.client("s3")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(incident["run_dir"] / "01-diagnose.json", run_dir / "01-diagnose.json")
    tkey = f"fixed-{uuid.uuid4().hex[:8]}/model.tar.gz"
    target = f"s3://{incident['bucket']}/{tkey}"
    with injected(fstack.url, rules, seed) as c:
        r, err = attempt(lambda: rebuild_archive.run(aws, run_dir=str(run_dir), target_uri=target))
    src_ok = object_sha(s3, incident["bucket"], incident["key"]) == incident["src_sha"]
    got = object_sha(s3, incident["bucket"], tkey)
    left = [u for u in open_uploads(s3, incident["bucket"]) if u["Key"] == tkey]
    rec = read_record(run_dir, "rebuild_archive")
    whole = r is not None and got == r.result_sha256
    clean = isinstance(err, RunbookError) and got is None and not left and src_ok
    rerun_ok = None
    if err is not None:  # the rerun, without faults, with the same parameters
        again, err2 = attempt(lambda: rebuild_archive.run(new_aws(fstack.url), run_dir=str(run_dir),
                                                          target_uri=target))
        rerun_ok = err2 is None and object_sha(s3, incident["bucket"], tkey) == again.result_sha256
    record_case("fault:rebuild", faults=c["faults"], completed=err is None and whole and not left,
                stopped_cleanly=clean and bool(rerun_ok), objects_lost=int(not src_ok), name=name,
                detail={"error": repr(err)[:200] if err else None, "rerun_ok": rerun_ok})
    assert_fired(c)
    assert src_ok, "the source archive changed"
    assert not left, "unfinished multipart upload left at the target"
    if err is None:
        assert whole and r.status == "passed" and rec["status"] == "passed"
    else:
        assert got is None, "an object at the target after a stop"
        assert rec is None or rec["status"] == "failed"
        assert rerun_ok, "the rerun after a stop did not complete"
    return err is None, err


@pytest.mark.parametrize("match, fault, plan", REBUILD_CASES)
def test_rebuild_completes_or_stops_and_a_rerun_completes(fstack, incident, tmp_path, match, fault, plan):
    completed, err = _rebuild_case(fstack, incident, tmp_path, [rule(fault, plan, **match)], 0,
                                   f"{next(iter(match.values()))}-{fault}-{plan}")
    assert completed == (plan == "rides-out"), repr(err)
    if err is not None:
        assert isinstance(err, RunbookError) and err.code == "aws-call-failed", repr(err)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rebuild_under_random_s3_faults(fstack, incident, tmp_path, seed):
    rules = [{"match": {"call_class": cls}, "fault": f, "rate": 0.4, "max": 5}
             for cls, f in (("s3-get", "throttle"), ("s3-multipart", "drop"), ("s3-get", "5xx"))]
    _rebuild_case(fstack, incident, tmp_path, rules, seed, f"random-{seed}")


# ---------------------------------------------------------------------------------------------- cleanup

def _account(sm: Any) -> dict[str, str]:
    """Target endpoint E → config C → model M; bystander endpoint B → its own config CB → the same model M
    (shared: must be kept). All Failed (no containers)."""
    t = uuid.uuid4().hex[:8]
    n = {"E": f"fx-e-{t}", "C": f"fx-c-{t}", "M": f"fx-m-{t}", "B": f"fx-b-{t}", "CB": f"fx-cb-{t}"}
    missing = f"s3://fx-nowhere-{t}/model.tar.gz"
    sm.create_model(ModelName=n["M"], ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": missing})
    for cfg in (n["C"], n["CB"]):
        sm.create_endpoint_config(EndpointConfigName=cfg, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": n["M"], "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    failed_endpoint(sm, n["E"], missing, config=n["C"], model=n["M"])
    failed_endpoint(sm, n["B"], missing, config=n["CB"], model=n["M"])
    return n


def _mine(snap: dict[str, Any], n: dict[str, str]) -> dict[str, Any]:
    names = set(n.values())
    return {k: sorted(x for x in v if x in names) for k, v in snap.items() if k in ("endpoint", "endpoint-config", "model")}


CLEANUP_CASES = [pytest.param(cls, fault, plan, id=f"{cls}-{fault}-{plan}")
                 for cls in ("sagemaker-delete", "sagemaker-describe")
                 for fault in ("throttle", "5xx", "drop", "drop-after") for plan in ("rides-out", "exhausts")]


@pytest.mark.parametrize("cls, fault, plan", CLEANUP_CASES)
def test_cleanup_completes_or_stops_and_a_rerun_finishes(fstack, tmp_path, cls, fault, plan):
    aws = new_aws(fstack.url)
    sm = aws.client("sagemaker")
    n = _account(sm)
    before = cleanup_audit.snapshot(aws)
    kw = dict(run_dir=str(tmp_path), endpoint_name=n["E"], confirm=n["E"], dry_run=False, poll_seconds=0.1,
              wait_timeout=20, progress=lambda _m: None)
    with injected(fstack.url, [rule(fault, plan, call_class=cls)]) as c:
        rep, err = attempt(lambda: cleanup_step.run(aws, **kw))
    mid = cleanup_audit.snapshot(new_aws(fstack.url))
    rec = read_record(tmp_path, "cleanup")
    plan_rec = rec["plan"] if rec else None
    wrong = cleanup_audit.wrongful_deletions(before, mid, plan_rec)
    rerun_ok = None
    if err is not None:
        again, err2 = attempt(lambda: cleanup_step.run(new_aws(fstack.url), **kw))
        rerun_ok = err2 is None
    after = cleanup_audit.snapshot(new_aws(fstack.url))
    wrong += cleanup_audit.wrongful_deletions(mid, after, read_record(tmp_path, "cleanup")["plan"])
    done = _mine(after, n) == {"endpoint": [n["B"]], "endpoint-config": [n["CB"]], "model": [n["M"]]}
    record_case("fault:cleanup", faults=c["faults"], completed=err is None and done,
                stopped_cleanly=err is not None and isinstance(err, RunbookError) and bool(rerun_ok) and done,
                wrongful_deletions=len(wrong), name=f"{cls}-{fault}-{plan}",
                detail={"error": repr(err)[:200] if err else None, "rerun_ok": rerun_ok})
    for k in (n["B"],):
        sm.delete_endpoint(EndpointName=k)
    sm.delete_endpoint_config(EndpointConfigName=n["CB"])
    sm.delete_model(ModelName=n["M"])
    assert_fired(c)
    assert wrong == []
    assert done, _mine(after, n)  # finished: by the run itself, or by the rerun after a stop
    if plan == "rides-out":
        assert err is None, repr(err)
    assert err is None or isinstance(err, RunbookError), repr(err)


# ---------------------------------------------------------------------------------------------- deploy

DEPLOY_CASES = [pytest.param(op, fault, plan, id=f"{op}-{fault}-{plan}")
                for op, fault, plan in (("CreateModel", "drop-after", "rides-out"),
                                        ("CreateEndpointConfig", "drop-after", "rides-out"),
                                        ("CreateEndpoint", "drop-after", "rides-out"),
                                        ("CreateEndpoint", "5xx", "exhausts"),
                                        ("DescribeEndpoint", "throttle", "exhausts"))]


@pytest.mark.slow
@pytest.mark.parametrize("op, fault, plan", DEPLOY_CASES)
def test_deploy_completes_or_stops_and_a_rerun_creates_no_duplicates(fstack, tmp_path, op, fault, plan):
    """A real (tiny) model container behind the faults: a lost Create answer, a Create that keeps failing, a
    wait whose describe calls are throttled. Completes, or stops with a named error; the rerun completes,
    and there is exactly one model, one config and one endpoint."""
    from endpoint_runbook.records import write_record
    from endpoint_runbook.steps import deploy

    aws = new_aws(fstack.url)
    s3, sm, sns, iam = (aws.client(n) for n in ("s3", "sagemaker", "sns", "iam"))
    b = bucket(s3, "fxd")
    prefix = f"fxd{uuid.uuid4().hex[:6]}"
    data = tar_gz({"code/inference.py": INFERENCE, "code/tinypkg/__init__.py": TINYPKG})
    s3.put_object(Bucket=b, Key="fixed/model.tar.gz", Body=data)
    s3.put_object(Bucket=b, Key="in/smoke.json", Body=b'{"x": [1, 2]}')
    topic = sns.create_topic(Name=prefix)["TopicArn"]
    role = iam.create_role(RoleName=prefix, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    write_record(tmp_path, "diagnose", {"endpoint": {
        "name": f"{prefix}-broken", "image": "pytorch-inference:2.1-cpu", "environment": {"SAGEMAKER_PROGRAM":
                                                                                          "inference.py"},
        "execution_role_arn": role, "instance_type": "ml.m5.large", "instance_count": 1,
        "async_config": {"OutputConfig": {"S3OutputPath": f"s3://{b}/out/", "S3FailurePath": f"s3://{b}/fail/",
                                          "NotificationConfig": {"SuccessTopic": topic, "ErrorTopic": topic}}}}})
    write_record(tmp_path, "rebuild_archive", {"target_uri": f"s3://{b}/fixed/model.tar.gz",
                                               "result_sha256": hashlib.sha256(data).hexdigest()})
    kw = dict(run_dir=str(tmp_path), name_prefix=prefix, smoke_input=f"s3://{b}/in/smoke.json",
              smoke_content_type="application/json", wait_timeout=120, smoke_timeout=60, poll_seconds=0.5,
              progress=lambda _m: None)
    with injected(fstack.url, [rule(fault, plan, service="sagemaker", operation=op)]) as c:
        result, err = attempt(lambda: deploy.run(aws, **kw))
    rerun_ok = None
    if err is not None:
        result, err2 = attempt(lambda: deploy.run(new_aws(fstack.url), **kw))
        rerun_ok = err2 is None and result.ok
    mine = {kind: sorted(n for n in names if n.startswith(prefix)) for kind, names in (
        ("model", [m["ModelName"] for m in sm.list_models(MaxResults=100)["Models"]]),
        ("config", [x["EndpointConfigName"] for x in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]]),
        ("endpoint", [x["EndpointName"] for x in sm.list_endpoints(MaxResults=100)["Endpoints"]]))}
    try:
        record_case("fault:deploy", faults=c["faults"], completed=err is None and result.ok,
                    stopped_cleanly=err is not None and isinstance(err, RunbookError) and bool(rerun_ok),
                    name=f"{op}-{fault}-{plan}", detail={"error": repr(err)[:200] if err else None})
        assert_fired(c)
        if plan == "rides-out":
            assert err is None and result.ok, err
        else:
            assert isinstance(err, RunbookError), repr(err)
            assert rerun_ok
        assert all(len(v) == 1 for v in mine.values()), mine  # no duplicates
    finally:
        for e in mine["endpoint"]:
            sm.delete_endpoint(EndpointName=e)
