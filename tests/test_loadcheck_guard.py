"""The load check's false-pass guard: a module imported from outside the model folder, its requirements layer and
the serving environment fails the check (the container would not have it), while the interpreter's own files pass,
also when they are reached through a link (Debian links sitecustomize.py into /etc/python3.X)."""

from __future__ import annotations

from endpoint_runbook.serving.loadcheck import load_check_dir
from tinymodel import IMAGE


def _model(tmp_path, source: str):
    model = tmp_path / "model"
    (model / "code").mkdir(parents=True)
    (model / "code" / "inference.py").write_text(source)
    return model


def test_a_module_from_outside_fails_the_check(tmp_path):
    elsewhere = tmp_path / "developer-checkout"
    elsewhere.mkdir()
    (elsewhere / "handy.py").write_text("VALUE = 1\n")
    model = _model(tmp_path, f"import sys\nsys.path.append({str(elsewhere)!r})\nimport handy\n"
                             "def model_fn(model_dir):\n    return handy.VALUE\n")
    lc = load_check_dir(model, program="inference.py", image=IMAGE)
    assert not lc.ok
    assert [f.code for f in lc.findings] == ["resolved-outside"]
    assert any(o.startswith("handy: ") and str(elsewhere) in o for o in lc.outside)


def test_a_module_reached_through_a_link_inside_the_model_counts_as_inside(tmp_path):
    target = tmp_path / "real"
    target.mkdir()
    (target / "helper.py").write_text("VALUE = 2\n")
    model = _model(tmp_path, "import helper\ndef model_fn(model_dir):\n    return helper.VALUE\n")
    (model / "code" / "helper.py").symlink_to(target / "helper.py")
    lc = load_check_dir(model, program="inference.py", image=IMAGE)
    assert lc.ok and lc.outside == [], lc.findings
