"""Static import resolution of the serving code, on purpose-built archives given as {member: bytes}."""

from __future__ import annotations

import json
from pathlib import Path

from endpoint_runbook.imports import (
    DEFAULT_IMAGE_MODULES,
    ImportReport,
    gate,
    requirement_modules,
    resolve_imports,
    suggest_placement,
)

STYGIG_INFERENCE = b'''\
import json
import os

import numpy as np
from stygig.core.color_logic import ColorProcessor
from stygig.core.gender_logic import GenderClassifier


def model_fn(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        return {"config": json.load(f), "color": ColorProcessor()}
'''
STYGIG_PKG = {
    "stygig/__init__.py": b"",
    "stygig/core/__init__.py": b"",
    "stygig/core/color_logic.py": b"import numpy as np\nfrom .gender_logic import GenderClassifier\n"
                                  b"class ColorProcessor: pass\n",
    "stygig/core/gender_logic.py": b"from ..utils import helper\nclass GenderClassifier: pass\n",
    "stygig/utils.py": b"def helper(): pass\n",
}
ARTIFACTS = {"embeddings.npz": None, "faiss_index.index": None, "metadata.pkl": None, "config.json": b"{}"}


def archive(code: bytes, *, pkg_at: str | None = None, extra: dict | None = None) -> dict[str, bytes | None]:
    files: dict[str, bytes | None] = {**ARTIFACTS, "code/inference.py": code, "code/requirements.txt": b"faiss-cpu\n"}
    if pkg_at is not None:
        files.update({f"{pkg_at}/{k}" if pkg_at else k: v for k, v in STYGIG_PKG.items()})
    files.update(extra or {})
    return files


def codes(report: ImportReport) -> list[str]:
    return [f.code for f in report.findings]


def find(report: ImportReport, code: str):
    (f,) = [f for f in report.findings if f.code == code]
    return f


# -------------------------------------------------------------------------------------- the StyGig shape


def test_stygig_incident_missing_package_with_line_number():
    r = resolve_imports(archive(STYGIG_INFERENCE))
    assert r.missing_packages == ["stygig"]
    f = find(r, "missing-module")
    assert f.severity == "error"
    assert f.evidence[0] == "code/inference.py:5 from stygig.core.color_logic import ColorProcessor"
    assert f.evidence[1] == "code/inference.py:6 from stygig.core.gender_logic import GenderClassifier"
    assert f.data["package"] == "stygig" and f.data["line"] == 5 and f.data["at"] == "import"
    assert "source-outside-import-path" not in codes(r)
    by_module = {i.module: i.status for i in r.imports}
    assert by_module["json"] == "stdlib" and by_module["numpy"] == "image"
    assert not r.ok
    json.dumps(r.to_dict())


def test_stygig_with_src_folder_is_source_outside_import_path():
    r = resolve_imports(archive(STYGIG_INFERENCE, pkg_at="src"))
    assert r.missing_packages == ["stygig"]
    assert find(r, "missing-module").data["found_in_archive"] == ["src/stygig"]
    f = find(r, "source-outside-import-path")
    assert f.severity == "error" and f.data["found"] == ["src/stygig"]
    (p,) = suggest_placement(r, {})
    assert (p.package, p.action, p.target, p.source) == ("stygig", "move", "code/stygig/", "src/stygig")


def test_code_lib_is_not_on_the_import_path_either():
    r = resolve_imports(archive(STYGIG_INFERENCE, pkg_at="code/lib"))
    assert find(r, "source-outside-import-path").data["found"] == ["code/lib/stygig"]


def test_stygig_with_code_folder_resolves_in_the_archive_transitively():
    r = resolve_imports(archive(STYGIG_INFERENCE, pkg_at="code"))
    assert r.ok, r.findings
    assert r.missing_packages == []
    statuses = {(i.file, i.module): (i.status, i.resolved) for i in r.imports}
    assert statuses[("code/inference.py", "stygig.core.color_logic")] == ("archive", "code/stygig/core/color_logic.py")
    # Relative imports inside the package were followed: .gender_logic and ..utils.
    assert statuses[("code/stygig/core/color_logic.py", "stygig.core.gender_logic")][0] == "archive"
    assert statuses[("code/stygig/core/gender_logic.py", "stygig.utils")] == ("archive", "code/stygig/utils.py")
    assert "code/stygig/utils.py" in r.modules
    assert r.modules[0] == "code/inference.py"


