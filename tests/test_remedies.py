"""Remedies per start-up failure (endpoint.remedies): what is proposed, sized from what, and never where the evidence
says the cause is another one; params turning them off or setting them; the diff deploy shows."""

from __future__ import annotations

import pytest
from endpoint_runbook.endpoint import remedies
from endpoint_runbook.errors import InputError
from endpoint_runbook.serving.loadcheck import LoadCheck
from endpoint_runbook.step_records import EndpointFacts

PING = ("The primary container for production variant AllTraffic did not pass the ping health check. Please check "
        "CloudWatch logs for this endpoint.")


def _facts(**kw):
    base = dict(name="ep", status="Failed", failure_reason=PING, instance_type="ml.m5.large",
                environment={"SAGEMAKER_PROGRAM": "inference.py"},
                variant_config={"VariantName": "AllTraffic", remedies.HEALTH_CHECK: 60})
    return EndpointFacts(**{**base, **kw})


def _loaded(seconds: float) -> LoadCheck:
    return LoadCheck(ok=True, stage="done", import_seconds=0.4, model_fn_seconds=seconds, peak_rss_mb=900)


def test_a_slow_load_gets_a_health_check_window_sized_from_the_measured_load():
    found, notes = remedies.propose(_facts(), "startup-health-check-timeout", lc=_loaded(70.0))
    assert notes == []
    [r] = found
    assert (r.where, r.field, r.before) == ("endpoint-config", remedies.HEALTH_CHECK, 60)
    # 2 × 70.4 s + 60 s = 200.8 s → whole minutes: 240
    assert r.after == 240
    assert r.sized_from == {"startup_seconds": 70.4, "window_seconds": 60.0}
    assert "70.4 s" in r.why


def test_no_health_check_timeout_is_raised_for_a_model_that_crashes():
    crashed = LoadCheck(ok=False, stage="model_fn", error_type="RuntimeError", error="boom", model_fn_seconds=None)
    found, notes = remedies.propose(_facts(), "startup-health-check-timeout", lc=crashed)
    assert found == []
    assert "crashes" in notes[0]
    assert remedies.slow_start(_facts(), crashed) is None


def test_a_fast_load_does_not_explain_a_failed_health_check():
    assert remedies.slow_start(_facts(), _loaded(3.0)) is None
    found, _ = remedies.propose(_facts(), "startup-health-check-timeout", lc=_loaded(3.0))
    assert found == []


def test_the_window_is_the_default_when_the_variant_sets_none():
    facts = _facts(variant_config={"VariantName": "AllTraffic"})
    assert remedies.slow_start(facts, _loaded(70.0)) is None  # 70 s of a 600 s default: not the reason
    slow = remedies.slow_start(facts, _loaded(400.0))
    assert slow is not None and slow["window_set"] is False and slow["window_seconds"] == 600
    [r] = remedies.propose(facts, "startup-health-check-timeout", lc=_loaded(400.0))[0]
    assert r.before is None and r.after == 900


def test_a_load_past_the_largest_window_is_not_remedied_by_the_window():
    found, notes = remedies.propose(_facts(variant_config={remedies.HEALTH_CHECK: 3600}),
                                    "startup-health-check-timeout", lc=_loaded(3500.0))
    assert found == [] and "largest" in notes[0]


def test_the_one_script_with_handlers_becomes_the_entry_script():
    sources = {"code/inference.py": b"import json\n\ndef model_fn(model_dir):\n    return 1\n",
               "code/helpers.py": b"def util():\n    pass\n", "code/requirements.txt": b"six\n"}
    found, _ = remedies.propose(_facts(environment={"SAGEMAKER_PROGRAM": "serve.py"}), "missing-entry-script",
                                sources=sources)
    [r] = found
    assert (r.where, r.field, r.before, r.after) == ("model", "SAGEMAKER_PROGRAM", "serve.py", "inference.py")


def test_two_candidate_scripts_are_named_not_chosen():
    sources = {"code/a.py": b"def model_fn(d):\n    pass\n", "code/b.py": b"def predict_fn(x, m):\n    pass\n"}
    found, notes = remedies.propose(_facts(environment={"SAGEMAKER_PROGRAM": "serve.py"}), "missing-entry-script",
                                    sources=sources)
    assert found == [] and "a.py, b.py" in notes[0]


