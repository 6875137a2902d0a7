"""Deploy and verify on a fresh local stack with the stygig-incident scenario, side by side with raw boto3.

Measured (fixed StyGig archive, real TorchServe):
- deploy-to-first-result: the whole ``deploy.run`` call (plan, preflight, create model/config/endpoint, wait,
  smoke request up to its output object, record), against the baseline "raw boto3" from its first call:
  create_model / create_endpoint_config / create_endpoint, DescribeEndpoint every 0.5 s, one
  InvokeEndpointAsync, HeadObject every 0.05 s until the output object exists;
- warm async round trip p50/p95 over N requests: ``verify.run`` (S3 + SNS→SQS, temporary queue, poll 0.25 s)
  against raw boto3 (InvokeEndpointAsync + HeadObject every 0.05 s) on the same endpoint.
Ratios > 1 are the runbook's overhead (preflight, record, polling granularity, notification matching). An
untimed warm-up deploy runs first (the first container start pays for cold file caches), and the scenario's
crash-looping endpoint is deleted before timing (its restarts are CPU noise on a small machine).

    .venv/bin/python bench/bench_deploy_verify.py [--requests 20]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from benchkit import percentile_ratios
from endpoint_runbook import records
from endpoint_runbook.aws import Aws, AwsParams
from endpoint_runbook.local import scenarios, stack
from endpoint_runbook.local.scenarios import StygigIncident
from endpoint_runbook.steps import deploy, verify

NAMES = StygigIncident()
SEED_INPUT = f"s3://{NAMES.bucket}/train/upperwear/tshirt/upperwear_tshirt100.png"


def head_until(s3: Any, uri: str, timeout: float = 300) -> None:
    bucket, key = uri[5:].split("/", 1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            s3.head_object(Bucket=bucket, Key=key)
            return
        except s3.exceptions.ClientError:
            if time.monotonic() > deadline:
                raise TimeoutError(uri) from None
            time.sleep(0.05)


def raw_round_trip(rt: Any, s3: Any, endpoint: str) -> float:
    t0 = time.perf_counter()
    r = rt.invoke_endpoint_async(EndpointName=endpoint, InputLocation=SEED_INPUT, ContentType="image/png")
    head_until(s3, r["OutputLocation"])
    return time.perf_counter() - t0


def raw_deploy_to_first_result(aws: Aws, rec: dict[str, Any], model_data_url: str) -> tuple[float, str]:
    sm, rt, s3 = aws.client("sagemaker"), aws.client("sagemaker-runtime"), aws.client("s3")
    ep = rec["endpoint"]
    name = f"bench-raw-{uuid.uuid4().hex[:6]}"
    t0 = time.perf_counter()
    sm.create_model(ModelName=name, ExecutionRoleArn=ep["execution_role_arn"],
                    PrimaryContainer={"Image": ep["image"], "ModelDataUrl": model_data_url,
                                      "Environment": ep["environment"]})
    sm.create_endpoint_config(EndpointConfigName=name, AsyncInferenceConfig=ep["async_config"], ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": ep["instance_type"],
        "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    while sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating":
        time.sleep(0.5)
    r = rt.invoke_endpoint_async(EndpointName=name, InputLocation=SEED_INPUT, ContentType="image/png")
    head_until(s3, r["OutputLocation"])
    return time.perf_counter() - t0, name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "stack"
        t0 = time.perf_counter()
        info = stack.up(port=0, state_dir=state, startup_timeout=180)
        try:
            scenarios.seed("stygig-incident", info.url)
            t_seed = time.perf_counter() - t0
            aws = Aws(AwsParams(region="ap-south-1", endpoint_url=info.url, max_attempts=3))
            s3, sm, rt = aws.client("s3"), aws.client("sagemaker"), aws.client("sagemaker-runtime")
            _, fixed = scenarios.build_stygig("fixed")
            data = fixed.read_bytes()
            key = "model-artifacts/bench-fixed/model.tar.gz"
            s3.put_object(Bucket=NAMES.bucket, Key=key, Body=data)
            uri = f"s3://{NAMES.bucket}/{key}"
            run_dir = Path(tmp) / "run"
            ep = sm.describe_endpoint(EndpointName=NAMES.endpoint)
            cfg = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
            v = cfg["ProductionVariants"][0]
            m = sm.describe_model(ModelName=v["ModelName"])
            rec = {"endpoint": {"name": NAMES.endpoint, "config_name": ep["EndpointConfigName"],
                                "model_name": v["ModelName"], "image": m["PrimaryContainer"]["Image"],
                                "model_data_url": m["PrimaryContainer"]["ModelDataUrl"],
                                "environment": m["PrimaryContainer"].get("Environment", {}),
                                "execution_role_arn": m["ExecutionRoleArn"], "instance_type": v["InstanceType"],
                                "instance_count": 1, "async_config": cfg["AsyncInferenceConfig"]}}
            records.write_record(run_dir, "diagnose", rec)
            records.write_record(run_dir, "rebuild_archive",
                                 {"target_uri": uri, "result_sha256": hashlib.sha256(data).hexdigest()})

            # The crash-looping endpoint restarts its workers with a growing backoff: CPU noise that favours
            # whichever deploy runs later. Its facts are in the diagnose record; take it away.
            sm.delete_endpoint(EndpointName=NAMES.endpoint)

            # 0. a warm-up deploy (untimed): the first container start pays for cold file caches.
            _, warm_name = raw_deploy_to_first_result(aws, rec, uri)
            sm.delete_endpoint(EndpointName=warm_name)

            # 1. the runbook's deploy, then its verify, then raw round trips on the same endpoint.
            t0 = time.perf_counter()
            d = deploy.run(aws, run_dir=str(run_dir), smoke_input=SEED_INPUT, poll_seconds=0.5, smoke_timeout=300,
                           progress=lambda _m: None)
            ours_deploy = time.perf_counter() - t0  # the whole call: preflight and record included
            v_res = verify.run(aws, run_dir=str(run_dir), count=args.requests, queue_url=verify.TEMPORARY_QUEUE,
                               deadline_seconds=600, progress=lambda _m: None)
            ours_warm = [r.latency_s for r in v_res.requests if r.kind == "warm"]
            raw_warm = [raw_round_trip(rt, s3, d.endpoint_name) for _ in range(args.requests)]
            sm.delete_endpoint(EndpointName=d.endpoint_name)

            # 2. the raw deploy on a second endpoint (the first one is gone: one container at a time).
            raw_deploy, raw_name = raw_deploy_to_first_result(aws, rec, uri)
            sm.delete_endpoint(EndpointName=raw_name)
        finally:
            stack.down(state)

    print(f"stack up + seed stygig-incident              {t_seed:7.1f} s")
    print(f"deploy-to-first-result  runbook {ours_deploy:7.2f} s   raw boto3 {raw_deploy:7.2f} s   "
          f"ratio {ours_deploy / raw_deploy:5.2f}   (preflight {d.timings['preflight_s']:.2f} s, "
          f"create→InService {d.timings['create_to_in_service_s']:.2f} s, smoke {d.timings['smoke_latency_s']:.2f} s)")
    print(f"cold request (verify)   {v_res.figures['cold_s']:7.2f} s")
    print(*percentile_ratios("warm round trip", "runbook", ours_warm, "raw boto3", raw_warm), sep="\n")
    print(f"verify.run total        {v_res.duration_s:7.2f} s for {len(v_res.requests)} requests "
          f"(notifications: {v_res.notifications['mode']}, all matched: "
          f"{all(r.notification and r.notification.get('received') for r in v_res.requests)})")


if __name__ == "__main__":
    main()