def test_package_at_the_model_root_is_on_the_import_path():
    r = resolve_imports(archive(STYGIG_INFERENCE, pkg_at=""))
    assert r.ok and r.missing_packages == []


def test_partial_package_reports_the_missing_submodule():
    files = archive(STYGIG_INFERENCE, pkg_at="code")
    del files["code/stygig/core/gender_logic.py"]
    r = resolve_imports(files)
    f = find(r, "missing-module")
    assert f.data["modules"][0] == "stygig.core.gender_logic"
    assert "is in the archive" in (f.data["note"] or "")


def test_every_missing_module_of_a_partly_copied_package_is_named_at_once():
    """The package's __init__ imports three of its modules and two are not in the archive: Python stops at the
    first; the finding names both, so one fix adds both."""
    files = {"model.pth": None, "code/inference.py": b"from vc.embed import Embedder\n\ndef model_fn(model_dir):\n"
             b"    return Embedder()\n",
             "code/vc/__init__.py": b"from .data import load\nfrom .embed import Embedder\nfrom .trainer import Trainer\n",
             "code/vc/embed.py": b"class Embedder:\n    pass\n"}
    r = resolve_imports(files)
    f = find(r, "missing-module")
    assert f.data["submodules"] == ["vc.data", "vc.trainer"] and f.data["target"] == "code/vc/data.py"
    assert "1 more of its modules are missing too (vc.trainer)" in f.message


def test_a_missing_flat_module_is_offered_as_a_file_and_a_dotted_one_as_a_package():
    flat = find(resolve_imports({"code/inference.py": b"from model import Net\n"}), "missing-module")
    assert "as code/model.py (a module) or code/model/ (a package)" in flat.message
    dotted = find(resolve_imports({"code/inference.py": b"from src.models import Net\n"}), "missing-module")
    assert "as the package folder code/src/," in dotted.message and "src.py" not in dotted.message


def test_a_package_inside_a_namespace_folder_on_the_path_is_not_off_the_path():
    """code/ns/ has no __init__.py (a namespace package); code/ns/pkg/ is imported as ns.pkg: it is used where it
    is, no warning. A package nothing imports, under code/lib/, still is off the path, and named."""
    files = {"model.pth": None,
             "code/inference.py": b"from ns.pkg.net import Net\n\ndef model_fn(model_dir):\n    return Net()\n",
             "code/ns/pkg/__init__.py": b"", "code/ns/pkg/net.py": b"class Net:\n    pass\n",
             "code/lib/spare/__init__.py": b""}
    r = resolve_imports(files)
    assert r.ok and r.off_path == ["code/lib/spare"], (r.off_path, r.findings)
    findings = gate.reconcile_layout([], r)
    (warn,) = [f for f in findings if f.code == "source-outside-import-path"]
    assert "code/lib/spare/" in warn.message


# ------------------------------------------------------------------------------------------ sys.path


def test_sys_path_append_from_file_makes_src_resolvable():
    code = b'''import os, sys
sys.path.append(os.path.join(os.path.dirname(__file__), "..", "src"))
from stygig.core.color_logic import ColorProcessor
'''
    r = resolve_imports(archive(code, pkg_at="src"))
    assert r.ok, r.findings
    (sp,) = r.sys_path
    assert (sp.value, sp.archive_dir, sp.position) == ("/opt/ml/model/src", "src", "back")
    assert r.import_path == ["code", "", "src"]


def test_sys_path_before_the_append_does_not_help_earlier_imports():
    code = b'''import sys
from stygig.core.color_logic import ColorProcessor
sys.path.insert(0, "/opt/ml/model/src")
'''
    r = resolve_imports(archive(code, pkg_at="src"))
    assert r.missing_packages == ["stygig"]


def test_pathlib_and_model_dir_forms():
    code = b'''import sys
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from stygig.core.color_logic import ColorProcessor
'''
    r = resolve_imports(archive(code, pkg_at="src"))
    assert r.ok and r.sys_path[0].archive_dir == "src" and r.import_path[0] == "src"

    in_model_fn = b'''import os, sys
def model_fn(model_dir):
    sys.path.append(os.path.join(model_dir, "src"))
    from stygig.core.color_logic import ColorProcessor
    return ColorProcessor()
'''
    r = resolve_imports(archive(in_model_fn, pkg_at="src"))
    assert r.ok, r.findings
    (rec,) = [i for i in r.imports if i.module.startswith("stygig") and i.file == "code/inference.py"]
    assert rec.in_function == "model_fn" and rec.status == "archive"

    env = b'''import os, sys
MODEL = os.environ.get("SM_MODEL_DIR", "/opt/ml/model")
sys.path.insert(0, f"{MODEL}/src")
import stygig
'''
    assert resolve_imports(archive(env, pkg_at="src")).ok


