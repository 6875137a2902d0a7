"""The fleet scan at scale: ``endpoint-runbook scan`` over 1,000 endpoints (4 regions × 2 accounts reached by
assumed roles, 10 crash-looping while InService, 5 Failed) against a sequential scan in the same run, on the
same seeded local stack: wall time, API calls, peak memory (each side's own process, ru_maxrss).

The sequential scan is what reading the fleet with diagnose's per-endpoint calls one at a time gives: the same
facts (``endpoint.facts.endpoint_facts``), the whole log window (diagnose's 20,000-event bound, no byte bound), the
backlog as diagnose reads it (``backlog.read_backlog``: GetMetricStatistics per metric) and each variant's error
metrics the same way; judged by the same rules, so both must find the same 15.

The stack on loopback answers a call in a few milliseconds, so there the server's CPU (shared with the scan) is
what is measured; ``--latency-ms`` (default 20: a call to a real region) adds a round trip to every call through
the stack's fault layer, which is where a scan of a real fleet spends its time. Both are printed.

    .venv/bin/python bench/bench_scan.py [--endpoints 1000] [--latency-ms 20] [--skip-local]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _child(variant: str, url: str, fleet_json: str) -> None:
    """One side, in its own process: print {seconds, calls, found, rss_mib} as JSON."""
    import endpoint_runbook.steps.diagnose  # noqa: F401  (both sides import it: the baseline below is after imports)
    from endpoint_runbook.aws import AwsParams
    from endpoint_runbook.fleet import scan

    f = json.loads(fleet_json)
    params = AwsParams(region=f["regions"][0], endpoint_url=url, max_attempts=5)
    imported = _rss_now()
    t0 = time.monotonic()
    if variant == "scan":
        r = scan(params, regions=f["regions"], role_arns=f["role_arns"])
        calls, found = sum(r.api_calls.values()), sorted(e.name for e in r.broken)
        scanned = len(r.endpoints)
    else:
        calls, found, scanned = _sequential(params, f["regions"], f["role_arns"])
    out = {"seconds": time.monotonic() - t0, "calls": calls, "found": found, "scanned": scanned,
           "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "imported_mib": imported}
    print(json.dumps(out))


def _rss_now() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _sequential(params, regions: list[str], role_arns: list[str]) -> tuple[int, list[str], int]:
    import dataclasses

    from endpoint_runbook import logs
    from endpoint_runbook.aws import Aws
    from endpoint_runbook.endpoint.backlog import read_backlog
    from endpoint_runbook.endpoint.facts import endpoint_facts
    from endpoint_runbook.fleet.endpoint import Counter, EndpointScan, endpoint_kind, judge, log_view
    from endpoint_runbook.fleet.metrics import ERROR_METRICS

    counter = Counter()
    found, scanned = [], 0
    now = dt.datetime.now(dt.timezone.utc)
    for role in role_arns:
        acct = Aws(dataclasses.replace(params, role_arn=role))
        acct.session  # noqa: B018
        counter.add("sts:AssumeRole")
        for region in regions:
            aws = acct.in_region(region)
            sm, lg, cw = (counter.watch(aws.client(s)) for s in ("sagemaker", "logs", "cloudwatch"))
            names = [e["EndpointName"] for page in sm.get_paginator("list_endpoints").paginate()
                     for e in page["Endpoints"]]
            for name in names:
                facts = endpoint_facts(sm, name)
                row = EndpointScan(account=role.split(":")[4], region=region, name=name, status=facts.status,
                                   kind=endpoint_kind(facts), failure_reason=facts.failure_reason)
                read = logs.read_endpoint_logs(lg, name, start=dt.timedelta(minutes=60), max_events=20000)
                row.log = log_view(read, None)
                backlog = read_backlog(cw, name) if facts.async_config else None
                for v in facts.variants:
                    for metric in ERROR_METRICS:
                        pts = cw.get_metric_statistics(
                            Namespace="AWS/SageMaker", MetricName=metric, StartTime=now - dt.timedelta(hours=1),
                            EndTime=now, Period=3600, Statistics=["Sum"],
                            Dimensions=[{"Name": "EndpointName", "Value": name},
                                        {"Name": "VariantName", "Value": v["VariantName"]}])["Datapoints"]
                        if pts:
                            row.errors[metric] = row.errors.get(metric, 0.0) + sum(p["Sum"] for p in pts)
                judge(row, backlog)
                scanned += 1
                if row.broken:
                    found.append(name)
    return sum(counter.calls.values()), sorted(found), scanned


def _run(variant: str, url: str, fleet_json: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", variant, "--url", url, "--fleet", fleet_json],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, default=20.0, help="round trip added to every call (0: none)")
    ap.add_argument("--skip-local", action="store_true", help="only the run with --latency-ms")
    ap.add_argument("--child"), ap.add_argument("--url"), ap.add_argument("--fleet")
    args = ap.parse_args()
    if args.child:
        return _child(args.child, args.url, args.fleet)

    from endpoint_runbook.local import faults, stack
    from endpoint_runbook.local.scenarios import Fleet, seed_fleet

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    fleet = Fleet(endpoints=args.endpoints)
    state = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    info = stack.up(port=0, state_dir=state)
    try:
        t0 = time.monotonic()
        seeded = seed_fleet(info.url, fleet=fleet)
        print(f"fleet: {fleet.endpoints} endpoints, {len(fleet.regions)} regions × {len(fleet.accounts)} accounts, "
              f"{len(seeded['broken'])} broken; seeded in {time.monotonic() - t0:.1f} s")
        want = sorted(b["endpoint"] for b in seeded["broken"])
        fj = json.dumps({"regions": list(fleet.regions), "role_arns": fleet.role_arns})
        rounds = ([] if args.skip_local else [0.0]) + ([args.latency_ms] if args.latency_ms else [])
        for latency in rounds:
            if latency:
                faults.set_faults(info.url, [{"match": {}, "fault": "latency", "seconds": latency / 1000}])
            else:
                faults.clear_faults(info.url)
            label = f"+{latency:g} ms per call" if latency else "loopback, no added latency"
            res = {v: _run(v, info.url, fj) for v in ("scan", "sequential")}
            for v, r in res.items():
                ok = "found the 15" if r["found"] == want else f"FOUND {r['found']} (want {want})"
                print(f"[{label}] {v:<10} wall {r['seconds']:7.1f} s   API calls {r['calls']:6d}   "
                      f"peak RSS {r['rss_mib']:6.1f} MiB ({r['imported_mib']:.1f} after imports)   "
                      f"{r['scanned']} scanned, {ok}")
            a, b = res["scan"], res["sequential"]
            print(f"[{label}] ratio scan/sequential: wall {a['seconds'] / b['seconds']:.3f}   "
                  f"API calls {a['calls'] / b['calls']:.3f}   peak RSS {a['rss_mib'] / b['rss_mib']:.2f}")
    finally:
        faults.clear_faults(info.url)
        stack.down(state)


if __name__ == "__main__":
    main()
