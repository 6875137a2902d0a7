"""The zoo: purpose-built small archives, each asserted on check-archive's exit code and findings (quick, static)
and, for the slow ones, on diagnose's cause, sub-cause and fix placement with the real load check."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from endpoint_runbook.cli import check_archive_main
from endpoint_runbook.imports import resolve_imports
from endpoint_runbook.steps import diagnose
from test_diagnose import _deploy
from tinymodel import tar_gz

SHOP = Path(__file__).parent / "data" / "zoo" / "shop"


def shop_archive(*, with_src: bool) -> dict[str, bytes]:
    members = {"code/inference.py": (SHOP / "sagemaker" / "inference.py").read_bytes(), "embeddings.npz": b"\0" * 8}
    if with_src:
        for p in sorted((SHOP / "src").rglob("*.py")):
            members[str(p.relative_to(SHOP))] = p.read_bytes()
        members["config/settings.json"] = (SHOP / "config" / "settings.json").read_bytes()
    return members


def check(tmp_path: Path, members: dict[str, bytes], *args: str) -> tuple[int, str]:
    path = tmp_path / "model.tar.gz"
    path.write_bytes(tar_gz(members))
    return check_archive_main([str(path), *args]), str(path)


def codes(members: dict[str, bytes], severity: str | None = None) -> set[str]:
    return {f.code for f in resolve_imports(members).findings if severity is None or f.severity == severity}


LOG_AND_CONTINUE = b'''import logging
logger = logging.getLogger(__name__)
try:
    import fancy_accel
except ImportError as e:
    logger.warning("no accelerator: %s", e)
    fancy_accel = None
def model_fn(model_dir):
    return {"accel": fancy_accel is not None}
'''
SYS_EXIT = b'''import sys
try:
    import fancy_accel
except ImportError:
    print("fancy_accel is required")
    sys.exit(1)
def model_fn(model_dir):
    return 1
'''
LATENT = b'''def model_fn(model_dir):
    return 1
def export_onnx(model):
    import onnx_tools
    return onnx_tools.export(model)
'''
REQUEST_ONLY = b'''def model_fn(model_dir):
    return 1
def predict_fn(data, model):
    from zoo_post import postprocess
    return postprocess(data)
'''
MISSING_FILE = b'''import os
def model_fn(model_dir):
    with open(os.path.join(model_dir, "weights.bin"), "rb") as f:
        return f.read()
'''
OOM = b'''def model_fn(model_dir):
    return bytearray(1 << 50)  # a real allocation no machine here can satisfy
'''
UNPICKLE = b'''import os, pickle
def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.pkl"), "rb") as f:
        return pickle.load(f)
'''
# A pickle that references a class in a module the serving image does not have (saved with other versions).
OLD_PICKLE = b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x0foldlib.v1.model\x94\x8c\x05Model\x94\x93\x94."


# ---------------------------------------------------------------------------------------- static, quick


def test_shop_broken_archive_fails_the_gate(tmp_path, capsys):
    rc, _ = check(tmp_path, shop_archive(with_src=False))
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "ERROR missing-module" in out and "degraded" not in out
    r = resolve_imports(shop_archive(with_src=False))
    (f,) = [f for f in r.findings if f.code == "missing-module"]
    assert f.data["phase"] == "model_fn" and f.data["reraised_by"] == ["except Exception"]
    assert f.data["via"] == ["model_fn", "Recommender.__init__", "Recommender._init_components"]
    assert f.data["target"] == "src/shopkit/"  # the script adds /opt/ml/model/src before the import runs
    # config/settings.json is read only when os.path.exists(path) says it is there: no missing artifact (issue 22, 11)
    assert "missing-artifact" not in codes(shop_archive(with_src=False))


def test_shop_fixed_archive_passes_without_false_errors(tmp_path, capsys):
    rc, _ = check(tmp_path, shop_archive(with_src=True))
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "ERROR" not in out and "WARNING source-outside-import-path" not in out
    r = resolve_imports(shop_archive(with_src=True))
    assert r.missing_packages == [] and r.import_path == ["code", "", "src"]
    (rules,) = [i for i in r.imports if i.module == "rules"]  # the absolute fallback of a working relative import
    assert rules.phase == "latent" and rules.status == "unresolved"
    assert codes(shop_archive(with_src=True), "warning") == set()


@pytest.mark.parametrize("case, code, rc, expected", [
    ("log-and-continue", LOG_AND_CONTINUE, 0, "guarded-missing-module"),
    ("sys-exit-in-handler", SYS_EXIT, 1, "missing-module"),
    ("latent-function", LATENT, 0, "latent-missing-module"),
    ("request-handler", REQUEST_ONLY, 1, "missing-module"),
    ("missing-file", MISSING_FILE, 0, "missing-artifact"),
    ("syntax-error", b"def model_fn(model_dir)\n    return 1\n", 1, "syntax-error"),
    ("dynamic-import", b"import importlib, os\nmod = importlib.import_module(os.environ['PLUGIN'])\n"
                       b"def model_fn(d):\n    return mod\n", 0, "dynamic-import"),
    ("star-import", b"from helpers import *\ndef model_fn(d):\n    return load(d)\n", 1, "star-import"),
    ("circular-import", b"from helpers import load\nVERSION = 1\ndef model_fn(d):\n    return load(d)\n", 1,
     "circular-import"),
])
def test_small_archives_exit_codes(tmp_path, capsys, case, code, rc, expected):
    members = {"code/inference.py": code}
    if case == "star-import":
        members["code/helpers.py"] = b"__all__ = ['load']\ndef load(d):\n    import zoo_missing_star\n    return 1\n"
    if case == "circular-import":
        members["code/helpers.py"] = b"from inference import VERSION\ndef load(d):\n    return VERSION\n"
    got, _ = check(tmp_path, members)
    out = capsys.readouterr().out
    assert got == rc, (case, out)
    assert expected in codes(members), (case, out)
    assert "Traceback" not in out and "analysis-error" not in codes(members)
    if case == "star-import":  # the name the star import binds is followed into helpers.load
        assert "missing-module" in codes(members, "error")


def test_unparsable_and_hostile_sources_are_findings_not_tracebacks():
    deep = b"def model_fn(d):\n    return " + b"(" * 300 + b"1" + b")" * 300 + b"\n"
    for src in (b"\x00\x01binary", b"def model_fn(d):\n\treturn 1\n        x = 2\n", deep,
                b"import importlib\nimportlib.import_module()\n", b"from . import *\n"):
        r = resolve_imports({"code/inference.py": src})
        assert all(f.code != "analysis-error" for f in r.findings), (src[:30], r.findings)


# ---------------------------------------------------------------------------- load check + verdict (slow)


def _diagnose(aws, tmp_path, members, roots=()):
    name = _deploy(aws, tar_gz(members))
    return diagnose.run(aws, run_dir=str(tmp_path), endpoint_name=name, source_roots=[str(r) for r in roots])


@pytest.mark.slow
def test_shop_broken_is_missing_module_placed_once(aws, tmp_path):
    d = _diagnose(aws, tmp_path, shop_archive(with_src=False), [SHOP])
    v = d.verdict
    assert not d.load_check.ok and d.load_check.missing_module.startswith("shopkit")
    assert v.cause == "missing-module" and v.fix["packages"] == ["shopkit"] and v.confidence == "high"
    placed = [(a["source"], a["target"]) for a in v.fix["additions"] + v.fix["extras"]]
    assert placed == [(str(SHOP / "src" / "shopkit"), "src/shopkit/"), (str(SHOP / "config"), "config/")]
    assert not [f for f in d.findings if f.code in ("guarded-missing-module", "latent-missing-module")
                and f.data.get("package") == "shopkit"]


@pytest.mark.slow
def test_shop_fixed_stops_at_the_hub_download_which_is_this_machines_result(aws, tmp_path):
    """The load check has no network: its model_fn stops at hub.zoo.invalid (recorded by the check's proxy). The
    model has neither network isolation nor a VPC, so the endpoint reaches the host: the check's stop is this
    machine's, not the endpoint's failure, and nothing else explains one (no logs)."""
    d = _diagnose(aws, tmp_path, shop_archive(with_src=True))
    v = d.verdict
    assert d.load_check.stage == "model_fn" and not d.load_check.ok
    assert [n["host"] for n in d.load_check.startup_network] == ["hub.zoo.invalid"]
    assert v.cause == "inconclusive" and "this machine cannot make" in v.summary, v.summary
    (need,) = [f for f in d.findings if f.code == "network-need"]
    assert need.severity == "info" and need.data["host"] == "hub.zoo.invalid" and need.data["endpoint_reach"] == "yes"
    assert "This machine:" in need.message and "refused" in need.message and "The endpoint: reaches" in need.message
    assert not [f for f in d.findings if f.severity == "error" and f.code in ("missing-module",
                                                                           "source-outside-import-path")]


@pytest.mark.slow
def test_shop_fixed_in_a_vpc_names_the_download_and_what_to_check(aws, tmp_path):
    name = _deploy(aws, tar_gz(shop_archive(with_src=True)),
                   vpc={"Subnets": ["subnet-0a1b2c3d"], "SecurityGroupIds": ["sg-0123abcd"]})
    d = diagnose.run(aws, run_dir=str(tmp_path), endpoint_name=name)
    v = d.verdict
    assert (v.cause, v.sub_cause, v.confidence) == ("model-fn-error", "network-at-startup", "medium"), v.summary
    assert "hub.zoo.invalid" in v.summary and "subnet-0a1b2c3d" in v.summary and "NAT gateway" in v.summary
    assert v.fix["endpoint_reach"]["reach"] == "vpc"
    (need,) = [f for f in d.findings if f.code == "network-need"]
    assert need.severity == "warning" and "sg-0123abcd" in need.message


@pytest.mark.slow
@pytest.mark.parametrize("case, members, sub_cause", [
    ("missing-file", {"code/inference.py": MISSING_FILE}, "missing-artifact"),
    ("version-mismatch", {"code/inference.py": UNPICKLE, "model.pkl": OLD_PICKLE}, "version-mismatch"),
    ("out-of-memory", {"code/inference.py": OOM}, "out-of-memory"),
])
def test_model_fn_failures_are_named(aws, tmp_path, case, members, sub_cause):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "weights.bin").write_bytes(b"w")
    d = _diagnose(aws, tmp_path, members, [root])
    assert d.verdict.sub_cause == sub_cause, (case, d.verdict.summary, d.load_check.error)
    if case == "missing-file":
        assert d.verdict.cause == "model-fn-error"
        assert d.verdict.fix["extras"] == [{"source": str(root / "weights.bin"), "target": "weights.bin",
                                            "why": d.verdict.fix["extras"][0]["why"]}]
    if case == "version-mismatch":
        assert d.verdict.cause == "model-fn-error"  # not a missing module of the serving code


@pytest.mark.slow
def test_log_and_continue_loads_and_is_not_a_crash(aws, tmp_path):
    d = _diagnose(aws, tmp_path, {"code/inference.py": LOG_AND_CONTINUE})
    assert d.load_check.ok and d.verdict.cause == "inconclusive"
    assert {f.code: f.severity for f in d.findings}["guarded-missing-module"] == "warning"


def test_old_pickle_really_references_a_missing_module():
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(OLD_PICKLE)
