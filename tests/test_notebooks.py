"""Each notebook runs alone, headless, with explicit parameters; the runner stops at the first failing step."""

from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest
import yaml
from endpoint_runbook.params import NOTEBOOKS, notebook_parameters
from endpoint_runbook.records import read_record
from endpoint_runbook.runner import run_chain
from tinymodel import IMAGE, INFERENCE, tar_gz

ROOT = Path(__file__).resolve().parents[1]
SMOKE = "s3://stygig-ml-s3/train/upperwear/tshirt/upperwear_tshirt100.png"


def run_notebook(step: str, tmp_path: Path, **values) -> Path:
    params = {k: p.default for k, p in notebook_parameters(step).items()} | values
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / NOTEBOOKS[step]
    papermill.execute_notebook(str(ROOT / "notebooks" / NOTEBOOKS[step]), str(out), parameters=params,
                               kernel_name="endpoint-runbook", cwd=str(tmp_path), progress_bar=False)
    return out


def _endpoint_missing_its_package(aws, name: str, image: str) -> None:
    """An endpoint (bucket, model, config of the same name) whose archive lacks the package its code imports."""
    s3, sm = aws.client("s3"), aws.client("sagemaker")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    s3.put_object(Bucket=name, Key="m/model.tar.gz", Body=tar_gz({"code/inference.py": INFERENCE}))
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                    PrimaryContainer={"Image": image, "ModelDataUrl": f"s3://{name}/m/model.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def test_diagnose_notebook_alone(aws, moto_url, tmp_path):
    """01 on plain moto: an endpoint whose archive lacks its package (no container needed to diagnose it)."""
    _endpoint_missing_its_package(aws, "nb-diagnose", IMAGE)
    out = run_notebook("diagnose", tmp_path, region="ap-south-1", endpoint_url=moto_url, run_dir=str(tmp_path),
                       endpoint_name="nb-diagnose", load_check=False)
    rec = read_record(tmp_path, "diagnose")
    assert rec["verdict"]["cause"] == "missing-module" and rec["fix"]["packages"] == ["tinypkg"]
    text = out.read_text()
    assert "missing-module" in text and "AKIA" not in text


def test_diagnose_notebook_as_a_notebook_job_runs_it(aws, moto_url, tmp_path):
    """01 with every parameter a string, as a SageMaker notebook job passes them: the first cell converts them."""
    _endpoint_missing_its_package(aws, "nb-job", IMAGE)
    strings = {"region": "ap-south-1", "profile": "null", "endpoint_url": moto_url, "max_attempts": "2",
               "role_arn": "null", "external_id": "null", "run_dir": str(tmp_path), "endpoint_name": "nb-job",
               "log_window_minutes": "30", "max_log_events": "500", "source_roots": "[]", "load_check": "false",
               "expected_paths": "[code/inference.py, code/tinypkg/]", "weights": "null"}
    assert set(strings) == set(notebook_parameters("diagnose"))
    out = tmp_path / "job.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / NOTEBOOKS["diagnose"]), str(out), parameters=strings,
                               kernel_name="endpoint-runbook", cwd=str(tmp_path), progress_bar=False)
    rec = read_record(tmp_path, "diagnose")
    assert rec["verdict"]["cause"] == "missing-module" and rec["load_check"] is None  # "false": not run
    assert [r["path"] for r in rec["archive"]["presence"]] == ["code/inference.py", "code/tinypkg/"]


def test_notebooks_chain_without_run_dir(aws, moto_url, tmp_path, monkeypatch):
    """run_dir unset, as a person leaves it: 01 starts a run, 05 continues it and finds 01's record."""
    _endpoint_missing_its_package(aws, "nb-chain", "img")
    runs = tmp_path / "runs"
    monkeypatch.setenv("ENDPOINT_RUNBOOK_RUNS", str(runs))  # the kernels inherit it
    common = {"region": "ap-south-1", "endpoint_url": moto_url, "endpoint_name": "nb-chain"}
    out1 = run_notebook("diagnose", tmp_path / "nb", **common, load_check=False)
    (run,) = runs.iterdir()
    assert read_record(run, "diagnose")["verdict"]["cause"] == "missing-module"
    assert "started a new run" in out1.read_text()
    out5 = run_notebook("cleanup", tmp_path / "nb", **common)
    assert [p.name for p in runs.iterdir()] == [run.name]
    assert read_record(run, "cleanup")["status"] == "dry-run"
    text = out5.read_text()
    assert "continued the newest run of nb-chain" in text and "01-diagnose.json" in text