def test_several_workers_each_loading_the_model_drop_to_one_when_one_fits():
    from endpoint_runbook.endpoint import instances

    found, _ = remedies.propose(_facts(environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "4"}), "out-of-memory",
                                lc=_loaded(5.0), instance_memory=instances)
    [r] = found
    assert (r.field, r.before, r.after) == ("SAGEMAKER_MODEL_SERVER_WORKERS", "4", "1")
    assert r.sized_from == {"peak_rss_mb": 900, "workers": 4, "instance_gib": 8}


def test_a_worker_larger_than_the_instance_gets_the_smallest_type_of_its_family_that_holds_it():
    from endpoint_runbook.endpoint import instances

    lc = LoadCheck(ok=True, stage="done", model_fn_seconds=3.0, peak_rss_mb=7000)
    # 2 workers of 6.8 GiB on an 8 GiB ml.m5.large: one alone does not fit 75 % of it either
    [r] = remedies.propose(_facts(environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}), "out-of-memory", lc=lc,
                           instance_memory=instances)[0]
    assert (r.field, r.before, r.after) == ("InstanceType", "ml.m5.large", "ml.m5.2xlarge")  # 18.2 GiB needed: 32
    assert r.sized_from["need_gib"] == pytest.approx(2 * 7000 / 1024 / 0.75, abs=0.1)
    # without the table no instance is guessed
    found, notes = remedies.propose(_facts(), "out-of-memory", lc=lc)
    assert found == [] and "no instance type" in notes[0]
    # no peak measured (the check died): nothing sized
    assert remedies.propose(_facts(), "out-of-memory", lc=LoadCheck(ok=False, stage="model_fn"),
                            instance_memory=instances)[0] == []


def test_download_timeout_and_volume_are_sized_from_the_archive_and_clamped():
    [d] = remedies.propose(_facts(), "model-download-timeout", archive_bytes=20 * 10**9)[0]
    assert d.field == remedies.DOWNLOAD_TIMEOUT and d.after == 2400  # 20 GB / 25 MB/s × 3 = 2400 s
    [big] = remedies.propose(_facts(), "model-download-timeout", archive_bytes=200 * 10**9)[0]
    assert big.after == 3600
    [v] = remedies.propose(_facts(), "disk-full", archive_bytes=2**30, unpacked_bytes=10 * 2**30)[0]
    assert v.field == remedies.VOLUME and v.after == 34  # 10 GiB × 3 + 4


def _late(timeout=60, created="2026-12-02T10:00:00+00:00", failed="2026-12-02T10:01:04+00:00", **kw):
    return _facts(failure_reason="Request to service failed.", created=created, last_modified=failed,
                  variant_config={"VariantName": "AllTraffic", remedies.DOWNLOAD_TIMEOUT: timeout}, **kw)


def test_a_download_past_its_timeout_is_told_by_the_time_to_failure_not_by_the_words():
    late = remedies.download_timed_out(_late(), log_cause="no-logs", archive_bytes=16_000_000)
    assert late is not None and late["timeout_seconds"] == 60 and late["elapsed_seconds"] == 64
    assert "64 s" in late["evidence"] and "16.0 MB" in late["evidence"]
    # failed sooner than its timeout: something else failed it
    assert remedies.download_timed_out(_late(failed="2026-12-02T10:00:40+00:00"), log_cause="no-logs",
                                       archive_bytes=16_000_000) is None
    # a container logged (it started: the model data had arrived), or the variant has no timeout, or it serves
    assert remedies.download_timed_out(_late(), log_cause="model-fn-error", archive_bytes=1) is None
    assert remedies.download_timed_out(_facts(created="2026-12-02T10:00:00+00:00",
                                              last_modified="2026-12-02T11:00:00+00:00"),
                                       log_cause="no-logs", archive_bytes=1) is None
    assert remedies.download_timed_out(_late(status="InService"), log_cause="no-logs", archive_bytes=1) is None


