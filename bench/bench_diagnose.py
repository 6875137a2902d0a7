"""Time to verdict against the deploy-and-watch loop, measured in the same run on the local stack.

Baseline ("deploy and watch", how the cause is found without the runbook): create the model, endpoint config
and endpoint for the broken archive, then poll DescribeEndpoint and FilterLogEvents every second until the
crash evidence (``No module named 'stygig'`` and ``Auto recovery failed again``) is in the logs.
Runbook: ``diagnose.run`` on that crash-looping endpoint, with static checks only, and with the load check.
Ratios > 1: the runbook names the cause that many times sooner.

``--size-mib N`` adds a row for an archive of the same code plus N MiB of incompressible float32
embeddings (both sides pay for the bigger download; default 0: the scenario archive only).

    .venv/bin/python bench/bench_diagnose.py [--size-mib 0]
"""

from __future__ import annotations

import argparse
import io
import os
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from endpoint_runbook.aws import Aws, AwsParams  # noqa: E402
from endpoint_runbook.local import stack  # noqa: E402
from endpoint_runbook.local.scenarios import StygigIncident, build_stygig, examples_dir  # noqa: E402
from endpoint_runbook.steps import diagnose  # noqa: E402

NAMES = StygigIncident()
REGION = "ap-south-1"
BUCKET = "bench-diagnose"
EVIDENCE = ("No module named 'stygig'", "Auto recovery failed again")
ENVIRONMENT = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
               "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": REGION}


def big_archive(small: Path, out: Path, size_mib: int) -> None:
    """The broken archive's members plus a large embeddings file, gzip level 6 (as tarfile writes it)."""
    with tarfile.open(small) as src, open(out, "wb") as raw:
        comp = zlib.compressobj(6, zlib.DEFLATED, 31)

        class Sink(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, b: bytes) -> int:
                raw.write(comp.compress(bytes(b)))
                return len(b)

        with tarfile.open(fileobj=Sink(), mode="w|") as dst:
            for m in src:
                dst.addfile(m, src.extractfile(m) if m.isfile() else None)
            info = tarfile.TarInfo("embeddings-large.npy")
            info.size = size_mib << 20
            chunk = os.urandom(1 << 20)
            dst.addfile(info, io.BufferedReader(io.BytesIO(chunk * size_mib)))  # noqa: SIM115
        raw.write(comp.flush())


def deploy_and_watch(sm: Any, logs: Any, name: str, model_data_url: str, timeout: float = 600) -> float:
    """Seconds from CreateModel to the crash evidence in the endpoint's log group."""
    group = f"/aws/sagemaker/Endpoints/{name}"
    t0 = time.perf_counter()
    sm.create_model(ModelName=name, ExecutionRoleArn=f"arn:aws:iam::123456789012:role/{NAMES.role}",
                    PrimaryContainer={"Image": NAMES.image, "ModelDataUrl": model_data_url,
                                      "Environment": ENVIRONMENT})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": NAMES.instance_type,
        "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    while time.perf_counter() - t0 < timeout:
        status = sm.describe_endpoint(EndpointName=name)["EndpointStatus"]
        if status == "Failed":
            raise SystemExit(f"{name} failed instead of crash-looping")
        try:
            text = "\n".join(e["message"] for page in logs.get_paginator("filter_log_events").paginate(
                logGroupName=group) for e in page["events"])
            if all(marker in text for marker in EVIDENCE):
                return time.perf_counter() - t0
        except logs.exceptions.ResourceNotFoundException:
            pass
        time.sleep(1)
    raise SystemExit(f"no crash evidence for {name} within {timeout:.0f} s")


def time_to_verdict(aws: Aws, name: str, run_dir: str, load_check: bool) -> float:
    t0 = time.perf_counter()
    d = diagnose.run(aws, run_dir=run_dir, endpoint_name=name, load_check=load_check,
                     source_roots=[str(examples_dir() / "stygig")])
    elapsed = time.perf_counter() - t0
    assert d.verdict.cause == "missing-module", d.verdict
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=0, help="also an archive with N MiB of embeddings (0: off)")
    args = ap.parse_args()
    _, broken = build_stygig("buggy")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        archives = [("scenario archive", broken)]
        if args.size_mib:
            big = Path(tmp) / "big.tar.gz"
            big_archive(broken, big, args.size_mib)
            archives.append((f"{args.size_mib} MiB archive", big))
        state = Path(tmp) / "stack"
        info = stack.up(port=0, state_dir=state)
        try:
            aws = Aws(AwsParams(region=REGION, endpoint_url=info.url))
            s3, sm, logs = aws.client("s3"), aws.client("sagemaker"), aws.client("logs")
            s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
            for i, (label, path) in enumerate(archives):
                key = f"a{i}/model.tar.gz"
                s3.upload_file(str(path), BUCKET, key)
                name = f"bench-diagnose-{i}"
                watch = deploy_and_watch(sm, logs, name, f"s3://{BUCKET}/{key}")
                static = time_to_verdict(aws, name, tmp, load_check=False)
                full = time_to_verdict(aws, name, tmp, load_check=True)
                sm.delete_endpoint(EndpointName=name)  # one crash loop at a time
                rows.append((label, path.stat().st_size, watch, static, full))
        finally:
            stack.down(state)
    for label, size, watch, static, full in rows:
        print(f"{label} ({size / 2**20:.1f} MiB): deploy and watch the logs {watch:6.2f} s")
        print(f"  verdict, static checks  {static:6.2f} s   ratio {watch / static:6.1f}")
        print(f"  verdict with load check {full:6.2f} s   ratio {watch / full:6.1f}")


if __name__ == "__main__":
    main()
