"""The StyGig stand-in served by TorchServe on the local stack, against the same model called in-process.

Figures: scenario seeding time, archive sizes, model_fn load time (load check, clean serving env); then the
fixed archive's warm predict latency p50/p95 as an InvokeEndpoint round trip (runtime → toolkit → TorchServe
worker) against the same archive's ``inference.py`` loaded in this process and called directly
(``input_fn → predict_fn → output_fn``) with the same request body, reading the same S3 image. The ratio is
what serving costs on top of the model's own work.

    .venv/bin/python bench/bench_stygig.py [--requests 20]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from benchkit import percentile_ratios  # noqa: E402
from endpoint_runbook.archive import safe_extract
from endpoint_runbook.aws import Aws, AwsParams  # noqa: E402
from endpoint_runbook.local import scenarios, stack  # noqa: E402
from endpoint_runbook.local.scenarios import StygigIncident, build_stygig  # noqa: E402
from endpoint_runbook.serving.loadcheck import load_check_dir  # noqa: E402
from endpoint_runbook.steps.verify import percentile  # noqa: E402

NAMES = StygigIncident()
INPUT = f"s3://{NAMES.bucket}/train/upperwear/tshirt/upperwear_tshirt100.png"


def load_in_process(model_dir: Path) -> ModuleType:
    """The archive's ``code/inference.py`` imported here, with ``code/`` on the path as the container does."""
    sys.path.insert(0, str(model_dir / "code"))
    spec = importlib.util.spec_from_file_location("bench_stygig_inference", model_dir / "code" / "inference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_process_latencies(model_dir: Path, url: str, body: str, requests: int) -> tuple[float, list[float]]:
    """model_fn once (timed), a cold call, then ``requests`` warm calls of the handler chain."""
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_DEFAULT_REGION="ap-south-1")  # the model's own boto3 client
    # inference.py logs to stdout (as TorchServe wants it): here, into a buffer, not into the figures.
    with contextlib.redirect_stdout(io.StringIO()):
        inference = load_in_process(model_dir)
        t0 = time.perf_counter()
        model = inference.model_fn(str(model_dir))
        t_load = time.perf_counter() - t0

    def call() -> dict:
        out, _ = inference.output_fn(inference.predict_fn(inference.input_fn(body, "application/json"), model),
                                     "application/json")
        return json.loads(out)

    call()  # cold
    lat = []
    for _ in range(requests):
        t0 = time.perf_counter()
        assert call()["recommendations"]
        lat.append(time.perf_counter() - t0)
    return t_load, lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    _, buggy = build_stygig("buggy")
    _, fixed = build_stygig("fixed")
    body = json.dumps({"s3_uri": INPUT})
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "ml" / "model"
        with open(fixed, "rb") as f:
            safe_extract(f, model_dir)
        lc = load_check_dir(model_dir)
        state = Path(tmp) / "stack"
        info = stack.up(port=0, state_dir=state)
        try:
            t0 = time.perf_counter()
            scenarios.seed("stygig-incident", info.url)
            t_seed = time.perf_counter() - t0
            aws = Aws(AwsParams(region="ap-south-1", endpoint_url=info.url))
            s3, sm = aws.client("s3"), aws.client("sagemaker")
            s3.put_object(Bucket=NAMES.bucket, Key="bench/fixed.tar.gz", Body=fixed.read_bytes())
            model_desc = sm.describe_model(ModelName=NAMES.model)
            sm.create_model(ModelName="bench-fixed", ExecutionRoleArn=model_desc["ExecutionRoleArn"],
                            PrimaryContainer=dict(model_desc["PrimaryContainer"],
                                                  ModelDataUrl=f"s3://{NAMES.bucket}/bench/fixed.tar.gz"))
            sm.create_endpoint_config(EndpointConfigName="bench-fixed", ProductionVariants=[{
                "VariantName": "AllTraffic", "ModelName": "bench-fixed", "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 1}])
            sm.delete_endpoint(EndpointName=NAMES.endpoint)  # its crash loop would eat the CPU we measure
            sm.create_endpoint(EndpointName="bench-fixed", EndpointConfigName="bench-fixed")
            while sm.describe_endpoint(EndpointName="bench-fixed")["EndpointStatus"] == "Creating":
                time.sleep(0.5)
            rt = aws.client("sagemaker-runtime")
            rt.invoke_endpoint(EndpointName="bench-fixed", ContentType="application/json", Body=body)  # cold
            lat, model_ms = [], []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                out = json.loads(rt.invoke_endpoint(EndpointName="bench-fixed", ContentType="application/json",
                                                    Body=body)["Body"].read())
                lat.append(time.perf_counter() - t0)
                model_ms.append(sum(out["query"]["timing_ms"].values()))
            # The endpoint's container is gone before the in-process side runs: it has the CPU to itself too.
            sm.delete_endpoint(EndpointName="bench-fixed")
            t_load_here, here = in_process_latencies(model_dir, info.url, body, args.requests)
        finally:
            stack.down(state)
    print(f"scenario seeding (catalog upload, archive, endpoint to crash loop)  {t_seed:6.1f} s")
    print(f"archive sizes: broken {buggy.stat().st_size / 1e6:.2f} MB, fixed {fixed.stat().st_size / 1e6:.2f} MB")
    print(f"model_fn load time: load check (clean serving env) {lc.model_fn_seconds:.3f} s "
          f"(import {lc.import_seconds:.2f} s); in this process {t_load_here:.3f} s")
    print(f"warm predict (n={len(lat)}): in-model time reported by the endpoint p50 {percentile(model_ms, 50):.0f} ms")
    print(*percentile_ratios("warm predict", "TorchServe (InvokeEndpoint)", lat, "in-process handlers", here),
          sep="\n")


if __name__ == "__main__":
    main()