def test_sys_path_that_cannot_be_evaluated_is_a_finding():
    code = b'''import sys
for p in find_paths():
    sys.path.append(p)
sys.path.insert(0, "/opt/program/lib")
'''
    r = resolve_imports(archive(code))
    assert find(r, "dynamic-sys-path").severity == "warning"
    assert find(r, "dynamic-sys-path").data["line"] == 3
    assert find(r, "sys-path-outside-model").severity == "info"


def test_placement_follows_the_script_src_path(tmp_path):
    repo = tmp_path / "Stygig-Model-2"
    (repo / "src" / "stygig" / "core").mkdir(parents=True)
    (repo / "src" / "stygig" / "__init__.py").write_text("")
    code = b'''import sys
sys.path.append("/opt/ml/model/src")
from stygig.core.color_logic import ColorProcessor
'''
    r = resolve_imports(archive(code))
    (p,) = suggest_placement(r, {"other": tmp_path / "nothing", "repo": repo})
    assert (p.action, p.target, p.source_label, Path(p.source)) == ("copy", "src/stygig/", "repo", repo / "src" / "stygig")
    # Without the script's own sys.path change, code/<pkg>/ needs no code change.
    (p,) = suggest_placement(resolve_imports(archive(STYGIG_INFERENCE)), {"repo": repo})
    assert (p.action, p.target) == ("copy", "code/stygig/")
    # The package folder itself may be given, and a flat layout (<root>/<pkg>/) is found too.
    (p,) = suggest_placement(resolve_imports(archive(STYGIG_INFERENCE)), {"pkg": repo / "src" / "stygig"})
    assert p.action == "copy" and Path(p.source) == repo / "src" / "stygig"
    (p,) = suggest_placement(resolve_imports(archive(STYGIG_INFERENCE)), {"flat": repo / "src"})
    assert p.action == "copy"
    # A checkout named like the package (examples/stygig/ holding src/stygig/) is not the package itself.
    named = tmp_path / "stygig"
    (named / "src" / "stygig").mkdir(parents=True)
    (named / "src" / "stygig" / "__init__.py").write_text("")
    (named / "catalog.py").write_text("")
    (p,) = suggest_placement(resolve_imports(archive(STYGIG_INFERENCE)), {"checkout": named})
    assert Path(p.source) == named / "src" / "stygig"


def test_placement_of_a_published_package_is_a_requirement():
    r = resolve_imports(archive(b"import faiss\n"), requirements=[])
    (p,) = suggest_placement(r, {})
    assert (p.action, p.requirement) == ("requirement", "faiss-cpu")
    (p,) = suggest_placement(resolve_imports(archive(b"import tinypkg\n")), {})
    assert p.action == "unknown" and p.target == "code/tinypkg/"


# ------------------------------------------------------------------------------- guards, functions, misc


def test_guarded_import_is_a_warning_not_a_crash():
    code = b'''try:
    import open_clip
except ImportError:
    open_clip = None
try:
    from fancy import thing
except (ValueError, ModuleNotFoundError):
    thing = None
'''
    r = resolve_imports(archive(code))
    assert r.ok
    assert r.missing_packages == [] and r.guarded_missing_packages == ["open_clip", "fancy"]
    fs = [f for f in r.findings if f.code == "guarded-missing-module"]
    assert [f.severity for f in fs] == ["warning", "warning"]
    assert {i.module: i.guard for i in r.imports} == {"open_clip": "except ImportError",
                                                     "fancy": "except ModuleNotFoundError"}


def test_fallback_import_in_the_handler_is_not_guarded():
    code = b'''try:
    import ujson as json
except ImportError:
    import simplejson as json
'''
    r = resolve_imports(archive(code))
    assert r.missing_packages == ["simplejson"]
    assert r.guarded_missing_packages == ["ujson"]