def test_a_timeout_the_download_ran_past_bounds_the_rate_the_new_one_is_sized_for():
    # 16 MB did not arrive in 60 s: at most 0.27 MB/s, so 60 s × 3 = 180 s (not the 60 s 25 MB/s would give)
    [r] = remedies.propose(_late(), "model-download-timeout", archive_bytes=16_000_000)[0]
    assert (r.field, r.before, r.after) == (remedies.DOWNLOAD_TIMEOUT, 60, 180)
    assert r.sized_from["rate_bytes_per_s"] == 266_667 and "within 60 s" in r.why
    # a large model past a long timeout: its own size at the conservative rate when that is longer
    [r] = remedies.propose(_late(timeout=600), "model-download-timeout", archive_bytes=20 * 10**9)[0]
    assert r.after == 2400
    # already at SageMaker's largest: nothing to raise, the note says what instead
    found, notes = remedies.propose(_late(timeout=3600), "model-download-timeout", archive_bytes=200 * 10**9)
    assert found == [] and "3600" in notes[0] and "CompressionType None" in notes[0]


def test_a_volume_is_sized_from_what_model_fn_wrote_and_never_proposed_where_it_cannot_help():
    from endpoint_runbook.endpoint import instances

    wrote = LoadCheck(ok=True, stage="done", disk_written_mb=1229)  # 1.2 GiB written by model_fn (measured here)
    small = _facts(variant_config={"VariantName": "AllTraffic", remedies.VOLUME: 1})
    [v] = remedies.propose(small, "disk-full", lc=wrote, archive_bytes=2048, unpacked_bytes=4096,
                           instance_memory=instances)[0]
    assert (v.before, v.after) == (1, 6) and v.sized_from["written_mb"] == 1229  # ceil(1.2 GiB + 12 KiB) + 4
    assert "model_fn wrote 1.20 GiB" in v.why
    # already large enough for what was measured: the disk filled with something else, no remedy
    big = _facts(variant_config={"VariantName": "AllTraffic", remedies.VOLUME: 30})
    found, notes = remedies.propose(big, "disk-full", lc=wrote, unpacked_bytes=4096, instance_memory=instances)
    assert found == [] and "fits the 30 GiB volume" in notes[0]
    # NVMe instance storage: SageMaker takes no VolumeSizeInGB there
    found, notes = remedies.propose(_facts(instance_type="ml.g5.xlarge"), "disk-full", lc=wrote,
                                    instance_memory=instances)
    assert found == [] and "NVMe" in notes[0]


