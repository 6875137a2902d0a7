"""Start-up failures other than missing code, each fixed end to end by `endpoint-runbook run` on the local stack
(issue 24): a small model that really fails that way (``local/startup_scenarios.py``), diagnose names the cause and
the remedy, step 2 applies the archive's part (or passes the archive through untouched), deploy applies the rest in
place as a diff, verify sees the model answer, cleanup removes the superseded config — the endpoint serving under its
own name.

One stack holds every scenario; each chain runs the five notebooks headless from the scenario's params file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from endpoint_runbook.aws import Aws, AwsParams
from endpoint_runbook.endpoint import remedies
from endpoint_runbook.local.startup_scenarios import BUCKET, STARTUP_FAILURES
from endpoint_runbook.records import read_record
from endpoint_runbook.runner import run_chain
from endpoint_runbook.step_records import EndpointFacts
from stacks import kept_environ, running_stack

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
DOWNLOAD = remedies.DOWNLOAD_TIMEOUT


@pytest.fixture(scope="module")
def remedy_stack(tmp_path_factory):
    from endpoint_runbook.local import scenarios

    with kept_environ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), \
            running_stack(tmp_path_factory, "remedy-stack", startup_timeout=300) as info:
        yield {"url": info.url, "tmp": tmp_path_factory, "seed": scenarios.seed}


def _fix(remedy_stack, name: str):
    """Seed ``name`` and run the chain from ``params/local-<name>.yaml`` pointed at this stack."""
    seeded = remedy_stack["seed"](name, remedy_stack["url"])
    params = yaml.safe_load((ROOT / "params" / f"local-{name}.yaml").read_text())
    params["aws"]["endpoint_url"] = remedy_stack["url"]
    base = remedy_stack["tmp"].mktemp(f"run-{name}")
    params_file = base / f"local-{name}.yaml"
    params_file.write_text(yaml.safe_dump(params))
    run_dir = base / "run"
    summary = run_chain(params_file, run_dir=run_dir)
    aws = Aws(AwsParams(region="ap-south-1", endpoint_url=remedy_stack["url"]))
    return seeded, summary, run_dir, aws


def _served(aws, scenario, run_dir):
    """The endpoint serves under its own name on the fixed config; the broken config is gone."""
    sm = aws.client("sagemaker")
    deployed = read_record(run_dir, "deploy")
    assert deployed["ok"] and deployed["mode"] == "in-place" and deployed["endpoint_name"] == scenario.endpoint
    assert deployed["previous_endpoint_config_name"] == scenario.config
    ep = sm.describe_endpoint(EndpointName=scenario.endpoint)
    assert ep["EndpointStatus"] == "InService" and ep["EndpointConfigName"] == deployed["endpoint_config_name"]
    out = aws.client("sagemaker-runtime").invoke_endpoint(EndpointName=scenario.endpoint, Body=b'{"x": [1, 2, 3]}',
                                                          ContentType="application/json", Accept="application/json")
    assert json.loads(out["Body"].read()) == {"answer": 114}
    verified = read_record(run_dir, "verify")
    assert verified["ok"] and verified["figures"]["completed"] == verified["figures"]["requests"] >= 3
    assert read_record(run_dir, "cleanup")["status"] == "done"
    configs = {c["EndpointConfigName"] for c in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]}
    assert scenario.config not in configs and ep["EndpointConfigName"] in configs
    return deployed, sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])


def _outputs(notebook: Path) -> str:
    nb = json.loads(notebook.read_text())
    return "\n".join("".join((o.get("data") or {}).get("text/html", "")) + "".join(o.get("text", ""))
                     for cell in nb["cells"] for o in cell.get("outputs", []))


def test_a_model_slower_than_the_model_servers_timeout_gets_the_timeout_it_needs(remedy_stack):
    scenario = STARTUP_FAILURES["slow-start"]
    seeded, summary, run_dir, aws = _fix(remedy_stack, "slow-start")
    assert summary.status == "passed", json.dumps(summary.to_dict(), indent=1)
    diag = read_record(run_dir, "diagnose")
    v = diag["verdict"]
    assert v["cause"] == "startup-health-check-timeout" and v["confidence"] == "high", v
    [r] = [x for x in v["fix"]["remedies"] if x["field"] == remedies.SERVER_TIMEOUT]
    measured = r["sized_from"]["startup_seconds"]
    assert measured >= 70 and int(r["after"]) >= 2 * measured  # sized from the load the load check measured
    rebuilt = read_record(run_dir, "rebuild_archive")
    assert rebuilt["status"] == "unchanged" and rebuilt["target_uri"] == seeded["model_data"]
    deployed, cfg = _served(aws, scenario, run_dir)
    assert f"+ PrimaryContainer.Environment.{remedies.SERVER_TIMEOUT}: {r['after']}" in deployed["plan"]["remedy_diff"]
    model = aws.client("sagemaker").describe_model(ModelName=cfg["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["Environment"][remedies.SERVER_TIMEOUT] == r["after"]
    assert model["PrimaryContainer"]["ModelDataUrl"] == seeded["model_data"]  # the archive as it was
    assert remedies.SERVER_TIMEOUT in _outputs(run_dir / "01_diagnose.ipynb")
    assert "remedies applied" in _outputs(run_dir / "03_deploy.ipynb")


def test_an_entry_script_the_archive_lacks_is_pointed_at_the_one_it_has(remedy_stack):
    scenario = STARTUP_FAILURES["wrong-program"]
    seeded, summary, run_dir, aws = _fix(remedy_stack, "wrong-program")
    assert summary.status == "passed", json.dumps(summary.to_dict(), indent=1)
    v = read_record(run_dir, "diagnose")["verdict"]
    assert v["cause"] == "missing-entry-script"
    [r] = v["fix"]["remedies"]
    assert (r["where"], r["field"], r["before"], r["after"]) == ("model", "SAGEMAKER_PROGRAM", "serve.py",
                                                                 "inference.py")
    assert read_record(run_dir, "rebuild_archive")["status"] == "unchanged"
    deployed, cfg = _served(aws, scenario, run_dir)
    assert "- PrimaryContainer.Environment.SAGEMAKER_PROGRAM: serve.py" in deployed["plan"]["remedy_diff"]


@pytest.mark.parametrize("name", ["pin-not-found", "private-package"])
def test_requirements_that_cannot_install_are_rewritten_in_a_new_archive(remedy_stack, name):
    scenario = STARTUP_FAILURES[name]
    seeded, summary, run_dir, aws = _fix(remedy_stack, name)
    assert summary.status == "passed", json.dumps(summary.to_dict(), indent=1)
    v = read_record(run_dir, "diagnose")["verdict"]
    dropped = {"pin-not-found": "numpy==1.0.99", "private-package": "acme-internal-features==2.3.1"}[name]
    assert v["fix"]["requirements"]["lines"] == [dropped], v
    why = v["fix"]["requirements"]["why"]
    assert ("the image ships numpy" in why) if name == "pin-not-found" else ("no code in the archive imports" in why)
    rebuilt = read_record(run_dir, "rebuild_archive")
    assert rebuilt["status"] == "passed" and rebuilt["target_uri"] != seeded["model_data"]
    _served(aws, scenario, run_dir)
    s3 = aws.client("s3")  # the source archive is untouched
    assert s3.head_object(Bucket=BUCKET, Key=scenario.archive_key)["ContentLength"] > 0


def test_a_volume_too_small_for_what_the_model_unpacks_is_sized_from_what_it_wrote(remedy_stack):
    """VolumeSizeInGB 1 and a model_fn that writes 1.2 GiB: the stack's volume fills (errno 28), the load check here
    measures what model_fn wrote, and the config's volume grows to hold it; the archive is deployed as it is."""
    scenario = STARTUP_FAILURES["disk-full"]
    seeded, summary, run_dir, aws = _fix(remedy_stack, "disk-full")
    assert summary.status == "passed", json.dumps(summary.to_dict(), indent=1)
    diag = read_record(run_dir, "diagnose")
    v = diag["verdict"]
    assert v["cause"] == "disk-full", v
    [r] = v["fix"]["remedies"]
    assert (r["where"], r["field"], r["before"]) == ("endpoint-config", remedies.VOLUME, 1)
    assert r["sized_from"]["written_mb"] >= 1200 and r["after"] >= 2  # what model_fn wrote, measured here
    assert read_record(run_dir, "rebuild_archive")["status"] == "unchanged"
    deployed, cfg = _served(aws, scenario, run_dir)
    assert cfg["ProductionVariants"][0][remedies.VOLUME] == r["after"]
    assert f"- ProductionVariants[0].{remedies.VOLUME}: 1" in deployed["plan"]["remedy_diff"]