def test_import_inside_a_function_is_noted_as_call_time():
    code = b'''def predict_fn(data, model):
    import clip_extras
    return data
'''
    r = resolve_imports(archive(code))
    f = find(r, "missing-module")
    assert f.data["at"] == "call" and f.data["functions"] == ["predict_fn"]
    assert "when predict_fn runs" in f.message


def test_type_checking_and_main_blocks_are_not_run():
    code = b'''from typing import TYPE_CHECKING
if TYPE_CHECKING:
    import mypy_extensions
if __name__ == "__main__":
    import argparse_extra
'''
    assert resolve_imports(archive(code)).ok


def test_importlib_literal_is_resolved_and_computed_names_are_noted():
    code = b'''import importlib
handler = importlib.import_module("stygig.core.color_logic")
other = importlib.import_module(name_from_config())
'''
    r = resolve_imports(archive(code))
    assert find(r, "missing-module").data["modules"] == ["stygig.core.color_logic"]
    assert find(r, "dynamic-import").severity == "info"
    assert resolve_imports(archive(code, pkg_at="code")).missing_packages == []


def test_relative_import_in_the_entry_script_is_an_error():
    r = resolve_imports(archive(b"from .helpers import x\n", extra={"code/helpers.py": b"x = 1\n"}))
    assert find(r, "bad-relative-import").severity == "error"


def test_syntax_error_with_file_and_line():
    r = resolve_imports(archive(b"import os\n\ndef model_fn(model_dir)\n    return 1\n"))
    f = find(r, "syntax-error")
    assert f.data["file"] == "code/inference.py" and f.data["line"] == 3
    # ... also in a module the entry script imports.
    files = archive(STYGIG_INFERENCE, pkg_at="code")
    files["code/stygig/utils.py"] = b"def helper(:\n"
    f = find(resolve_imports(files), "syntax-error")
    assert f.data["file"] == "code/stygig/utils.py" and f.data["line"] == 1


def test_missing_entry_script():
    files = archive(STYGIG_INFERENCE)
    files["inference.py"] = files.pop("code/inference.py")
    r = resolve_imports(files)
    f = find(r, "missing-entry-script")
    assert f.severity == "error" and f.data["found"] == ["inference.py"]
    assert resolve_imports(archive(b"import os\n", extra={"code/serve.py": b"import os\n"}), program="serve.py").ok


def test_requirements_mapping():
    assert requirement_modules(["faiss-cpu==1.8.0", "Pillow>=10", "opencv-python-headless", "scikit_learn",
                                "PyYAML", "protobuf<5", "# comment", "-r other.txt", "--index-url https://x",
                                "open_clip_torch @ https://example.com/o.whl",
                                "git+https://github.com/openai/CLIP.git#egg=clip", "torch ; python_version>'3'",
                                "sentence-transformers[train]~=2.2"]) == {
        "faiss-cpu": ["faiss"], "pillow": ["PIL"], "opencv-python-headless": ["cv2"], "scikit-learn": ["sklearn"],
        "pyyaml": ["yaml"], "protobuf": ["google"], "open-clip-torch": ["open_clip"], "clip": ["clip"],
        "torch": ["torch"], "sentence-transformers": ["sentence_transformers"]}
    code = b"import faiss\nimport sklearn\nimport google.protobuf\n"
    r = resolve_imports(archive(code))  # code/requirements.txt lists faiss-cpu
    assert {i.module: i.status for i in r.imports}["faiss"] == "requirements"
    assert r.missing_packages == ["sklearn", "google"]
    r = resolve_imports(archive(code), requirements=["faiss-cpu", "scikit-learn", "protobuf"])
    assert r.ok


def test_namespace_package_without_init():
    files = archive(b"from stygig.core import color_logic\n", extra={
        "code/stygig/core/color_logic.py": b"import numpy\n",  # no __init__.py anywhere
    })
    r = resolve_imports(files)
    assert r.ok, r.findings
    assert "code/stygig/core/color_logic.py" in r.modules  # a submodule named in `from ... import` is loaded


def test_namespace_portions_do_not_beat_a_regular_package_later_on_the_path():
    # code/yaml/ (a folder of data files) does not shadow the image's yaml: namespace portions lose.
    r = resolve_imports(archive(b"import yaml\n", extra={"code/yaml/settings.yaml": b""}))
    assert {i.module: i.status for i in r.imports}["yaml"] == "image"


