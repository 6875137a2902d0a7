"""The params file and the notebooks' parameters cells: one schema, checked before any AWS call."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import papermill
import pytest
import yaml
from endpoint_runbook.errors import InputError
from endpoint_runbook.params import NOTEBOOKS, SCAN, load_params, notebook_parameters, validate
from endpoint_runbook.runner import parse_steps, run_chain

ROOT = Path(__file__).resolve().parents[1]
GOOD = {"endpoint_name": "ep", "aws": {"region": "ap-south-1"}}


@pytest.mark.parametrize("name", ["local.yaml", "stygig-ap-south-1.yaml"])
def test_shipped_params_files_are_valid(name):
    steps = load_params(ROOT / "params" / name)
    assert steps["diagnose"]["endpoint_name"] == "stygig-async-endpoint-20251115-101546"
    assert all(Path(r).is_absolute() for r in steps["diagnose"]["source_roots"])


@pytest.mark.parametrize("raw, code, named", [
    ({**GOOD, "diagnse": {}}, "unknown-key", "diagnose"),
    ({**GOOD, "deploy": {"wait_timout": 3}}, "unknown-key", "deploy.wait_timout"),
    ({**GOOD, "aws": {"regoin": "x"}}, "unknown-key", "aws.regoin"),
    ({**GOOD, "deploy": {"wait_timeout": "3"}}, "bad-type", "deploy.wait_timeout"),
    ({**GOOD, "cleanup": {"dry_run": "no"}}, "bad-type", "cleanup.dry_run"),
    ({**GOOD, "verify": {"count": True}}, "bad-type", "verify.count"),
    ({"aws": {"region": "ap-south-1"}}, "missing-value", "endpoint_name"),
    ({**GOOD, "aws": {"region": "ap-south-1", "profile": "AKIAABCDEFGHIJKLMNOP"}}, "secret-in-params", "secrets"),
])
def test_bad_params_are_rejected_with_the_key_named(raw, code, named):
    with pytest.raises(InputError) as e:
        validate(raw)
    assert e.value.code == code
    assert named in str(e.value)


def test_runner_rejects_bad_params_before_any_aws_call(tmp_path):
    bad = tmp_path / "params" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text(yaml.safe_dump({**GOOD, "aws": {"endpoint_url": "http://127.0.0.1:9"}, "verify": {"inputz": []}}))
    with pytest.raises(InputError, match="verify.inputz"):
        run_chain(bad, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    r = subprocess.run([sys.executable, "-m", "endpoint_runbook.cli", "run", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "verify.inputz" in r.stderr and "Did you mean 'inputs'" in r.stderr


def test_steps_spec():
    assert parse_steps("1,deploy") == ["diagnose", "deploy"]
    assert parse_steps(None)[-1] == "cleanup"
    with pytest.raises(InputError):
        parse_steps("deploy,verfy")


def _parameters_cell(path: Path) -> dict[str, object]:
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{path.name}: exactly one parameters cell"
    tree = ast.parse("".join(cells[0]["source"]))
    return {t.targets[0].id: ast.literal_eval(t.value) for t in tree.body if isinstance(t, ast.Assign)}


@pytest.mark.parametrize("step", list(NOTEBOOKS))
def test_notebook_parameters_match_the_schema(step, tmp_path):
    path = ROOT / "notebooks" / NOTEBOOKS[step]
    declared = _parameters_cell(path)
    schema = notebook_parameters(step)
    assert list(declared) == list(schema)
    assert all(declared[k] == p.default for k, p in schema.items())
    # papermill injects the runner's values (prepare_only: nothing executes); the scan is no step of the chain.
    values = (dict(load_params(ROOT / "params" / "local.yaml")[step], run_dir=str(tmp_path)) if step != SCAN
              else {k: p.default for k, p in schema.items()} | {"regions": ["eu-west-1"]})
    out = papermill.execute_notebook(str(path), str(tmp_path / "out.ipynb"), parameters=values, prepare_only=True,
                                     kernel_name="python3")
    injected = [c for c in out.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected
    tree = ast.parse(injected[0].source)
    got = {t.targets[0].id: ast.literal_eval(t.value) for t in tree.body if isinstance(t, ast.Assign)}
    assert got == values


def test_notebooks_are_generated_and_stripped():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_notebooks.py"), "--check"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        nb = json.loads(path.read_text())
        for c in nb["cells"]:
            assert not c.get("outputs") and not c.get("execution_count"), path.name
            assert "sys.path" not in "".join(c["source"]), f"{path.name}: notebooks import the installed package"


@pytest.mark.parametrize("step", list(NOTEBOOKS))
def test_every_step_parameter_is_used_by_the_notebook(step):
    """A key in the schema that no code cell reads would be accepted and silently ignored."""
    nb = json.loads((ROOT / "notebooks" / NOTEBOOKS[step]).read_text())
    names = {n.id for c in nb["cells"] if c["cell_type"] == "code"
             and "parameters" not in c.get("metadata", {}).get("tags", [])
             for n in ast.walk(ast.parse("".join(c["source"]))) if isinstance(n, ast.Name)}
    from endpoint_runbook.params import COMMON, SCAN_KEYS, STEP_KEYS

    keys = SCAN_KEYS if step == SCAN else {**COMMON, **STEP_KEYS[step]}
    assert set(keys) - names == set()


def _typical(p) -> object:
    """A value of the parameter's type that is not its default (so a conversion that drops it would show)."""
    t = p.types[0]
    return {str: "some-value", int: 7, float: 2.5, bool: not bool(p.default), list: ["a", "b"],
            dict: {"K": "v"}}[t]


