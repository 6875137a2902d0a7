"""Fix in place vs a new endpoint, and the replay of an outage's failed requests, on one local stack.

Measured (fixed StyGig archive, real TorchServe, the stygig-incident scenario):
- update-to-first-result: ``deploy.run(mode="in-place")`` from its UpdateEndpoint to the smoke request's output on
  the seed's endpoint name, against the baseline ``deploy.run(mode="new-endpoint")`` from its CreateEndpoint to
  its first result, in the same run (the same archive; the new endpoint is deleted afterwards);
- replay throughput: ``--failures`` requests sent to the crash-looping endpoint fail (short
  InvocationTimeoutSeconds); after the fix, ``replay_failed`` sends them again at ``--concurrency`` and at
  concurrency 1 (the baseline), reported in requests/s.

An untimed warm-up deploy of the same archive (a new endpoint, deleted at once) runs before both, so neither
timed run pays the cold file caches of the first fixed container (as bench_deploy_verify does); the timed
new-endpoint run is then as warm as the in-place one after it.

    .venv/bin/python bench/bench_inplace.py [--failures 12] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from endpoint_runbook import records
from endpoint_runbook.aws import Aws, AwsParams
from endpoint_runbook.endpoint.facts import endpoint_facts
from endpoint_runbook.invocation import replay
from endpoint_runbook.local import scenarios, stack
from endpoint_runbook.local.scenarios import StygigIncident, build_stygig
from endpoint_runbook.steps import deploy

NAMES = StygigIncident()


def _diag(sm: Any) -> dict[str, Any]:
    """What step 1 records of the endpoint (the facts the in-place deploy copies)."""
    return {"endpoint": endpoint_facts(sm, NAMES.endpoint).to_dict()}


def _fail_requests(aws: Aws, images: list[str], n: int) -> list[str]:
    rt, s3 = aws.client("sagemaker-runtime"), aws.client("s3")
    ids = [rt.invoke_endpoint_async(EndpointName=NAMES.endpoint, InputLocation=images[i % len(images)],
                                    ContentType="image/png", InvocationTimeoutSeconds=5)["InferenceId"]
           for i in range(n)]
    deadline = time.monotonic() + 120
    for iid in ids:
        while time.monotonic() < deadline:
            try:
                s3.head_object(Bucket=NAMES.bucket, Key=f"{NAMES.failure_prefix}/{iid}-error.out")
                break
            except s3.exceptions.ClientError:
                time.sleep(0.5)
    return ids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--failures", type=int, default=12)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "stack"
        info = stack.up(port=0, state_dir=state, startup_timeout=300)
        try:
            scenarios.seed("stygig-incident", info.url)
            aws = Aws(AwsParams(region="ap-south-1", endpoint_url=info.url, max_attempts=3))
            s3, sm = aws.client("s3"), aws.client("sagemaker")
            images = [f"s3://{NAMES.bucket}/{o['Key']}" for o in
                      s3.list_objects_v2(Bucket=NAMES.bucket, Prefix="train/")["Contents"] if o["Key"].endswith(".png")]
            since = dt.datetime.now(dt.timezone.utc)
            failed = _fail_requests(aws, images, args.failures)
            _, fixed = build_stygig("fixed")
            s3.put_object(Bucket=NAMES.bucket, Key="bench/inplace/model.tar.gz", Body=fixed.read_bytes())
            diag = _diag(sm)
            common = {"smoke_input": images[0], "poll_seconds": 0.5, "wait_timeout": 600, "smoke_timeout": 300,
                      "progress": lambda _m: None}
            figures: dict[str, float] = {}
            for mode in ("warm-up", "new-endpoint", "in-place"):
                run_dir = Path(tmp) / mode
                records.write_record(run_dir, "diagnose", diag)
                records.write_record(run_dir, "rebuild_archive",
                                     {"target_uri": f"s3://{NAMES.bucket}/bench/inplace/model.tar.gz"})
                r = deploy.run(aws, run_dir=str(run_dir), mode="in-place" if mode == "in-place" else "new-endpoint",
                               name_prefix=f"b{mode[:3]}", **common)
                figures[mode] = r.timings["deploy_to_first_result_s"]
                if mode != "in-place":  # out of the way of the next run's CPU
                    sm.delete_endpoint(EndpointName=r.endpoint_name)
            out_path = _diag(sm)["endpoint"]["async_config"]["OutputConfig"]
            rates: dict[int, float] = {}
            for conc in (1, args.concurrency):
                # Each pass replays under its own window: clear the first pass's replay outputs.
                for iid in failed:
                    s3.delete_object(Bucket=NAMES.bucket, Key=f"{NAMES.output_prefix}/{replay.replay_id(iid)}.out")
                rep = replay.replay_failed(aws, NAMES.endpoint, output_path=out_path["S3OutputPath"],
                                           failure_path=out_path["S3FailurePath"],
                                           error_topic=out_path["NotificationConfig"]["ErrorTopic"], start=since,
                                           end=dt.datetime.now(dt.timezone.utc), concurrency=conc,
                                           deadline_seconds=600, progress=lambda _m: None)
                c = rep.counts
                assert c["served"] == c["replayed"] >= args.failures, c
                rates[conc] = c["throughput_rps"]
        finally:
            stack.down(state)
    print(f"warm-up (not in the ratio)             {figures['warm-up']:8.2f} s")
    print(f"update-to-first-result (in-place)      {figures['in-place']:8.2f} s")
    print(f"create-to-first-result (new endpoint)  {figures['new-endpoint']:8.2f} s   "
          f"ratio in-place/new {figures['in-place'] / figures['new-endpoint']:.2f}")
    print(f"replay throughput, concurrency 1       {rates[1]:8.2f} req/s")
    print(f"replay throughput, concurrency {args.concurrency:<2}      {rates[args.concurrency]:8.2f} req/s   "
          f"ratio {rates[args.concurrency] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
