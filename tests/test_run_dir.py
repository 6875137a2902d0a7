"""Chaining without the runner: which run a notebook continues when its run_dir is unset."""

from __future__ import annotations

import json

import pytest
from endpoint_runbook.errors import InputError
from endpoint_runbook.records import RUN_FILE, resolve_run, write_record


def test_step_one_starts_a_run_and_later_steps_continue_the_newest_of_their_endpoint(tmp_path):
    a1 = resolve_run(None, step="diagnose", endpoint_name="ep-a", root=tmp_path)
    assert a1.how == "started" and a1.found == {}
    assert json.loads((tmp_path / a1.run_id / RUN_FILE).read_text())["endpoint_name"] == "ep-a"
    write_record(a1.run_dir, "diagnose", {"endpoint": {"name": "ep-a"}})
    a2 = resolve_run(None, step="diagnose", endpoint_name="ep-a", root=tmp_path)  # same second: a new dir
    assert a2.run_dir != a1.run_dir and a2.how == "started"
    b = resolve_run(None, step="diagnose", endpoint_name="ep-b", root=tmp_path)

    later = resolve_run(None, step="rebuild_archive", endpoint_name="ep-a", root=tmp_path)
    assert later.how == "continued" and later.run_dir == a2.run_dir and later.found == {}
    write_record(a2.run_dir, "diagnose", {"endpoint": {"name": "ep-a"}})
    write_record(a2.run_dir, "rebuild_archive", {"status": "passed"})
    dep = resolve_run(None, step="deploy", endpoint_name="ep-a", root=tmp_path)
    assert dep.run_dir == a2.run_dir and sorted(dep.found) == ["diagnose", "rebuild_archive"]
    # The newest run of another endpoint is not taken; no endpoint named: the newest run of any.
    assert resolve_run(None, step="deploy", endpoint_name="ep-b", root=tmp_path).run_dir == b.run_dir
    assert resolve_run(None, step="verify", root=tmp_path).run_dir == b.run_dir
    # The user names an earlier run by its id, or gives a folder.
    named = resolve_run(a1.run_id, step="cleanup", root=tmp_path)
    assert named.how == "named" and named.run_dir == a1.run_dir and list(named.found) == ["diagnose"]
    given = resolve_run(str(tmp_path / "elsewhere"), step="verify", root=tmp_path)
    assert given.how == "given" and (tmp_path / "elsewhere").is_dir()


def test_a_later_step_with_no_run_of_its_endpoint_starts_one(tmp_path):
    resolve_run(None, step="diagnose", endpoint_name="ep-a", root=tmp_path)
    ctx = resolve_run(None, step="verify", endpoint_name="ep-z", root=tmp_path)
    assert ctx.how == "started" and ctx.endpoint_name == "ep-z" and ctx.found == {}
    with pytest.raises(InputError):
        resolve_run(None, step="nope", root=tmp_path)


def test_a_runner_run_is_found_by_its_diagnose_record(tmp_path):
    run = tmp_path / "20250101-000000"
    write_record(run, "diagnose", {"endpoint": {"name": "ep-r"}})  # the runner writes no run.json
    ctx = resolve_run(None, step="rebuild_archive", endpoint_name="ep-r", root=tmp_path)
    assert ctx.run_dir == str(run) and ctx.how == "continued" and list(ctx.found) == ["diagnose"]