def test_an_archive_that_unpacks_past_the_volume_gets_a_volume_sized_from_its_unpacked_size(remedy_stack):
    """VolumeSizeInGB 1 and an archive whose weights unpack to 1.2 GiB: SageMaker's "model data archive is too
    large", no container ever started; the volume is sized from what diagnose read of the archive."""
    scenario = STARTUP_FAILURES["archive-too-large"]
    seeded, summary, run_dir, aws = _fix(remedy_stack, "archive-too-large")
    assert seeded["status"] == "Failed" and summary.status == "passed", json.dumps(summary.to_dict(), indent=1)
    v = read_record(run_dir, "diagnose")["verdict"]
    assert v["cause"] == "model-archive-too-large", v
    [r] = v["fix"]["remedies"]
    assert (r["field"], r["before"]) == (remedies.VOLUME, 1) and r["sized_from"]["unpacked_bytes"] >= 1229 * 2**20
    assert r["after"] == 8  # ceil(1.2 GiB × 3 copies) + 4
    assert read_record(run_dir, "rebuild_archive")["status"] == "unchanged"
    deployed, cfg = _served(aws, scenario, run_dir)
    assert cfg["ProductionVariants"][0][remedies.VOLUME] == 8


def test_an_endpoint_without_network_gets_its_wheels_in_the_archive(remedy_stack):
    """EnableNetworkIsolation: the container's pip reaches no index (the stack runs it with no network); diagnose
    fetches here what pip installs in the image's environment, step 2 puts the wheels under code/wheels/ with
    requirements.txt installing from there only, and the fixed model is as isolated as the broken one."""
    import io
    import tarfile

    scenario = STARTUP_FAILURES["no-network"]
    seeded, summary, run_dir, aws = _fix(remedy_stack, "no-network")
    assert summary.status == "passed", json.dumps(summary.to_dict(), indent=1)
    v = read_record(run_dir, "diagnose")["verdict"]
    assert v["cause"] == "requirements-unreachable" and v["confidence"] == "high", v
    [r] = [x for x in v["fix"]["remedies"] if x["cause"] == "requirements-unreachable"]
    assert r["after"] == ["tabulate-0.9.0-py3-none-any.whl"] and r["sized_from"]["endpoint_reach"] == "no"
    assert v["fix"]["requirements"]["text"].startswith("--no-index\n--find-links wheels\n")
    rebuilt = read_record(run_dir, "rebuild_archive")
    assert rebuilt["status"] == "passed" and rebuilt["target_uri"] != seeded["model_data"]
    deployed, cfg = _served(aws, scenario, run_dir)
    sm, s3 = aws.client("sagemaker"), aws.client("s3")
    model = sm.describe_model(ModelName=cfg["ProductionVariants"][0]["ModelName"])
    assert model["EnableNetworkIsolation"] is True  # the fix does not open the network
    bucket, key = model["PrimaryContainer"]["ModelDataUrl"][5:].split("/", 1)
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        names = set(tar.getnames())
        req = tar.extractfile("code/requirements.txt").read().decode()
    assert "code/wheels/tabulate-0.9.0-py3-none-any.whl" in names and "tabulate==0.9.0" in req
    pages = aws.client("logs").get_paginator("filter_log_events").paginate(
        logGroupName=f"/aws/sagemaker/Endpoints/{scenario.endpoint}")
    lines = [e["message"] for page in pages for e in page["events"]]
    assert any("No matching distribution found for tabulate" in x for x in lines)  # the broken container's pip
    assert any("Processing" in x and "tabulate-0.9.0-py3-none-any.whl" in x for x in lines)  # the fixed one's