def _as_job_string(v: object) -> str:
    """How a SageMaker notebook job passes a value: always a string."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(map(str, v)) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {x}" for k, x in v.items()) + "}"
    return str(v)


@pytest.mark.parametrize("step", list(NOTEBOOKS))
def test_every_parameter_of_every_notebook_converts_from_a_job_string(step):
    """00..05: each parameter given as a notebook job gives it (a string) comes back as the schema types it;
    "null" leaves it unset (its default)."""
    from endpoint_runbook.params import notebook_values

    schema = notebook_parameters(step)
    typed = {k: _typical(p) for k, p in schema.items()}
    assert notebook_values(step, {k: _as_job_string(v) for k, v in typed.items()}) == typed
    required = {k: typed[k] for k, p in schema.items() if p.required}
    nulls = notebook_values(step, {k: "null" for k in schema} | required)
    assert nulls == {k: (typed[k] if p.required else p.default) for k, p in schema.items()}
    # typed values (the runner's, papermill's -p) pass through as they are
    assert notebook_values(step, typed) == typed


@pytest.mark.parametrize("key, text, fragment", [
    ("load_check", "maybe", "load_check must be true or false"),
    ("max_log_events", "20k", "max_log_events must be int"),
    ("log_window_minutes", "an hour", "log_window_minutes must be float"),
    ("source_roots", "{a: 1}", "source_roots must be a list"),
    ("source_roots", "[unclosed", "source_roots must be a list"),
    ("endpoint_name", "null", "endpoint_name must be str"),
])
def test_a_string_that_does_not_convert_names_its_key(key, text, fragment):
    from endpoint_runbook.params import notebook_values

    with pytest.raises(InputError, match=fragment) as e:
        notebook_values("diagnose", {"endpoint_name": "ep", key: text})
    assert e.value.code in ("bad-type", "missing-value")


def test_job_strings_for_numbers_lists_and_mappings():
    from endpoint_runbook.params import notebook_values

    v = notebook_values("deploy", {"wait_timeout": "60", "environment": '{"A": "1", B: two}',
                                   "instance_count": "None", "mode": "null"})
    assert v["wait_timeout"] == 60 and v["environment"] == {"A": "1", "B": "two"} and v["instance_count"] is None
    assert v["mode"] is None
    v = notebook_values("verify", {"replay_window_minutes": "90", "inputs": "s3://b/a.png, s3://b/b.png"})
    assert v["replay_window_minutes"] == 90 and v["inputs"] == ["s3://b/a.png", "s3://b/b.png"]
    assert notebook_values("cleanup", {"confirm": "null"})["confirm"] == ""  # unset: the default, not "null"