def test_runner_stops_at_the_first_failing_step(moto_url, tmp_path):
    params = tmp_path / "params" / "p.yaml"
    params.parent.mkdir()
    params.write_text(yaml.safe_dump({"aws": {"region": "ap-south-1", "endpoint_url": moto_url, "max_attempts": 2},
                                      "endpoint_name": "no-such-endpoint"}))
    summary = run_chain(params, run_dir=tmp_path / "run")
    assert summary.status == "failed"
    failed = summary.failed
    assert failed.step == "diagnose" and [s.step for s in summary.steps] == ["diagnose"]
    assert "NotFoundError" in failed.error and "no-such-endpoint" in failed.error
    assert Path(failed.notebook).exists()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "failed"
    assert not (tmp_path / "run" / "02_rebuild_archive.ipynb").exists()


@pytest.mark.slow
def test_each_later_notebook_alone(incident_aws, incident_stack, tmp_path):
    """02-05 each run alone with explicit parameters (separate run dirs: no record to lean on)."""
    from endpoint_runbook.local.scenarios import StygigIncident, examples_dir

    names = StygigIncident()
    common = {"region": "ap-south-1", "endpoint_url": incident_stack.url}
    src = examples_dir() / "stygig"
    target = "s3://stygig-ml-s3/model-artifacts/notebook-alone/model.tar.gz"
    d2 = tmp_path / "02"
    run_notebook("rebuild_archive", d2, **common, run_dir=str(d2),
                 source_uri=f"s3://{names.bucket}/{names.archive_key}",
                 additions=[{"source": str(src / "src" / "stygig"), "target": "code/stygig/"},
                            {"source": str(src / "config"), "target": "config/"}],
                 target_uri=target, overwrite=True, image_uri=names.image)  # no diagnosis names the image
    rec = read_record(d2, "rebuild_archive")
    assert rec["status"] == "passed" and rec["image"] == names.image and rec["load_check"]["profile"].endswith("2.1.0-cpu-py310")
    # 03 alone: the fixed archive, and the crashing endpoint's config to copy image, role, environment,
    # instances and async config from; the output path is set explicitly (a parameter wins over the copy).
    d3 = tmp_path / "03"
    run_notebook("deploy", d3, **common, run_dir=str(d3), model_data_url=target,
                 copy_from_config=names.endpoint_config, output_path=f"s3://{names.bucket}/alone-output/",
                 smoke_input=SMOKE, wait_timeout=300, smoke_timeout=180)
    dep = read_record(d3, "deploy")
    copied = f"endpoint config {names.endpoint_config}"
    assert dep["ok"] and dep["plan"]["image_source"] == copied
    assert dep["plan"]["sources"]["execution_role_arn"] == copied and dep["plan"]["sources"]["model_data_url"] == "parameter"
    assert dep["plan"]["async_config"]["OutputConfig"]["S3OutputPath"] == f"s3://{names.bucket}/alone-output/"
    assert dep["smoke"]["output_location"].startswith(f"s3://{names.bucket}/alone-output/")
    # 04 alone: the endpoint and the inputs.
    d4 = tmp_path / "04"
    run_notebook("verify", d4, **common, run_dir=str(d4), fixed_endpoint_name=dep["endpoint_name"],
                 inputs=[SMOKE], count=1, deadline_seconds=180,
                 health_patterns=[{"catalog loaded": r"Loaded metadata for \d+ categories"}])
    ver = read_record(d4, "verify")
    assert ver["ok"] and ver["health"][0]["name"] == "catalog loaded" and ver["health"][0]["found"]
    # 05 alone: the endpoint (a dry run: the shared scenario keeps its broken endpoint).
    d5 = tmp_path / "05"
    out = run_notebook("cleanup", d5, **common, run_dir=str(d5), endpoint_name=names.endpoint)
    rec = read_record(d5, "cleanup")
    assert rec["status"] == "dry-run" and names.endpoint in rec["plan"]["endpoint_names"]
    assert "Nothing left to confirm" not in out.read_text()  # the confirm widget was offered


def test_deploy_notebook_alone_names_what_is_missing(moto_url, tmp_path):
    """With no record and no parameters, 03 fails in preflight, naming every missing value at once."""
    d3 = tmp_path / "03"
    with pytest.raises(papermill.PapermillExecutionError) as e:
        run_notebook("deploy", d3, region="ap-south-1", endpoint_url=moto_url, run_dir=str(d3))
    assert e.value.ename == "PreflightFailed" and "is not set and no record gives it" in e.value.evalue
    for name in ("model_data_url", "instance_type", "execution_role_arn", "async_config", "smoke_input"):
        assert name in e.value.evalue