def test_weights_model_fn_downloads_go_into_the_archive_from_the_copy_the_user_points_at(remedy_stack):
    """An isolated model whose model_fn downloads its checkpoint with torch.hub: diagnose names the download the
    endpoint cannot make, fetches the copy params point at (S3), step 2 puts it where torch.hub looks first and
    deploy sets TORCH_HOME there; the fixed model is still isolated and loads the checkpoint with no network."""
    import io
    import tarfile

    scenario = STARTUP_FAILURES["weights-no-route"]
    seeded, summary, run_dir, aws = _fix(remedy_stack, "weights-no-route")
    assert summary.status == "passed", json.dumps(summary.to_dict(), indent=1)
    v = read_record(run_dir, "diagnose")["verdict"]
    assert v["cause"] == "network-unreachable" and v["confidence"] == "high", v  # the container's URLError
    by_field = {r["field"]: r for r in v["fix"]["remedies"]}
    assert by_field["torch-home/"]["after"] == ["torch-home/hub/checkpoints/offset-net-5c1e2f3a.pth"]
    assert by_field["TORCH_HOME"]["after"] == "/opt/ml/model/torch-home"
    deployed, cfg = _served(aws, scenario, run_dir)
    sm, s3 = aws.client("sagemaker"), aws.client("s3")
    model = sm.describe_model(ModelName=cfg["ProductionVariants"][0]["ModelName"])
    assert model["EnableNetworkIsolation"] is True  # the fix does not open the network
    assert model["PrimaryContainer"]["Environment"]["TORCH_HOME"] == "/opt/ml/model/torch-home"
    bucket, key = model["PrimaryContainer"]["ModelDataUrl"][5:].split("/", 1)
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        got = tar.extractfile("torch-home/hub/checkpoints/offset-net-5c1e2f3a.pth").read()
    copy = s3.get_object(Bucket=BUCKET, Key="weights/offset-net-5c1e2f3a.pth")["Body"].read()
    assert got == copy
    pages = aws.client("logs").get_paginator("filter_log_events").paginate(
        logGroupName=f"/aws/sagemaker/Endpoints/{scenario.endpoint}")
    assert any("URLError" in e["message"] for page in pages for e in page["events"])  # the broken container's


