"""The local stack against its parts run bare, measured in the same run (tiny model, real TorchServe):

- stack start → answering, against a plain moto server process (``python -m moto.server``) → answering;
- CreateEndpoint → InService (archive fetched from S3, extracted, container started, logs shipped, /ping),
  against the same container entry started bare on the already-extracted model → /ping answers;
- async round trip (InvokeEndpointAsync → S3 input → /invocations → S3 output → SNS → SQS) p50/p95, against
  a direct POST /invocations on the bare server with the same body.

Ratios are stack / bare: what the stack's emulation of SageMaker costs on top of moto and TorchServe.

    .venv/bin/python bench/bench_local_stack.py [--requests 20]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tiny model lives with the tests

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from benchkit import percentile_ratios  # noqa: E402
from endpoint_runbook.archive import safe_extract
from endpoint_runbook.aws import Aws, AwsParams  # noqa: E402
from endpoint_runbook.local import stack  # noqa: E402
from endpoint_runbook.serving.env import ensure_serving_env
from endpoint_runbook.serving.server import free_port, start_model_server  # noqa: E402
from tinymodel import World, tiny_archive  # noqa: E402

BODY = b'{"x": [1, 2, 3]}'


def answers(url: str) -> bool:
    """Any HTTP answer (even an error status) means the server is up."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def bare_moto_start(timeout: float = 60) -> float:
    """Seconds from spawning ``python -m moto.server`` to its first HTTP answer."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not answers(f"http://127.0.0.1:{port}/moto-api/"):
            if proc.poll() is not None or time.perf_counter() - t0 > timeout:
                raise SystemExit(f"moto.server did not answer (exit code {proc.poll()})")
            time.sleep(0.1)
        return time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bare_serving(archive: bytes, requests: int, timeout: float = 120) -> tuple[float, list[float]]:
    """The container entry on the extracted tiny model, no stack: seconds to /ping 200, then direct
    /invocations round trips."""
    env = ensure_serving_env()
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as tmp:
        base = Path(tmp) / "ml"
        safe_extract(io.BytesIO(archive), base / "model")
        t0 = time.perf_counter()
        server = start_model_server(env, base_dir=base, workdir=Path(tmp) / "work",
                                    environment={"SAGEMAKER_PROGRAM": "inference.py"})
        try:
            # Drain its output as the stack's log shipper does (a full pipe would stall TorchServe).
            threading.Thread(target=lambda: server.proc.stdout.read(), daemon=True).start()
            while True:
                try:
                    with urllib.request.urlopen(f"{server.url}/ping", timeout=2) as r:
                        if r.status == 200:
                            break
                except (urllib.error.URLError, OSError):
                    pass
                if server.proc.poll() is not None or time.perf_counter() - t0 > timeout:
                    raise SystemExit("the bare model server did not answer /ping")
                time.sleep(0.5)
            t_ping = time.perf_counter() - t0
            trips = []
            for i in range(requests + 1):  # the first one is the cold request: not counted
                t1 = time.perf_counter()
                req = urllib.request.Request(f"{server.url}/invocations", data=BODY, method="POST",
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=60) as r:
                    r.read()
                if i:
                    trips.append(time.perf_counter() - t1)
            return t_ping, trips
        finally:
            server.stop()


def stack_figures(archive: bytes, requests: int) -> tuple[float, float, list[float]]:
    with tempfile.TemporaryDirectory() as state_dir:
        t0 = time.perf_counter()
        info = stack.up(port=0, state_dir=Path(state_dir))
        t_up = time.perf_counter() - t0
        try:
            world = World(Aws(AwsParams(region="ap-south-1", endpoint_url=info.url)))
            model_url = world.put("m.tar.gz", archive)
            t0 = time.perf_counter()
            world.deploy("bench-tiny", model_url)
            assert world.wait_status("bench-tiny")["EndpointStatus"] == "InService"
            t_create = time.perf_counter() - t0
            rt = world.aws.client("sagemaker-runtime")
            src = world.put("in.json", BODY)
            trips = []
            for i in range(requests + 1):  # the first one is the cold request: not counted
                t1 = time.perf_counter()
                r = rt.invoke_endpoint_async(EndpointName="bench-tiny", InputLocation=src,
                                             ContentType="application/json")
                msg = world.notification(r["InferenceId"], timeout=60)
                assert msg and msg["invocationStatus"] == "Completed", msg
                if i:
                    trips.append(time.perf_counter() - t1)
        finally:
            stack.down(Path(state_dir))
    return t_up, t_create, trips


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    archive = tiny_archive(with_package=True)
    ensure_serving_env()  # built once beforehand: neither side pays for it
    t_moto = bare_moto_start()
    t_ping, bare_trips = bare_serving(archive, args.requests)
    t_up, t_create, trips = stack_figures(archive, args.requests)
    print(f"start → answering        stack {t_up:7.2f} s   moto.server alone {t_moto:7.2f} s   "
          f"ratio {t_up / t_moto:5.2f}")
    print(f"create → InService        stack {t_create:7.2f} s   bare container → /ping {t_ping:7.2f} s   "
          f"ratio {t_create / t_ping:5.2f}")
    print(*percentile_ratios("round trip", "stack async", trips, "bare /invocations", bare_trips), sep="\n")


if __name__ == "__main__":
    main()
