"""Whole-chain wall time on the local stack, and papermill's overhead against the same five steps called as
plain Python in one process, on a freshly seeded stygig-incident stack each. Targets: ratio ≤ 1.5×, chain < 90 s.

    .venv/bin/python bench/bench_chain.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")


from endpoint_runbook.aws import Aws, AwsParams  # noqa: E402
from endpoint_runbook.local import scenarios, stack  # noqa: E402
from endpoint_runbook.params import load_params  # noqa: E402
from endpoint_runbook.runner import run_chain  # noqa: E402
from endpoint_runbook.steps import cleanup as cleanup_step
from endpoint_runbook.steps import deploy, diagnose, rebuild_archive, verify

ROOT = Path(__file__).resolve().parents[1]


def seeded_stack(tmp: Path) -> tuple[Path, str]:
    state = tmp / "stack"
    info = stack.up(port=0, state_dir=state)
    scenarios.seed("stygig-incident", info.url)
    return state, info.url


def params_for(url: str, tmp: Path) -> Path:
    raw = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
    raw["aws"]["endpoint_url"] = url
    raw["diagnose"]["source_roots"] = [str(ROOT / "examples" / "stygig")]
    (tmp / "params").mkdir(exist_ok=True)
    path = tmp / "params" / "local.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def plain(params_file: Path, run_dir: Path) -> None:
    p = load_params(params_file)
    common = p["diagnose"]
    aws = Aws(AwsParams(region=common["region"], endpoint_url=common["endpoint_url"],
                        max_attempts=common["max_attempts"]))
    d = p["diagnose"]
    diagnose.run(aws, run_dir=str(run_dir), endpoint_name=d["endpoint_name"], log_window_minutes=d["log_window_minutes"],
                 max_log_events=d["max_log_events"], source_roots=d["source_roots"], load_check=d["load_check"])
    r = p["rebuild_archive"]
    rebuild_archive.run(aws, run_dir=str(run_dir), source_uri=r["source_uri"], additions=r["additions"],
                        target_uri=r["target_uri"], overwrite=r["overwrite"], full_check=r["full_check"])
    dp = p["deploy"]
    deploy.run(aws, run_dir=str(run_dir), endpoint_name=dp["fixed_endpoint_name"], image_uri=dp["image_uri"],
               instance_type=dp["instance_type"], instance_count=dp["instance_count"], smoke_input=dp["smoke_input"],
               wait_timeout=dp["wait_timeout"], smoke_timeout=dp["smoke_timeout"])
    v = p["verify"]
    verify.run(aws, run_dir=str(run_dir), endpoint_name=v["fixed_endpoint_name"], inputs=v["inputs"], count=v["count"],
               deadline_seconds=v["deadline_seconds"])
    c = p["cleanup"]
    cleanup_step.run(aws, run_dir=str(run_dir), endpoint_name=c["endpoint_name"], confirm=c["confirm"],
                dry_run=c["dry_run"], force=c["force"], include_outputs=c["include_outputs"],
                recent_minutes=c["recent_minutes"])


def main() -> None:
    results = {}
    for mode in ("papermill", "plain"):
        with tempfile.TemporaryDirectory() as tmp_s:
            tmp = Path(tmp_s)
            state, url = seeded_stack(tmp)
            try:
                params_file = params_for(url, tmp)
                t0 = time.perf_counter()
                if mode == "papermill":
                    summary = run_chain(params_file, run_dir=tmp / "run")
                    assert summary.status == "passed", summary.to_dict()
                else:
                    plain(params_file, tmp / "run")
                results[mode] = time.perf_counter() - t0
            finally:
                stack.down(state)
    ratio = results["papermill"] / results["plain"]
    print(f"whole chain, papermill (5 notebooks)   {results['papermill']:6.1f} s   (target < 90 s)")
    print(f"same steps as plain Python, 1 process  {results['plain']:6.1f} s")
    print(f"papermill overhead ratio               {ratio:6.2f}×  (target ≤ 1.5×)")


if __name__ == "__main__":
    main()
