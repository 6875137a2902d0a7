"""The incident rehearsed end to end: five notebooks, headless, on a local stack seeded with stygig-incident.

Asserts on what every step recorded (never on printed text), that a second cleanup changes nothing, and that no
executed notebook or record carries AWS key material.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
import yaml
from endpoint_runbook.local.scenarios import StygigIncident
from endpoint_runbook.records import find_secrets, read_record
from endpoint_runbook.runner import run_chain
from stacks import running_stack

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
NAMES = StygigIncident()


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    """Its own stack: the chain fixes the scenario's endpoint in place and cleans up its old config."""
    with running_stack(tmp_path_factory, "e2e-stack", startup_timeout=180, scenario="stygig-incident") as info:
        params = yaml.safe_load((ROOT / "params" / "local.yaml").read_text())
        params["aws"]["endpoint_url"] = info.url
        params["diagnose"]["source_roots"] = [str(ROOT / "examples" / "stygig")]
        params_dir = tmp_path_factory.mktemp("e2e") / "params"
        params_dir.mkdir()
        params_file = params_dir / "local.yaml"
        params_file.write_text(yaml.safe_dump(params))
        run_dir = params_dir.parent / "run"
        summary = run_chain(params_file, run_dir=run_dir)
        yield {"summary": summary, "run_dir": run_dir, "params_file": params_file, "url": info.url}


def test_every_step_passes_and_records(rehearsal):
    summary, run_dir = rehearsal["summary"], rehearsal["run_dir"]
    assert summary.status == "passed", json.dumps(summary.to_dict(), indent=1)
    assert [s.step for s in summary.steps] == ["diagnose", "rebuild_archive", "deploy", "verify", "cleanup"]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "passed"

    diag = read_record(run_dir, "diagnose")
    assert diag["verdict"]["cause"] == "missing-module" and diag["fix"]["packages"] == ["stygig"]

    rebuilt = read_record(run_dir, "rebuild_archive")
    assert rebuilt["status"] == "passed" and rebuilt["load_check"]["ok"]
    assert rebuilt["target_uri"] == "s3://stygig-ml-s3/model-artifacts/stygig-async-fixed/model.tar.gz"

    deployed = read_record(run_dir, "deploy")
    assert deployed["ok"] is True and deployed["smoke"]["status"] == "completed"
    assert deployed["actions"] == {"model": "created", "endpoint_config": "created", "endpoint": "updated"}
    assert deployed["mode"] == "in-place" and deployed["endpoint_name"] == NAMES.endpoint
    assert deployed["previous_endpoint_config_name"] == NAMES.endpoint_config

    verified = read_record(run_dir, "verify")
    assert verified["ok"] is True and verified["figures"]["not_ok"] == 0
    assert verified["figures"]["requests"] == 7 and verified["figures"]["warm"]["n"] == 6
    assert all(r["status"] == "completed" for r in verified["requests"])
    assert all(h.get("found") for h in verified["health"]), verified["health"]
    # Every request that failed during the rehearsed outage was replayed and served.
    replay = verified["replay"]
    assert replay["counts"]["failed"] >= NAMES.outage_requests and replay["counts"]["failed_again"] == 0
    assert all(r["status"] == "served" for r in replay["rows"]), replay["rows"]

    cleaned = read_record(run_dir, "cleanup")
    assert cleaned["status"] == "done"


def test_the_seed_endpoint_serves_the_fixed_model_and_its_old_config_is_gone(rehearsal):
    from endpoint_runbook.aws import Aws, AwsParams

    aws = Aws(AwsParams(region="ap-south-1", endpoint_url=rehearsal["url"]))
    sm = aws.client("sagemaker")
    names = [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    deployed = read_record(rehearsal["run_dir"], "deploy")
    assert names == [NAMES.endpoint]
    d = sm.describe_endpoint(EndpointName=NAMES.endpoint)
    assert d["EndpointStatus"] == "InService" and d["EndpointConfigName"] == deployed["endpoint_config_name"]
    configs = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    models = [m["ModelName"] for m in sm.list_models()["Models"]]
    assert NAMES.endpoint_config not in configs and NAMES.model not in models


def test_a_second_cleanup_changes_nothing(rehearsal):
    summary = run_chain(rehearsal["params_file"], steps=["cleanup"], run_dir=rehearsal["run_dir"])
    assert summary.status == "passed"
    again = read_record(rehearsal["run_dir"], "cleanup")
    assert again["status"] == "nothing-to-do"
    assert not [o for o in again["outcomes"] if o["outcome"] == "deleted"]


CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# AWS's documented example pair, as a credentials file or a leaked `env` listing shows it.
REALISTIC = "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"


def leaks(text: str) -> list[str]:
    """Key material in ``text``: what the records' scan finds (key-id shapes, secret-named values), and the
    credentials this run is configured with (the values themselves, whatever their shape)."""
    own = [var for var in CREDENTIAL_VARS if len(os.environ.get(var, "")) >= 8 and os.environ[var] in text]
    return find_secrets(text) + own


def test_no_secrets_in_executed_notebooks_or_records(rehearsal, tmp_path):
    files = list(rehearsal["run_dir"].glob("*.ipynb")) + list(rehearsal["run_dir"].glob("*.json"))
    assert len(files) >= 11
    for f in files:
        assert not leaks(f.read_text()), f
    # The scan itself can fail: the run's own credentials (conftest sets them) and a realistic key pair,
    # planted as outputs of an executed notebook, are all found.
    nb = nbformat.read(rehearsal["run_dir"] / "01_diagnose.ipynb", as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    own = f"AWS_ACCESS_KEY_ID={os.environ['AWS_ACCESS_KEY_ID']}\nAWS_SECRET_ACCESS_KEY={os.environ['AWS_SECRET_ACCESS_KEY']}\n"
    code.outputs += [nbformat.v4.new_output("stream", name="stdout", text=own),
                     nbformat.v4.new_output("stream", name="stderr", text=REALISTIC)]
    planted = tmp_path / "planted.ipynb"
    nbformat.write(nb, planted)
    found = leaks(planted.read_text())
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(found), found
    assert any(f.startswith(os.environ["AWS_ACCESS_KEY_ID"]) for f in found), found  # by its shape too
    assert any(f.startswith("AKIAIOSFODNN7EXAMPLE") for f in found), found
    assert any(f.startswith("aws_secret_access_key = ") for f in found), found