def test_a_model_larger_than_its_instance_moves_to_the_smallest_type_that_holds_it(remedy_stack):
    scenario = STARTUP_FAILURES["out-of-memory"]
    seeded, summary, run_dir, aws = _fix(remedy_stack, "out-of-memory")
    assert summary.status == "passed", json.dumps(summary.to_dict(), indent=1)
    v = read_record(run_dir, "diagnose")["verdict"]
    assert v["cause"] == "out-of-memory" and v["confidence"] == "high", v
    [r] = v["fix"]["remedies"]
    assert (r["where"], r["field"], r["before"], r["after"]) == ("endpoint-config", "InstanceType", "ml.t2.medium",
                                                                 "ml.t2.large")
    assert r["sized_from"]["peak_rss_mb"] > 5 * 1024  # the load check's measured peak: the 5 GiB model
    assert read_record(run_dir, "rebuild_archive")["status"] == "unchanged"
    deployed, cfg = _served(aws, scenario, run_dir)
    assert cfg["ProductionVariants"][0]["InstanceType"] == "ml.t2.large"


def test_a_requirements_build_past_the_health_check_gets_a_window_sized_from_the_install(remedy_stack):
    """A source-only requirement builds for 80 s; the toolkit installs before the model server starts, so /ping
    is not answered within the variant's 60 s and the stack fails the endpoint on the ping health check. The load
    check measures the install with the import and model_fn, and the health-check window is sized from all three."""
    scenario = STARTUP_FAILURES["slow-install"]
    seeded, summary, run_dir, aws = _fix(remedy_stack, "slow-install")
    assert seeded["status"] == "Failed" and summary.status == "passed", json.dumps(summary.to_dict(), indent=1)
    diag = read_record(run_dir, "diagnose")
    assert "ping health check" in diag["endpoint"]["failure_reason"]
    assert diag["load_check"]["ok"] and diag["load_check"]["install_seconds"] >= 80, diag["load_check"]
    v = diag["verdict"]
    assert v["cause"] == "startup-health-check-timeout" and v["confidence"] == "high", v
    [r] = v["fix"]["remedies"]
    assert (r["where"], r["field"], r["before"]) == ("endpoint-config", remedies.HEALTH_CHECK, 60)
    took = r["sized_from"]["startup_seconds"]
    assert took >= r["sized_from"]["install_seconds"] >= 80 and r["after"] >= 2 * took + 60
    assert read_record(run_dir, "rebuild_archive")["status"] == "unchanged"
    deployed, cfg = _served(aws, scenario, run_dir)
    assert cfg["ProductionVariants"][0][remedies.HEALTH_CHECK] == r["after"]
    assert f"+ ProductionVariants[0].{remedies.HEALTH_CHECK}: {r['after']}" in deployed["plan"]["remedy_diff"]


