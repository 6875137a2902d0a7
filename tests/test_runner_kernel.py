"""The runner's kernels: a step runs through papermill without the kernel printing anything to stderr
(ipykernel warns "running over TCP without encryption" on every start unless the transport is IPC)."""

from __future__ import annotations

from pathlib import Path

import yaml
from endpoint_runbook.records import read_record
from endpoint_runbook.runner import run_chain

ROOT = Path(__file__).resolve().parents[1]


def test_a_step_runs_without_kernel_warnings_on_stderr(moto_url, tmp_path, capfd):
    raw = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
    raw["aws"]["endpoint_url"] = moto_url
    raw["cleanup"].update(endpoint_name=f"absent-{tmp_path.name}"[:60], confirm=None, dry_run=True)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    capfd.readouterr()  # what came before (the session's moto server starting)
    summary = run_chain(params, steps=["cleanup"], run_dir=tmp_path / "run")
    err = capfd.readouterr().err  # fd level: the kernel process writes to the inherited stderr
    assert summary.status == "passed", summary.to_dict()
    assert read_record(tmp_path / "run", "cleanup")["status"] == "dry-run"  # the notebook really ran
    assert "IPKernelApp" not in err and "without encryption" not in err, err
    assert not list((tmp_path / "run").glob("kernel-*")), "IPC socket files left in the run dir"