def test_params_turn_a_remedy_off_or_set_its_value():
    found, _ = remedies.propose(_facts(), "startup-health-check-timeout", lc=_loaded(70.0))
    off = remedies.with_params(found, {remedies.HEALTH_CHECK: "off"})
    assert off[0].enabled is False and remedies.variant_overrides(off) == {}
    assert remedies.diff_lines(off) == [f"# ProductionVariants[0].{remedies.HEALTH_CHECK}: 240 (turned off in params)"]
    set_ = remedies.with_params(found, {remedies.HEALTH_CHECK: 600, "SAGEMAKER_MODEL_SERVER_WORKERS": 1})
    assert remedies.variant_overrides(set_) == {remedies.HEALTH_CHECK: 600}
    assert remedies.environment_overrides(set_) == {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    assert found[0].after == 240  # the proposal itself is unchanged
    assert remedies.diff_lines(set_)[:2] == [f"- ProductionVariants[0].{remedies.HEALTH_CHECK}: 60",
                                              f"+ ProductionVariants[0].{remedies.HEALTH_CHECK}: 600"]


def test_a_value_outside_sagemakers_range_is_refused_before_anything_changes():
    with pytest.raises(InputError) as e:
        remedies.with_params([], {remedies.HEALTH_CHECK: 30})
    assert e.value.code == "bad-remedy" and "60 to 3600" in str(e.value)


def test_a_worker_killed_while_it_loads_gets_the_model_servers_timeout_not_the_health_check():
    facts = _facts(status="InService", failure_reason=None, variant_config={"VariantName": "AllTraffic"})
    assert remedies.slow_start(facts, _loaded(70.0)) is None  # no log evidence: nothing says a window stopped it
    found, notes = remedies.propose(facts, "startup-health-check-timeout", lc=_loaded(70.0),
                                    log_cause="startup-health-check-timeout")
    [r] = found
    assert (r.where, r.field, r.before, r.after) == ("model", remedies.SERVER_TIMEOUT, None, "240")
    assert "60 s" in r.why and notes == []
    # a load far inside the server's window is not what killed the worker
    assert remedies.propose(facts, "startup-health-check-timeout", lc=_loaded(5.0),
                            log_cause="startup-health-check-timeout")[0] == []


# ---------------------------------------------------------------------------------------------- moto: step 2 and 3


def _broken_endpoint(aws, tag: str, *, timeout_env: str | None = None):
    """A real-time endpoint on moto whose model is a plain archive, and step 1's record of it with a remedy."""
    import json as _json
    import uuid

    from endpoint_runbook.endpoint.facts import endpoint_facts

    s3, sm, iam = aws.client("s3"), aws.client("sagemaker"), aws.client("iam")
    bucket = f"rem-{tag}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    s3.put_object(Bucket=bucket, Key="m/model.tar.gz", Body=b"not read by these steps")
    role = iam.create_role(RoleName=f"r-{tag}-{uuid.uuid4().hex[:4]}", AssumeRolePolicyDocument=_json.dumps(
        {"Version": "2012-10-17", "Statement": []}))["Role"]["Arn"]
    env = {"SAGEMAKER_PROGRAM": "inference.py", **({remedies.SERVER_TIMEOUT: timeout_env} if timeout_env else {})}
    sm.create_model(ModelName=f"m-{tag}", ExecutionRoleArn=role, PrimaryContainer={
        "Image": "763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310",
        "ModelDataUrl": f"s3://{bucket}/m/model.tar.gz", "Environment": env})
    sm.create_endpoint_config(EndpointConfigName=f"c-{tag}", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": f"m-{tag}", "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1, "ContainerStartupHealthCheckTimeoutInSeconds": 60}])
    sm.create_endpoint(EndpointName=f"ep-{tag}", EndpointConfigName=f"c-{tag}")
    facts = endpoint_facts(sm, f"ep-{tag}")
    assert facts.variant_config[remedies.HEALTH_CHECK] == 60  # step 1 reads the config's own variant
    found, _ = remedies.propose(facts, "startup-health-check-timeout", lc=_loaded(70.0),
                                log_cause="startup-health-check-timeout")
    record = {"endpoint": facts.to_dict(), "model_data_url": facts.model_data_url,
              "archive": {"summary": {"sha256": "ab" * 32}},
              "verdict": {"cause": "startup-health-check-timeout"}, "fix": {"remedies": [r.to_dict() for r in found]}}
    return facts, record