def test_two_causes_one_after_the_other_are_fixed_by_one_deploy(remedy_stack):
    """pip fails on a pin first (all the endpoint's logs show); with the pin dropped the 5 GiB model would then be
    killed on its 4 GiB instance. The load check with the fix laid in measures that second cause, and one deploy
    carries the rewritten requirements and the larger instance together."""
    scenario = STARTUP_FAILURES["pin-then-memory"]
    seeded, summary, run_dir, aws = _fix(remedy_stack, "pin-then-memory")
    assert summary.status == "passed", json.dumps(summary.to_dict(), indent=1)
    v = read_record(run_dir, "diagnose")["verdict"]
    assert v["cause"] == "requirements-install-failed", v
    assert v["fix"]["requirements"]["lines"] == ["numpy==1.0.99"], v["fix"]
    assert v["after_fix"]["summary"].startswith("with the fix laid in, the model loads"), v["after_fix"]
    [nxt] = [c for c in v["causes"] if c.get("next")]
    assert nxt["code"] == "out-of-memory" and "ml.t2.medium" in nxt["summary"], v["causes"]
    by_field = {r["field"]: r for r in v["fix"]["remedies"]}
    assert set(by_field) == {"InstanceType", "code/requirements.txt"}, by_field
    assert by_field["InstanceType"]["after"] == "ml.t2.large" and by_field["InstanceType"]["sized_from"][
        "peak_rss_mb"] > 5 * 1024
    rebuilt = read_record(run_dir, "rebuild_archive")
    assert rebuilt["status"] == "passed" and rebuilt["target_uri"] != seeded["model_data"]
    deployed, cfg = _served(aws, scenario, run_dir)
    assert cfg["ProductionVariants"][0]["InstanceType"] == "ml.t2.large"
    model = aws.client("sagemaker").describe_model(ModelName=cfg["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == rebuilt["target_uri"]  # the rewritten requirements


def test_an_update_of_a_failed_endpoint_that_fails_again_leaves_it_failed(remedy_stack):
    """Nothing serves on a Failed endpoint: a failing update cannot fall back on a previous fleet (the stack said
    InService with nothing behind it before)."""
    import dataclasses
    import time

    from endpoint_runbook.local import scenarios
    from endpoint_runbook.local.startup_scenarios import seed_startup_failure

    broken = dataclasses.replace(STARTUP_FAILURES["private-package"], name="failed-twice")
    seed_startup_failure(scenarios._clients(remedy_stack["url"]), broken)  # returns once pip's failure is logged
    sm = Aws(AwsParams(region="ap-south-1", endpoint_url=remedy_stack["url"])).client("sagemaker")
    deadline = time.monotonic() + 120  # the stack marks it Failed once the exited container's reason is in
    while sm.describe_endpoint(EndpointName=broken.endpoint)["EndpointStatus"] == "Creating" and \
            time.monotonic() < deadline:
        time.sleep(1)
    assert sm.describe_endpoint(EndpointName=broken.endpoint)["EndpointStatus"] == "Failed"
    sm.create_endpoint_config(EndpointConfigName="failed-twice-config-2", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": broken.model, "InitialInstanceCount": 1,
        "InstanceType": broken.instance_type}])
    sm.update_endpoint(EndpointName=broken.endpoint, EndpointConfigName="failed-twice-config-2")
    deadline = time.monotonic() + 300
    d = sm.describe_endpoint(EndpointName=broken.endpoint)
    while d["EndpointStatus"] == "Updating" and time.monotonic() < deadline:
        time.sleep(2)
        d = sm.describe_endpoint(EndpointName=broken.endpoint)
    assert d["EndpointStatus"] == "Failed" and "ping health check" in d["FailureReason"], d