def test_image_modules_can_be_given():
    assert "torch" in DEFAULT_IMAGE_MODULES
    r = resolve_imports(archive(b"import torch\n"), image_modules={"numpy"})
    assert r.missing_packages == ["torch"]


def test_directory_input(tmp_path):
    for name, content in archive(STYGIG_INFERENCE, pkg_at="src").items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content or b"")
    r = resolve_imports(tmp_path)
    assert r.missing_packages == ["stygig"] and "source-outside-import-path" in codes(r)
    (tmp_path / "src").rename(tmp_path / "code" / "_src")
    (tmp_path / "code" / "_src" / "stygig").rename(tmp_path / "code" / "stygig")
    assert resolve_imports(tmp_path).ok


def test_a_few_hundred_files_are_all_followed():
    files = archive(b"import pkg0\n")
    for p in range(20):
        files[f"code/pkg{p}/__init__.py"] = "".join(f"from . import m{m}\n" for m in range(15)).encode()
        for m in range(15):
            nxt = f"import pkg{p + 1}\n" if p < 19 and m == 0 else ""
            body = "import os, json\nimport numpy as np\n" + nxt + "".join(
                f"def f{k}(x):\n    import math\n    return math.sqrt(x) + {k}\n" for k in range(20))
            files[f"code/pkg{p}/m{m}.py"] = body.encode()
    r = resolve_imports(files)
    assert r.ok and len(r.modules) == 1 + 20 * 16
    assert len(r.imports) > 6000  # every function body was walked (call-time imports)


# ------------------------------------------------------------------ source roots searched recursively, ranked
UTILS_INFERENCE = b"from utils.inference import model_fn, input_fn\nfrom utils.common import custom_dataclass\n"


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_the_search_goes_down_the_checkout_and_skips_what_never_holds_the_projects_code(tmp_path):
    from endpoint_runbook.imports import SourceIndex

    repo = tmp_path / "repo"
    _write(repo, {
        "Plugins/upscale/code/swinir/load_model.py": "def define_model(path): pass\n",  # a namespace package
        ".venv/lib/python3.11/site-packages/swinir/__init__.py": "",  # an installed copy: never the source
        "node_modules/swinir/__init__.py": "",
        "build/lib/swinir/__init__.py": "",
        ".git/swinir/__init__.py": "",
        "env2/pyvenv.cfg": "home = /usr/bin\n",  # a virtual environment, whatever its name
        "env2/lib/swinir/__init__.py": "",
    })
    cands = SourceIndex({"repo": repo}).candidates("swinir")
    assert [(c.path.relative_to(repo).as_posix(), c.kind) for c in cands] == [
        ("Plugins/upscale/code/swinir", "namespace")]
    # Bounded: a search that stops at its bound says so.
    small = SourceIndex({"repo": repo}, max_folders=2)
    assert small.candidates("swinir") == [] and small.truncated and "bound" in small.describe()
    shallow = SourceIndex({"repo": repo}, max_depth=2)
    assert shallow.candidates("swinir") == []


def test_candidates_are_ranked_by_the_import_paths_layout_and_the_names_imported_with_the_runner_up(tmp_path):
    repo = tmp_path / "repo"
    _write(repo, {
        # shallower, but a different 'utils': neither utils.inference nor the names
        "utils/__init__.py": "", "utils/strings.py": "def slug(x): return x\n",
        # deeper, the one the code means
        "models/lm/utils/__init__.py": "", "models/lm/utils/common.py": "def custom_dataclass(c): return c\n",
        "models/lm/utils/inference.py": "def model_fn(d): pass\ndef input_fn(b, c): pass\n",
        # the right layout but not the names
        "old/utils/__init__.py": "", "old/utils/common.py": "", "old/utils/inference.py": "def model_fn(d): pass\n",
    })
    (p,) = suggest_placement(resolve_imports(archive(UTILS_INFERENCE)), {"repo": repo})
    assert (p.action, p.target, Path(p.source)) == ("copy", "code/utils/", repo / "models" / "lm" / "utils")
    assert "has 2 of the 2 submodules" in p.reason and "defines 3 of the 3 names" in p.reason
    assert p.runner_up["source"] == str(repo / "old" / "utils") and "defines 1 of the 3" in p.runner_up["why"]


