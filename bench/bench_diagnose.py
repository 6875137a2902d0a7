"""Time to verdict (static checks only; with the load check) for the scenario's broken archive and for a
~1 GiB one (the same code plus incompressible float32 embeddings), on a plain moto server.

    .venv/bin/python bench/bench_diagnose.py [--size-mib 1024]
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

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from endpoint_runbook import diagnose  # noqa: E402
from endpoint_runbook.aws import Aws, AwsParams  # noqa: E402
from endpoint_runbook.local.scenarios import StygigIncident, build_stygig, examples_dir  # noqa: E402
from endpoint_runbook.serving.env import free_port  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402


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


def timed(aws: Aws, name: str, run_dir: str, load_check: bool) -> float:
    t0 = time.perf_counter()
    d = diagnose.run(aws, run_dir=run_dir, endpoint_name=name, load_check=load_check,
                     source_roots=[str(examples_dir() / "stygig")])
    assert d.verdict.cause == "missing-module", d.verdict
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    args = ap.parse_args()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        aws = Aws(AwsParams(region="ap-south-1", endpoint_url=f"http://127.0.0.1:{port}"))
        s3, sm = aws.client("s3"), aws.client("sagemaker")
        s3.create_bucket(Bucket="bench-diagnose", CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
        _, broken = build_stygig("buggy")
        with tempfile.TemporaryDirectory() as tmp:
            big = Path(tmp) / "big.tar.gz"
            big_archive(broken, big, args.size_mib)
            rows = []
            for label, path in (("scenario archive", broken), (f"{args.size_mib} MiB archive", big)):
                key = f"{label.split()[0]}/model.tar.gz"
                s3.upload_file(str(path), "bench-diagnose", key)
                name = f"bench-{label.split()[0]}"
                sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                                PrimaryContainer={"Image": StygigIncident().image,
                                                  "ModelDataUrl": f"s3://bench-diagnose/{key}"})
                sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
                    "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1}])
                sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
                static = timed(aws, name, tmp, load_check=False)
                full = timed(aws, name, tmp, load_check=True)
                rows.append((label, path.stat().st_size, static, full))
    finally:
        server.stop()
    for label, size, static, full in rows:
        print(f"{label:<20} {size / 2**20:8.1f} MiB   verdict, static checks {static:6.2f} s   "
              f"with load check {full:6.2f} s")


if __name__ == "__main__":
    main()
