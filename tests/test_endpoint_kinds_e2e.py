"""The incident's archive behind a real-time endpoint and behind a serverless one, each fixed by
`endpoint-runbook run` on the local stack: diagnose → rebuild → deploy in place → verify served → cleanup, the five
notebooks headless (the runner), one stack holding both scenarios.

Asserts on what the steps recorded and on the executed notebooks' outputs (each kind's views rendered): the kind read
from the config, the config copied for its kind, the smoke request and verify's requests sent with InvokeEndpoint,
the outage's failed requests read from the endpoint's CloudWatch metrics (none since the fix), each endpoint served
on its own name afterwards, its broken config gone. The chains run as an IAM user holding exactly the policy
``endpoint-runbook policy`` prints for each kind (the stack enforcing it), every call recorded: each one is covered
by its step's policy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from endpoint_runbook.aws import Aws, AwsParams
from endpoint_runbook.local import access
from endpoint_runbook.local.scenarios import STYGIG_REALTIME, STYGIG_SERVERLESS
from endpoint_runbook.params import load_params
from endpoint_runbook.permissions import Grant
from endpoint_runbook.policy import covers, step_policies, subject_from, union
from endpoint_runbook.records import STEPS, find_secrets, read_record
from endpoint_runbook.runner import run_chain
from stacks import kept_environ, running_stack

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
KINDS = {"real-time": (STYGIG_REALTIME, "local-realtime.yaml"), "serverless": (STYGIG_SERVERLESS, "local-serverless.yaml")}


@pytest.fixture(scope="module")
def kinds_stack(tmp_path_factory):
    """One stack, both scenarios (the model has SageMaker's 60 s to answer: a serverless cold start's first request
    also waits for the workers to load the model; serverless containers stay warm 60 s after a request)."""
    from endpoint_runbook.local import scenarios

    with kept_environ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "ENDPOINT_RUNBOOK_CALL_LOG"), \
            running_stack(tmp_path_factory, "kinds-stack", startup_timeout=180, serverless_idle=60) as info:
        seeded = {kind: scenarios.seed(f"stygig-{kind.replace('-', '')}", info.url) for kind in KINDS}
        yield {"url": info.url, "seeded": seeded, "runs": {}, "tmp": tmp_path_factory, "keys": None}


def _run(kinds_stack, kind: str):
    """The chain for ``kind``, step by step as the IAM user holding that kind's printed policy, each step's calls
    recorded."""
    if kind in kinds_stack["runs"]:
        return kinds_stack["runs"][kind]
    names, params_name = KINDS[kind]
    params = yaml.safe_load((ROOT / "params" / params_name).read_text())
    params["aws"]["endpoint_url"] = kinds_stack["url"]
    params["diagnose"]["source_roots"] = [str(ROOT / "examples" / "stygig")]
    base = kinds_stack["tmp"].mktemp(f"run-{kind}")
    (base / "params").mkdir()
    params_file = base / "params" / params_name
    params_file.write_text(yaml.safe_dump(params))
    loaded = load_params(params_file)
    keys = kinds_stack["keys"]
    if keys is not None:  # the reads step 1 makes (what the policy is scoped to), as the administrator
        os.environ.update(keys["admin"])
    policies = step_policies(loaded, subject_from(Aws(AwsParams(region="ap-south-1", endpoint_url=kinds_stack["url"])),
                                                  loaded))
    document = union(policies.values()).document
    if keys is None:
        keys = kinds_stack["keys"] = access.enforce(kinds_stack["url"], document, region="ap-south-1")
    else:
        access.set_policy(kinds_stack["url"], keys["admin"], document, region="ap-south-1")
    os.environ.update(keys["user"])
    run_dir, logs = base / "run", base / "calls"
    logs.mkdir()
    summary = None
    for step in STEPS:
        os.environ["ENDPOINT_RUNBOOK_CALL_LOG"] = str(logs / f"{step}.jsonl")
        try:
            summary = run_chain(params_file, steps=[step], run_dir=run_dir)
        finally:
            os.environ.pop("ENDPOINT_RUNBOOK_CALL_LOG", None)
        if summary.status != "passed":
            break
    calls = {step: [json.loads(x) for x in (logs / f"{step}.jsonl").read_text().splitlines()]
             for step in STEPS if (logs / f"{step}.jsonl").exists()}
    out = {"summary": summary, "run_dir": run_dir, "names": names, "policies": policies, "calls": calls}
    kinds_stack["runs"][kind] = out
    return out


def _outputs(notebook: Path) -> str:
    nb = json.loads(notebook.read_text())
    texts = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            data = o.get("data") or {}
            texts.append("".join(data.get("text/html", "")) + "".join(data.get("text/plain", "")) + "".join(o.get("text", "")))
    return "\n".join(texts)


@pytest.mark.parametrize("kind", list(KINDS))
def test_run_fixes_the_incident_behind_each_kind(kinds_stack, kind):
    from endpoint_runbook.aws import Aws, AwsParams

    r = _run(kinds_stack, kind)
    summary, run_dir, names = r["summary"], r["run_dir"], r["names"]
    assert summary.status == "passed" and summary.steps[-1].step == "cleanup", json.dumps(summary.to_dict(), indent=1)

    # every call each step made is granted by that step's printed policy (the stack enforced their union), and the
    # policy grants nothing the step did not call (but what serves a failure only)
    for step, calls in r["calls"].items():
        doc = r["policies"][step].document
        for c in calls:
            for g in c["grants"]:
                assert covers(doc, Grant(g["action"], g["resource"])), (step, c)
        called = {g["action"] for c in calls for g in c["grants"]}
        unused = {(n.sid, a) for n in r["policies"][step].needs if not n.on_failure for a in n.actions
                  if a not in called}
        assert not unused, (step, unused)
    ops = {c["operation"] for step in ("deploy", "verify") for c in r["calls"][step]}
    assert "InvokeEndpoint" in ops and "InvokeEndpointAsync" not in ops
    assert "GetMetricData" in {c["operation"] for c in r["calls"]["verify"]}

    diag = read_record(run_dir, "diagnose")
    assert diag["endpoint"]["kind"] == kind and diag["verdict"]["cause"] == "missing-module"
    assert diag["fix"]["packages"] == ["stygig"]
    if kind == "serverless":
        assert diag["endpoint"]["serverless_config"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
        codes = {f["code"] for f in diag["findings"]}
        assert "serverless-image-size-unchecked" in codes and "serverless-memory-invalid" not in codes

    deployed = read_record(run_dir, "deploy")
    assert deployed["ok"] and deployed["kind"] == kind and deployed["mode"] == "in-place"
    assert deployed["endpoint_name"] == names.endpoint and deployed["previous_endpoint_config_name"] == names.endpoint_config
    assert deployed["actions"] == {"model": "created", "endpoint_config": "created", "endpoint": "updated"}
    smoke = deployed["smoke"]
    assert smoke["status"] == "completed" and smoke["output_location"] is None  # the answer came in the response
    assert smoke["summary"]["kind"] == "recommendations" and smoke["summary"]["count"] > 0

    aws = Aws(AwsParams(region="ap-south-1", endpoint_url=kinds_stack["url"]))  # the user's keys
    sm = aws.client("sagemaker")
    ep = sm.describe_endpoint(EndpointName=names.endpoint)
    assert ep["EndpointStatus"] == "InService" and ep["EndpointConfigName"] == deployed["endpoint_config_name"]
    cfg = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
    v = cfg["ProductionVariants"][0]
    assert "AsyncInferenceConfig" not in cfg
    if kind == "serverless":
        assert v["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5} and "InstanceType" not in v
        assert ep["EndpointConfigName"].startswith("stygig-serverless-fixed-")
    else:
        assert (v["InstanceType"], v["InitialInstanceCount"]) == (names.instance_type, 1)
        assert ep["EndpointConfigName"].startswith("stygig-realtime-fixed-")

    verified = read_record(run_dir, "verify")
    assert verified["ok"] and verified["kind"] == kind and verified["replay"] is None
    assert verified["figures"]["requests"] == 7 and verified["figures"]["completed"] == 7
    assert all(h["found"] for h in verified["health"]), verified["health"]
    outage = verified["outage"]
    assert outage["endpoint"] == names.endpoint and outage["fixed_at"]
    # the scenario's hung requests, from the metrics: before the fix, or in the minute it began serving in (a fast
    # run puts the outage, the fix and the checks in one or two minutes; CloudWatch counts whole minutes)
    before_or_at = {m: outage["before_fix"][m] + outage["at_fix"][m] for m in outage["before_fix"]}
    assert outage["failed_before_fix"] + outage["failed_at_fix"] >= names.outage_requests, outage
    assert before_or_at["Invocation5XXErrors"] >= names.outage_requests, outage
    assert outage["failed_after_fix"] == 0, outage
    assert outage["at_fix"]["Invocations"] + outage["after_fix"]["Invocations"] >= 8, outage  # smoke + 7 checks
    assert outage["latency_ms"]["after_fix_avg"] or outage["latency_ms"]["at_fix_avg"], outage
    if kind == "serverless":
        assert outage["cold_starts"]["count"] >= 2  # the outage's, and the fixed model's first request

    cleaned = read_record(run_dir, "cleanup")
    assert cleaned["status"] == "done"
    configs = {c["EndpointConfigName"] for c in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]}
    assert names.endpoint_config not in configs and ep["EndpointConfigName"] in configs  # ListEndpointConfigs: granted

    # the executed notebooks rendered the kind's views
    diag_out = _outputs(run_dir / "01_diagnose.ipynb")
    verify_out = _outputs(run_dir / "04_verify.ipynb")
    assert kind in diag_out and "from CloudWatch metrics" in verify_out and "failed" in verify_out
    if kind == "serverless":
        assert "2048 MB memory" in diag_out and "Serverless limits" in diag_out and "cold start" in verify_out
    else:
        assert "1 × ml.m5.xlarge" in diag_out
    for f in list(run_dir.glob("*.ipynb")) + list(run_dir.glob("*.json")):
        assert not find_secrets(f.read_text()), f


def test_the_fixed_endpoints_serve_on_their_own_names(kinds_stack):
    """After both runs, a user's InvokeEndpoint on each endpoint's own name is answered by the fixed model."""
    import boto3
    import botocore.config

    for kind in KINDS:
        _run(kinds_stack, kind)
    admin = kinds_stack["keys"]["admin"]  # a client of the endpoints, not the runbook's user
    session = boto3.session.Session(aws_access_key_id=admin["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=admin["AWS_SECRET_ACCESS_KEY"], region_name="ap-south-1")
    runtime = session.client("sagemaker-runtime", endpoint_url=kinds_stack["url"],
                             config=botocore.config.Config(read_timeout=300, retries={"max_attempts": 1}))
    s3 = session.client("s3", endpoint_url=kinds_stack["url"])
    body = s3.get_object(Bucket="stygig-ml-s3", Key="train/footwear/sneakers/footwear_sneakers110.png")["Body"].read()
    for names, _ in KINDS.values():
        out = runtime.invoke_endpoint(EndpointName=names.endpoint, Body=body, ContentType="image/png",
                                      Accept="application/json")
        assert json.loads(out["Body"].read())["recommendations"]