def test_the_complete_fix_follows_what_the_added_packages_import_and_places_each_folder_once(tmp_path):
    from endpoint_runbook.imports import complete_fix

    repo = tmp_path / "repo"
    _write(repo, {
        "utils/__init__.py": "", "utils/common.py": "def custom_dataclass(c): return c\n",
        "utils/inference.py": "from utils.common import custom_dataclass\ndef model_fn(d): pass\n"
                              "def input_fn(b, c): pass\n",
        "model_pkg/__init__.py": "", "model_pkg/model.py": "from base_pkg.model import Base\nclass M(Base): pass\n",
        "base_pkg/__init__.py": "", "base_pkg/model.py": "from utils.common import custom_dataclass\nclass Base: pass\n",
    })
    files = archive(UTILS_INFERENCE + b"from model_pkg.model import M\n")
    fix = complete_fix(files, sources={"repo": repo})
    assert [(p.package, p.target) for p in fix.placements] == [
        ("utils", "code/utils/"), ("model_pkg", "code/model_pkg/"), ("base_pkg", "code/base_pkg/")]
    assert fix.rounds == [["utils", "model_pkg"], ["base_pkg"], []] and fix.passes
    # Nothing provides the next one: named, the rest still placed.
    (repo / "base_pkg" / "__init__.py").unlink()
    (repo / "base_pkg" / "model.py").unlink()
    fix = complete_fix(files, sources={"repo": repo})
    assert [p.package for p in fix.placements] == ["utils", "model_pkg"] and not fix.passes
    assert [(p.package, p.action) for p in fix.unplaced] == [("base_pkg", "unknown")]


def test_a_missing_submodule_is_placed_as_that_file_and_worded_so(tmp_path):
    repo = tmp_path / "repo"
    _write(repo, {"pkg/__init__.py": "", "pkg/a.py": "from pkg.b import B\n", "pkg/b.py": "class B: pass\n"})
    files = archive(b"from pkg.a import *\n", extra={"code/pkg/__init__.py": b"", "code/pkg/a.py": b"from pkg.b import B\n"})
    r = resolve_imports(files)
    f = next(f for f in r.findings if f.code == "missing-module")
    assert "pkg is in the archive (code/pkg) but pkg.b is not" in f.message and "Add the file code/pkg/b.py" in f.message
    assert "nothing provides" not in f.message and f.data["target"] == "code/pkg/b.py"
    from endpoint_runbook.imports import place_missing
    (p,) = place_missing(r, {"repo": repo})
    assert (p.submodule, p.source, p.target) == ("pkg.b", str(repo / "pkg" / "b.py"), "code/pkg/b.py")


def test_requirement_lines_nothing_imports_are_dropped_as_a_diff_keeping_line_ends():
    from endpoint_runbook.imports import drop_requirements, unimported
    from endpoint_runbook.serving.pip_output import failing_requirements

    raw = b"opencv-python\r\ntorch\r\nrequests\r\ntimm\r\nbasicsr==0.0.1\r\n\r\n"
    pip = ("Collecting basicsr==0.0.1 (from -r requirements.txt (line 5))\n"
           "ERROR: Could not find a version that satisfies the requirement basicsr==0.0.1 (from versions: 1.4.2)\n"
           "ERROR: No matching distribution found for basicsr==0.0.1\n")
    failing = failing_requirements(pip, ["opencv-python", "torch", "requests", "timm", "basicsr"])
    assert failing == ["basicsr"]
    code = {"code/inference.py": b"import cv2\nimport torch\nfrom swinir.load_model import define_model\n",
            "code/swinir/network.py": b"from timm.models.layers import DropPath\n"}
    assert unimported(failing, raw.decode(), code) == ["basicsr"]
    assert unimported(failing, raw.decode(), {**code, "code/x.py": b"import basicsr.utils\n"}) == []
    edit = drop_requirements(raw, ["basicsr"], why="cannot install")
    assert edit.text == "opencv-python\r\ntorch\r\nrequests\r\ntimm\r\n\r\n" and edit.lines == ["basicsr==0.0.1"]
    assert "-basicsr==0.0.1\n" in edit.diff and edit.diff.startswith("--- a/code/requirements.txt")
    # A failure pip traces to a dependency maps to the line that pulled it in; a build step names the last one.
    assert failing_requirements("Collecting lmdb (from basicsr)\n  error: subprocess-exited-with-error\n",
                                ["basicsr", "timm"]) == ["basicsr"]
