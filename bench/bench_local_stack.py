"""Local stack baseline: stack start → ready, endpoint create → InService for the tiny model, and the async
invocation round trip (p50/p95 over N requests). Later speed work is measured against these figures.

    .venv/bin/python bench/bench_local_stack.py [--requests 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tiny model lives with the tests

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from endpoint_runbook.aws import Aws, AwsParams
from endpoint_runbook.local import stack
from endpoint_runbook.verify import percentile
from tinymodel import World, tiny_archive


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as state_dir:
        t0 = time.perf_counter()
        info = stack.up(port=0, state_dir=Path(state_dir))
        t_up = time.perf_counter() - t0
        try:
            world = World(Aws(AwsParams(region="ap-south-1", endpoint_url=info.url)))
            t0 = time.perf_counter()
            world.deploy("bench-tiny", world.put("m.tar.gz", tiny_archive(with_package=True)))
            assert world.wait_status("bench-tiny")["EndpointStatus"] == "InService"
            t_create = time.perf_counter() - t0
            rt = world.aws.client("sagemaker-runtime")
            src = world.put("in.json", b'{"x": [1, 2, 3]}')
            trips = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                r = rt.invoke_endpoint_async(EndpointName="bench-tiny", InputLocation=src,
                                             ContentType="application/json")
                msg = world.notification(r["InferenceId"], timeout=60)
                assert msg and msg["invocationStatus"] == "Completed", msg
                trips.append(time.perf_counter() - t0)
        finally:
            stack.down(Path(state_dir))
    print(f"stack start → ready            {t_up:7.2f} s")
    print(f"create → InService (tiny)       {t_create:7.2f} s")
    print(f"async round trip (n={len(trips)}) p50 {percentile(trips, 50) * 1000:7.0f} ms   "
          f"p95 {percentile(trips, 95) * 1000:7.0f} ms   (first {trips[0] * 1000:.0f} ms, mean {statistics.mean(trips) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
