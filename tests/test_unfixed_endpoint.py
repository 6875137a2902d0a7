"""A tiny crash-looping endpoint on the shared local stack, and a chain that does not fix it:

- stopped after step 2 (nothing deployed), cleanup's dry run says no fix serves and the confirmed delete is refused;
- an in-place update whose new container starts but whose smoke request the model rejects: the step's error quotes
  only the new container's lines (with when they were logged), never the old container's import error.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from endpoint_runbook import logs, records
from endpoint_runbook.errors import CheckFailed
from endpoint_runbook.steps import cleanup as cleanup_step
from endpoint_runbook.steps import deploy
from test_deploy import diagnose_record_from
from tinymodel import World, tiny_archive

pytestmark = pytest.mark.slow
CRASH = "No module named 'tinypkg'"


def _logged_text(aws: Any, name: str) -> str:
    read = logs.read_endpoint_logs(aws.client("logs"), name, start=dt.timedelta(hours=1))
    return "\n".join(e.message for e in read.events)


@pytest.fixture(scope="module")
def broken(local_stack, tmp_path_factory) -> dict[str, Any]:
    """The crash-looping endpoint (its log already holds the import error) and a run dir whose chain stopped
    after step 2: the diagnosis and the rebuilt archive, nothing deployed."""
    from endpoint_runbook.aws import Aws, AwsParams

    aws = Aws(AwsParams(region="ap-south-1", endpoint_url=local_stack.url, max_attempts=3))
    world = World(aws)
    iam = aws.client("iam")
    try:  # the tiny models' execution role, which deploy's preflight looks up
        iam.create_role(RoleName="tiny", AssumeRolePolicyDocument="{}")
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    name = f"tiny-unfixed-{world.tag}"
    world.deploy(name, world.put("model/broken.tar.gz", tiny_archive(with_package=False)))
    assert world.wait_status(name)["EndpointStatus"] == "InService"
    deadline = time.monotonic() + 90
    while CRASH not in _logged_text(aws, name) and time.monotonic() < deadline:
        time.sleep(1)
    assert CRASH in _logged_text(aws, name)
    fixed = world.put("model/fixed.tar.gz", tiny_archive(with_package=True))
    run_dir = str(tmp_path_factory.mktemp("unfixed-run"))
    records.write_record(run_dir, "diagnose", diagnose_record_from(world.sm, name))
    records.write_record(run_dir, "rebuild_archive", {"status": "passed", "target_uri": fixed})
    yield {"aws": aws, "world": world, "name": name, "run_dir": run_dir}
    world.sm.delete_endpoint(EndpointName=name)


def test_cleanup_after_a_chain_that_deployed_nothing_refuses_the_only_endpoint(broken):
    aws, name, run_dir, sm = broken["aws"], broken["name"], broken["run_dir"], broken["world"].sm
    dry = cleanup_step.run(aws, run_dir=run_dir, recent_minutes=0, progress=lambda _m: None)
    ep = next(i for i in dry.plan.items if i.kind == "endpoint")
    assert (ep.name, ep.action, ep.code) == (name, "refuse", "no-fix-serving") and dry.plan.blocked
    assert "Deploy and verify the fix first (steps 3 and 4)" in ep.reason
    assert any(n.startswith(f"No fix is serving: {name}") for n in dry.plan.notes)
    with pytest.raises(CheckFailed) as e:
        cleanup_step.run(aws, run_dir=run_dir, confirm=name, dry_run=False, recent_minutes=0, progress=lambda _m: None)
    assert e.value.code == "cleanup-blocked"
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    assert sm.describe_endpoint_config(EndpointConfigName=name) and sm.describe_model(ModelName=name)
    rec = records.read_record(run_dir, "cleanup")
    assert rec["status"] == "blocked" and rec["refused"] == [f"endpoint {name}"] and not rec["deleted"]


def test_a_failed_smoke_after_an_in_place_update_quotes_only_the_new_container(broken):
    aws, name, run_dir, world = broken["aws"], broken["name"], broken["run_dir"], broken["world"]
    rejected = world.put("in/picture.png", b"\x89PNG\r\n\x1a\n")  # input_fn takes application/json only
    with pytest.raises(CheckFailed) as e:
        deploy.run(aws, run_dir=run_dir, mode="in-place", name_prefix=f"tinyfix{world.tag}", smoke_input=rejected,
                   poll_seconds=1.0, wait_timeout=240, smoke_timeout=120, progress=lambda _m: None)
    rec = records.read_record(run_dir, "deploy")
    assert e.value.code == "smoke-failed" and rec["mode"] == "in-place" and rec["actions"]["endpoint"] == "updated"
    window, ev = rec["update_window"], rec["log_evidence"]
    old = window["old_streams"]
    assert old and all(s.startswith("AllTraffic/i-") for s in old)
    # The whole log still names the old container's import error: what the step used to quote.
    everything = logs.analyze(logs.read_endpoint_logs(aws.client("logs"), name, start=dt.timedelta(hours=1)))
    assert everything.cause.code == "missing-module"
    # The step read the new config's container only, and says when each line was logged.
    assert set(old) <= {"/".join(s.split("/")[:2]) for s in ev["scope"]["left_out_streams"]}
    assert ev["scope"]["config"] == rec["endpoint_config_name"] and ev["read"]["events_read"] > 0
    assert ev["cause"]["code"] == "invocation-error"  # the 500 the new container logged (the reason is the response's)
    assert "expected application/json" in rec["failure_reason"]
    started = dt.datetime.fromisoformat(window["started_at"])
    assert ev["cause"]["logged"]
    for line in ev["cause"]["logged"]:
        assert "/".join(line["stream"].split("/")[:2]) not in old
        assert dt.datetime.fromisoformat(line["first_seen"]) >= started - dt.timedelta(seconds=2)
    message = str(e.value)
    assert "tinypkg" not in message and "expected application/json" in message
    assert "(logged " in message and f"read from the containers of {rec['endpoint_config_name']} only" in message
    assert not any("tinypkg" in x for x in ev["cause"]["evidence"])