def test_a_fix_of_the_config_alone_deploys_the_archive_as_it_is_with_the_remedy_as_a_diff(aws, tmp_path):
    from endpoint_runbook import records
    from endpoint_runbook.endpoint import plan as deploy_plan
    from endpoint_runbook.steps import rebuild_archive

    facts, record = _broken_endpoint(aws, "pass")
    records.write_record(tmp_path, "diagnose", record)
    rb = rebuild_archive.plan(aws, run_dir=str(tmp_path))
    assert rb.mode == "unchanged" and rb.step.target_uri == facts.model_data_url
    for sub in (rebuild_archive.build, rebuild_archive.check, rebuild_archive.upload):
        assert sub(rb).status == "unchanged"
    written = records.read_record(tmp_path, "rebuild_archive")
    assert written["status"] == "unchanged" and written["result_sha256"] == "ab" * 32
    listed = aws.client("s3").list_objects_v2(Bucket="rem-pass")["Contents"]
    assert [o["Key"] for o in listed] == ["m/model.tar.gz"]  # nothing was written

    p, findings = deploy_plan.plan(aws, run_dir=str(tmp_path))
    assert not [f for f in findings if f.severity == "error"], findings
    assert p.mode == "in-place" and p.model_data_url == facts.model_data_url
    assert p.environment[remedies.SERVER_TIMEOUT] == "240" and p.sources[f"environment.{remedies.SERVER_TIMEOUT}"] == "remedy"
    assert p.variant[remedies.HEALTH_CHECK] == 60  # the copied variant keeps its own window
    assert p.remedy_diff == [f"+ PrimaryContainer.Environment.{remedies.SERVER_TIMEOUT}: 240"]

    off, found = deploy_plan.plan(aws, run_dir=str(tmp_path), remedies={remedies.SERVER_TIMEOUT: "off"})
    assert remedies.SERVER_TIMEOUT not in off.environment and off.model_name != p.model_name
    assert off.remedy_diff == [f"# PrimaryContainer.Environment.{remedies.SERVER_TIMEOUT}: 240 (turned off in params)"]
    # every remedy off and the archive passed through: the update would deploy the broken endpoint again
    assert [f.code for f in found if f.severity == "error"] == ["nothing-changes"]
    _, yours = deploy_plan.plan(aws, run_dir=str(tmp_path), remedies={remedies.SERVER_TIMEOUT: "off"},
                                environment={"SAGEMAKER_PROGRAM": "inference.py", "OMP_NUM_THREADS": "1"})
    assert not [f for f in yours if f.severity == "error"]  # a change of your own is a change
    both, _ = deploy_plan.plan(aws, run_dir=str(tmp_path), remedies={remedies.HEALTH_CHECK: 300})
    assert both.variant[remedies.HEALTH_CHECK] == 300 and both.endpoint_config_name != p.endpoint_config_name
    assert f"- ProductionVariants[0].{remedies.HEALTH_CHECK}: 60" in both.remedy_diff


def test_the_model_servers_timeout_already_set_is_the_before_of_the_diff(aws, tmp_path):
    from endpoint_runbook import records
    from endpoint_runbook.endpoint import plan as deploy_plan

    _, record = _broken_endpoint(aws, "set", timeout_env="60")
    records.write_record(tmp_path, "diagnose", record)
    records.write_record(tmp_path, "rebuild_archive", {"target_uri": record["model_data_url"], "status": "unchanged"})
    p, _ = deploy_plan.plan(aws, run_dir=str(tmp_path))
    assert p.remedy_diff == [f"- PrimaryContainer.Environment.{remedies.SERVER_TIMEOUT}: 60",
                             f"+ PrimaryContainer.Environment.{remedies.SERVER_TIMEOUT}: 240"]


def test_no_remedy_and_no_addition_is_still_nothing_to_do_for_step_2(aws, tmp_path):
    from endpoint_runbook import records
    from endpoint_runbook.steps import rebuild_archive

    _, record = _broken_endpoint(aws, "none")
    record["fix"] = {}
    records.write_record(tmp_path, "diagnose", record)
    with pytest.raises(InputError) as e:
        rebuild_archive.plan(aws, run_dir=str(tmp_path))
    assert e.value.code == "nothing-to-add"


def test_a_model_larger_than_the_instance_is_named_from_the_measured_peak():
    from endpoint_runbook.endpoint import instances

    big = LoadCheck(ok=True, stage="done", model_fn_seconds=3.0, peak_rss_mb=5600)
    short = remedies.memory_short(_facts(instance_type="ml.t2.medium"), big, instances)
    assert short == {"peak_rss_mb": 5600, "workers": 1, "need_gib": 5.47, "instance_type": "ml.t2.medium",
                     "instance_gib": 4}
    assert remedies.memory_short(_facts(instance_type="ml.t2.large"), big, instances) is None  # it fits
    assert remedies.memory_short(_facts(instance_type="ml.unknown.large"), big, instances) is None
    crashed = LoadCheck(ok=False, stage="model_fn", peak_rss_mb=5600)
    assert remedies.memory_short(_facts(instance_type="ml.t2.medium"), crashed, instances) is None
    [r] = remedies.propose(_facts(instance_type="ml.t2.medium"), "out-of-memory", lc=big, instance_memory=instances)[0]
    assert (r.field, r.before, r.after) == ("InstanceType", "ml.t2.medium", "ml.t2.large")  # 7.3 GiB needed: 8


