"""From a broken endpoint to served, per start-up failure: the runbook against the loop a person runs without it.

For each scenario of ``local/startup_scenarios.py`` (a small model that really fails that way on the stack):

- **runbook**: ``endpoint-runbook run`` over steps 1-3 (diagnose → rebuild or pass the archive through → deploy in
  place with the remedy, until the smoke request is answered), from the scenario's params file, timed from the start
  of diagnose to the answered smoke request;
- **baseline, one manual loop**: what a person does for each guess — deploy the guessed fix as a new endpoint (a new
  endpoint config copying the fixed one, CreateEndpoint), wait for InService, then send the request until the model
  answers (or the endpoint's logs show it failed). The guess here is the right one (the runbook's own fix), so the
  baseline is one loop at its fastest: a person who needs two guesses takes twice as long. Measured in the same run,
  on the same stack, right after the runbook (the serving environment and file caches equally warm); the new
  endpoint is deleted afterwards.

Prints, per scenario, both times and the ratio runbook / one manual loop (below 1: the runbook, diagnosis included,
served before one blind redeploy would have; above 1: how many manual loops it costs).

    .venv/bin/python bench/bench_remedies.py [--scenarios wrong-program no-network disk-full ...]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from endpoint_runbook.aws import Aws, AwsParams
from endpoint_runbook.local import scenarios, stack
from endpoint_runbook.local.startup_scenarios import STARTUP_FAILURES
from endpoint_runbook.records import read_record
from endpoint_runbook.runner import run_chain

ROOT = Path(__file__).resolve().parents[1]
REQUEST = b'{"x": [1, 2, 3]}'


def runbook(url: str, name: str, work: Path) -> tuple[float, Path]:
    params = yaml.safe_load((ROOT / "params" / f"local-{name}.yaml").read_text())
    params["aws"]["endpoint_url"] = url
    params_file = work / f"local-{name}.yaml"
    params_file.write_text(yaml.safe_dump(params))
    run_dir = work / f"run-{name}"
    t0 = time.monotonic()
    summary = run_chain(params_file, steps=["diagnose", "rebuild_archive", "deploy"], run_dir=run_dir)
    took = time.monotonic() - t0
    if summary.status != "passed":
        raise SystemExit(f"{name}: the runbook did not serve: {json.dumps(summary.to_dict())[:2000]}")
    return took, run_dir


def manual_loop(aws: Aws, name: str, run_dir: Path, *, deadline_s: float = 900) -> float:
    """One guess deployed as a new endpoint and waited for until it answers (the guess: the runbook's fixed config)."""
    sm, runtime = aws.client("sagemaker"), aws.client("sagemaker-runtime", read_timeout=70, max_attempts=1)
    fixed = read_record(run_dir, "deploy")["endpoint_config_name"]
    cfg = sm.describe_endpoint_config(EndpointConfigName=fixed)
    guess, endpoint = f"{name}-guess-config", f"{name}-guess"
    t0 = time.monotonic()
    sm.create_endpoint_config(EndpointConfigName=guess, ProductionVariants=cfg["ProductionVariants"])
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=guess)
    try:
        while sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Creating":
            time.sleep(2)
        while time.monotonic() - t0 < deadline_s:
            try:
                out = runtime.invoke_endpoint(EndpointName=endpoint, Body=REQUEST, ContentType="application/json",
                                              Accept="application/json")
                json.loads(out["Body"].read())
                return time.monotonic() - t0
            except Exception:  # noqa: BLE001 — not answering yet: the person tries again
                time.sleep(5)
        raise SystemExit(f"{name}: the manual loop's endpoint did not answer in {deadline_s:g} s")
    finally:
        sm.delete_endpoint(EndpointName=endpoint)
        sm.delete_endpoint_config(EndpointConfigName=guess)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenarios", nargs="+", default=["wrong-program", "private-package", "pin-not-found",
                                                       "no-network", "out-of-memory", "disk-full", "archive-too-large",
                                                       "slow-start", "download-timeout", "pin-then-memory",
                                                       "slow-install", "weights-no-route"],
                    choices=sorted(STARTUP_FAILURES))
    args = ap.parse_args()
    # one stack per link from S3 to the instances a scenario needs (download-timeout's slow one; the rest loopback's)
    links: dict[float | None, list[str]] = {}
    for name in args.scenarios:
        links.setdefault(STARTUP_FAILURES[name].download_bandwidth, []).append(name)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-remedies-") as tmp:
        work = Path(tmp)
        for n, (link, names) in enumerate(links.items()):
            state = work / f"stack-{n}"
            info = stack.up(port=0, state_dir=state, startup_timeout=300, model_download_bandwidth=link)
            try:
                aws = Aws(AwsParams(region="ap-south-1", endpoint_url=info.url, max_attempts=3))
                for name in names:
                    scenarios.seed(name, info.url)
                    ours, run_dir = runbook(info.url, name, work)
                    base = manual_loop(aws, name, run_dir)
                    rows.append(f"{name:16s} runbook (diagnose → served) {ours:7.1f} s   one manual loop (new "
                                f"endpoint with the right guess → answered) {base:7.1f} s   ratio {ours / base:5.2f}")
                    print(rows[-1], flush=True)
            finally:
                stack.down(state)
    print("\n".join(["", "broken → served, per cause (ratio = runbook / one manual loop)"] + rows))


if __name__ == "__main__":
    main()
