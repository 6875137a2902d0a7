"""The StyGig scenario's figures: seeding time, archive sizes, model_fn load time and the fixed archive's warm
predict latency (p50/p95) in the local container. The seed's anchor on AWS: "warm inference 5–10 s".

    .venv/bin/python bench/bench_stygig.py [--requests 20]
"""

from __future__ import annotations

import argparse
import json
import os
import tarfile
import tempfile
import time
from pathlib import Path

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from endpoint_runbook.aws import Aws, AwsParams  # noqa: E402
from endpoint_runbook.local import scenarios, stack  # noqa: E402
from endpoint_runbook.local.scenarios import StygigIncident, build_stygig  # noqa: E402
from endpoint_runbook.serving.loadcheck import load_check_dir  # noqa: E402
from endpoint_runbook.verify import percentile  # noqa: E402

SEED_WARM_ANCHOR_S = (5.0, 10.0)



def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    names = StygigIncident()
    _, buggy = build_stygig("buggy")
    _, fixed = build_stygig("fixed")
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "ml" / "model"
        with tarfile.open(fixed) as tar:
            tar.extractall(model, filter="data")
        lc = load_check_dir(model)
        state = Path(tmp) / "stack"
        info = stack.up(port=0, state_dir=state)
        try:
            t0 = time.perf_counter()
            scenarios.seed("stygig-incident", info.url)
            t_seed = time.perf_counter() - t0
            aws = Aws(AwsParams(region="ap-south-1", endpoint_url=info.url))
            s3, sm = aws.client("s3"), aws.client("sagemaker")
            s3.put_object(Bucket=names.bucket, Key="bench/fixed.tar.gz", Body=fixed.read_bytes())
            model_desc = sm.describe_model(ModelName=names.model)
            sm.create_model(ModelName="bench-fixed", ExecutionRoleArn=model_desc["ExecutionRoleArn"],
                            PrimaryContainer=dict(model_desc["PrimaryContainer"],
                                                  ModelDataUrl=f"s3://{names.bucket}/bench/fixed.tar.gz"))
            sm.create_endpoint_config(EndpointConfigName="bench-fixed", ProductionVariants=[{
                "VariantName": "AllTraffic", "ModelName": "bench-fixed", "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 1}])
            sm.delete_endpoint(EndpointName=names.endpoint)  # its crash loop would eat the CPU we measure
            sm.create_endpoint(EndpointName="bench-fixed", EndpointConfigName="bench-fixed")
            while sm.describe_endpoint(EndpointName="bench-fixed")["EndpointStatus"] == "Creating":
                time.sleep(0.5)
            rt = aws.client("sagemaker-runtime")
            body = json.dumps({"s3_uri": f"s3://{names.bucket}/train/upperwear/tshirt/upperwear_tshirt100.png"})
            rt.invoke_endpoint(EndpointName="bench-fixed", ContentType="application/json", Body=body)  # cold
            lat, model_ms = [], []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                out = json.loads(rt.invoke_endpoint(EndpointName="bench-fixed", ContentType="application/json",
                                                    Body=body)["Body"].read())
                lat.append(time.perf_counter() - t0)
                model_ms.append(sum(out["query"]["timing_ms"].values()))
        finally:
            stack.down(state)
    print(f"scenario seeding (catalog upload, archive, endpoint to crash loop)  {t_seed:6.1f} s")
    print(f"archive sizes: broken {buggy.stat().st_size / 1e6:.2f} MB, fixed {fixed.stat().st_size / 1e6:.2f} MB")
    print(f"model_fn load time (load check, clean serving env)  {lc.model_fn_seconds:.3f} s "
          f"(import {lc.import_seconds:.2f} s)")
    print(f"warm predict, InvokeEndpoint round trip (n={len(lat)})  p50 {percentile(lat, 50) * 1000:.0f} ms  "
          f"p95 {percentile(lat, 95) * 1000:.0f} ms;  in-model p50 {percentile(model_ms, 50):.0f} ms")
    print(f"vs the seed's anchor (warm inference {SEED_WARM_ANCHOR_S[0]:.0f}–{SEED_WARM_ANCHOR_S[1]:.0f} s on AWS): "
          f"{SEED_WARM_ANCHOR_S[0] / percentile(lat, 50):.0f}× faster at p50 (a stand-in model, not CLIP)")


if __name__ == "__main__":
    main()