@pytest.fixture(scope="module")
def slow_link_stack(tmp_path_factory):
    """A stack whose instances get their model data from S3 at the download-timeout scenario's rate."""
    from endpoint_runbook.local import scenarios

    link = STARTUP_FAILURES["download-timeout"].download_bandwidth
    with kept_environ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), \
            running_stack(tmp_path_factory, "slow-link-stack", startup_timeout=300,
                          model_download_bandwidth=link) as info:
        yield {"url": info.url, "tmp": tmp_path_factory, "seed": scenarios.seed}


def _archive_size(diag):
    return diag["archive"]["summary"]["compressed_bytes"]


def test_model_data_past_its_download_timeout_gets_a_timeout_sized_from_the_failure(slow_link_stack):
    """16 MB at 200 kB/s take 80 s where the variant allows 60: the stack stops the download at the deadline, no
    container starts, the endpoint fails. Diagnose tells it by the time to failure (no container log, failed past the
    variant's timeout), sizes the new timeout from the rate that failure bounds, and deploy applies it in place with
    the archive as it was."""
    scenario = STARTUP_FAILURES["download-timeout"]
    seeded, summary, run_dir, aws = _fix(slow_link_stack, "download-timeout")
    assert summary.status == "passed", json.dumps(summary.to_dict(), indent=1)
    diag = read_record(run_dir, "diagnose")
    assert diag["endpoint"]["status"] == "Failed" and DOWNLOAD in diag["endpoint"]["failure_reason"]
    assert diag["logs"]["cause"]["seen_by"] == "FailureReason"  # no container ever logged
    v = diag["verdict"]
    assert v["cause"] == "model-download-timeout" and v["confidence"] == "high", v
    assert any("after it was created and no container ever logged" in e for e in v["evidence"]), v["evidence"]
    # the time alone tells it, whatever the FailureReason's words: read as if no signature had matched them
    facts = EndpointFacts(**{k: x for k, x in diag["endpoint"].items() if k != "program"})
    late = remedies.download_timed_out(facts, log_cause="no-logs", archive_bytes=_archive_size(diag))
    assert late is not None and late["elapsed_seconds"] >= 60, diag["endpoint"]
    [r] = v["fix"]["remedies"]
    assert (r["where"], r["field"], r["before"]) == ("endpoint-config", DOWNLOAD, 60)
    # 16 MB not there in 60 s: at most 0.27 MB/s, three times the 60 s
    assert r["after"] == 180 and r["sized_from"]["archive_bytes"] > 16_000_000
    assert read_record(run_dir, "rebuild_archive")["status"] == "unchanged"
    deployed, cfg = _served(aws, scenario, run_dir)
    assert cfg["ProductionVariants"][0][DOWNLOAD] == 180
    diff = deployed["plan"]["remedy_diff"]
    assert f"- ProductionVariants[0].{DOWNLOAD}: 60" in diff and f"+ ProductionVariants[0].{DOWNLOAD}: 180" in diff, diff
    model = aws.client("sagemaker").describe_model(ModelName=cfg["ProductionVariants"][0]["ModelName"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == seeded["model_data"]  # the archive as it was