def test_the_profile_says_what_its_image_ships_under_any_spelling_of_the_name():
    from endpoint_runbook.serving.image_profiles import profile_for_image

    p = profile_for_image("763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310")
    assert p.ships("numpy") == "numpy>=1.26.4,<2" and p.ships("Scikit_Learn") == "scikit-learn>=1.5,<1.6"
    assert p.ships("torch") == "torch==2.1.0" and p.ships("acme-internal-features") is None


# ------------------------------------------------------------------------------------- no route to a package index

_PIP_OFFLINE = [
    "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken "
    "by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a "
    "new connection: [Errno -3] Temporary failure in name resolution')': /simple/tabulate/",
    "ERROR: Could not find a version that satisfies the requirement tabulate==0.9.0 (from versions: none)",
    "ERROR: No matching distribution found for tabulate==0.9.0"]


def _installed_here(stage: str = "done", **kw) -> LoadCheck:
    return LoadCheck(ok=stage == "done", stage=stage, mode="exact", **kw)


def test_an_index_the_endpoint_cannot_reach_is_told_from_a_pin_that_does_not_exist():
    cause = {"code": "requirements-install-failed", "evidence": _PIP_OFFLINE}
    found = remedies.index_unreachable(_facts(network_isolation=True), cause, _installed_here())
    assert found["reach"]["reach"] == "no" and found["network_lines"] == _PIP_OFFLINE[:1]
    vpc = remedies.index_unreachable(_facts(vpc_config={"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}),
                                     {"code": "requirements-install-failed", "evidence": _PIP_OFFLINE[1:]},
                                     _installed_here(stage="model_fn"))
    assert vpc["reach"]["reach"] == "vpc" and vpc["network_lines"] == [] and vpc["no_release_lines"]
    # pip fails here too (the pin does not exist): not the endpoint's network
    assert remedies.index_unreachable(_facts(network_isolation=True), cause,
                                      _installed_here(stage="requirements")) is None
    # a check that did not run is no evidence either way
    skipped = LoadCheck(ok=False, stage="skipped", skipped="no serving environment", mode="exact")
    assert remedies.index_unreachable(_facts(network_isolation=True), cause, skipped) is None
    # an install failure with no sign of the network (a build that fails) is not this cause
    built = {"code": "requirements-install-failed", "evidence": ["error: subprocess-exited-with-error"]}
    assert remedies.index_unreachable(_facts(network_isolation=True), built, _installed_here()) is None


def test_requirements_install_from_the_archives_wheels_and_reach_no_index():
    from endpoint_runbook.imports import install_offline

    raw = b"--extra-index-url https://pypi.example.internal/simple\ntabulate==0.9.0\r\nsix"
    edit = install_offline(raw, "wheels", why="no route")
    assert edit.text == "--no-index\n--find-links wheels\ntabulate==0.9.0\r\nsix\n"
    assert edit.lines == ["--extra-index-url https://pypi.example.internal/simple"] and edit.drop == []
    assert "+--no-index" in edit.diff and "-tabulate" not in edit.diff


def test_a_relative_find_links_folder_is_read_beside_the_requirements_file(tmp_path):
    from endpoint_runbook.serving.container_entry import local_links

    (tmp_path / "wheels").mkdir()
    text, dirs = local_links("--no-index\n--find-links wheels\n-f missing\ntabulate\n", tmp_path)
    assert text == f"--no-index\n--find-links {tmp_path / 'wheels'}\n-f missing\ntabulate\n"
    assert dirs == [tmp_path / "wheels"]
    assert local_links("--find-links wheels\n", None) == ("--find-links wheels\n", [])


def test_the_fixed_model_keeps_the_broken_ones_network(aws, tmp_path):
    from endpoint_runbook import records
    from endpoint_runbook.endpoint import plan as deploy_plan

    _, record = _broken_endpoint(aws, "net")
    vpc = {"Subnets": ["subnet-0a"], "SecurityGroupIds": ["sg-0b"]}
    record["endpoint"].update(network_isolation=True, vpc_config=vpc)
    records.write_record(tmp_path, "diagnose", record)
    records.write_record(tmp_path, "rebuild_archive", {"target_uri": record["model_data_url"], "status": "unchanged"})
    p, _ = deploy_plan.plan(aws, run_dir=str(tmp_path))
    assert p.model_network == {"EnableNetworkIsolation": True, "VpcConfig": vpc}
    record["endpoint"].update(network_isolation=False, vpc_config=None)
    records.write_record(tmp_path, "diagnose", record)
    assert deploy_plan.plan(aws, run_dir=str(tmp_path))[0].model_network == {}


def test_what_the_endpoint_meets_after_the_fix_is_read_from_the_load_check_with_the_fix_laid_in():
    from endpoint_runbook.endpoint import instances

    small = _facts(instance_type="ml.t2.medium", environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    big = LoadCheck(ok=True, stage="done", import_seconds=0.5, model_fn_seconds=3.0, peak_rss_mb=5300)
    [c] = remedies.after_the_fix(small, big, instances)
    assert c["cause"] == "out-of-memory" and "5300 MB" in c["summary"] and "4 GiB" in c["summary"]
    [r] = remedies.propose(small, c["cause"], lc=big, instance_memory=instances, log_cause=c["log_cause"])[0]
    assert (r.field, r.after) == ("InstanceType", "ml.t2.large")
    # a load past the model server's whole timeout is predicted; half of it (enough when the logs show the kill) not
    slow = LoadCheck(ok=True, stage="done", import_seconds=1.0, model_fn_seconds=69.0, peak_rss_mb=300)
    [c] = remedies.after_the_fix(_facts(), slow, instances)
    assert c["cause"] == "startup-health-check-timeout"
    [r] = remedies.propose(_facts(), c["cause"], lc=slow, log_cause=c["log_cause"])[0]
    assert (r.field, r.after) == (remedies.SERVER_TIMEOUT, "240")  # 2 × 70 s + 60 s, in whole minutes
    half = LoadCheck(ok=True, stage="done", import_seconds=1.0, model_fn_seconds=40.0, peak_rss_mb=300)
    assert remedies.after_the_fix(_facts(), half, instances) == []
    # a check that failed, or measured nothing, predicts nothing
    assert remedies.after_the_fix(small, LoadCheck(ok=False, stage="model_fn"), instances) == []


def test_the_requirements_install_counts_against_the_health_check_not_against_the_worker_timeout():
    # the toolkit installs code/requirements.txt before the model server starts: /ping waits for pip
    built = LoadCheck(ok=True, stage="done", import_seconds=0.5, model_fn_seconds=0.5, install_seconds=79.0)
    [r] = remedies.propose(_facts(), "startup-health-check-timeout", lc=built)[0]
    assert (r.field, r.before, r.after) == (remedies.HEALTH_CHECK, 60, 240)  # 2 × 80 s + 60 s → 240
    assert r.sized_from["install_seconds"] == 79.0 and "pip's install" in r.why
    # a worker killed by the model server's timeout: the install was over before the worker started
    found, _ = remedies.propose(_facts(failure_reason=None), "startup-health-check-timeout", lc=built,
                                log_cause="worker-timeout")
    assert found == []


def test_a_layer_keeps_how_long_its_install_took(tmp_path):
    """install_layer times pip's install and keeps the figure with the layer: a cached layer reports the first
    install's time (what a fresh instance pays), not the cache hit's."""
    import sys
    import zipfile

    from endpoint_runbook.serving.container_entry import install_layer, layer_install_seconds

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    info = "tinylayer-1.0.dist-info"
    with zipfile.ZipFile(wheels / "tinylayer-1.0-py3-none-any.whl", "w") as z:
        z.writestr("tinylayer.py", "VALUE = 7\n")
        z.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: tinylayer\nVersion: 1.0\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    req = f"--no-index\n--find-links {wheels}\ntinylayer==1.0\n"
    site = install_layer(sys.executable, req, tmp_path / "layers")
    assert (site / "tinylayer.py").is_file()  # really installed
    took = layer_install_seconds(site)
    assert took is not None and took > 0
    again = install_layer(sys.executable, req, tmp_path / "layers")  # the cache: no pip run, the same figure
    assert again == site and layer_install_seconds(again) == took
    assert layer_install_seconds(tmp_path / "nowhere" / "lib" / "python3.11" / "site-packages") is None
