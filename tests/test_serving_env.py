"""The serving environment: image profiles, the image's own packages as pip sees them, a base a model's
requirements can never damage, the stand-in said out loud, skips with a reason.

The exact environments of the 2.1 image (the incident's, StyGig's and yif-AI's) and of the 2.0 image
(PlasticDetectionModel's and swinir2's) are built once for the whole suite and reused (the cache is keyed by the
profile); so is the 2.1 stand-in (CPU torch). The other builds here are tiny throw-away profiles.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from endpoint_runbook.cli import check_archive_main
from endpoint_runbook.imports import resolve_imports
from endpoint_runbook.serving import image_profiles
from endpoint_runbook.serving.env import MANIFEST, ensure_serving_env
from endpoint_runbook.serving.image_profiles import ImageProfile, profile_for_image
from endpoint_runbook.serving.loadcheck import load_check_dir
from tinymodel import tar_gz

IMAGE_21 = "763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310"
IMAGE_20 = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.0.1-cpu-py310"

# Writes what the model saw (a module's version and where it came from) beside the model ($SEE_OUT in a
# container: TorchServe hands model_fn its own copy of the model dir).
SEE = b'''import json, os, importlib
def model_fn(model_dir):
    seen = {}
    for name in os.environ.get("SEE", "numpy").split(","):
        m = importlib.import_module(name)
        seen[name] = {"version": getattr(m, "__version__", None), "file": m.__file__}
    with open(os.environ.get("SEE_OUT") or os.path.join(model_dir, "seen.json"), "w") as f:
        json.dump(seen, f)
    return seen
'''


# -- profile selection (no build) -------------------------------------------------------------------------
@pytest.mark.parametrize("uri, version, note", [
    (IMAGE_21, "2.1", None),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310", "2.1", None),
    ("763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:1.13.1-cpu-py39-ubuntu20.04-sagemaker",
     "1.13", None),
    ("217643126080.dkr.ecr.me-south-1.amazonaws.com/pytorch-inference:2.0.1-cpu-py310", "2.0", None),
    ("626614931356.dkr.ecr.af-south-1.amazonaws.com/pytorch-inference:2.2.0-cpu-py310-ubuntu20.04-sagemaker",
     "2.2", None),
    ("727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch-inference:2.3.0-gpu-py311-cu121-ubuntu20.04-sagemaker",
     "2.3", "GPU image"),
    ("442386744353.dkr.ecr.us-gov-west-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312", "2.6", None),
    ("763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.6-cpu-py312-ubuntu22.04-sagemaker-v1",
     "2.6", None),
    ("763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-inference:1.12.1-cpu-py38", "1.13",
     "WARNING: no profile for pytorch-inference 1.12 (profiles: 1.13, 2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 2.6); the nearest "
     "(1.13) stands in"),
    ("763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-inference:2.8.0-cpu-py312", "2.6", "the nearest (2.6)"),
    ("763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-inference:1.8.1-cpu-py36", "1.13", "the nearest (1.13)"),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.1.0-transformers4.37.0-cpu-py310"
     "-ubuntu22.04", "2.6", "not a SageMaker pytorch-inference image"),
    ("123456789012.dkr.ecr.eu-central-1.amazonaws.com/my-team/custom-serving:latest", "2.6", "WARNING"),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference@sha256:" + "ab" * 32, "2.6", "names no version"),
    ("img", "2.6", "WARNING: no profile for img"),
])
def test_the_profile_comes_from_the_image_uri(uri, version, note):
    p = profile_for_image(uri)
    assert p.version == version
    if note:
        assert any(note in n for n in p.notes), p.notes
    else:
        assert p.notes == ()
    assert p.mode == "exact" and p.requirements()[0] == f"torch=={p.image['torch']}"  # the image's own torch
    assert p.as_mode("stand-in").requirements()[0] == f"torch=={image_profiles.LOCAL_TORCH}"


def test_every_profile_names_the_images_torch_family_and_gpu_maps_to_its_cpu_twin():
    for v in ("1.13", "2.0", "2.1", "2.2", "2.3", "2.6"):
        assert v in image_profiles.all_profile_versions()
    gpu = profile_for_image("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1.0-gpu-py310")
    assert gpu.name == "pytorch-inference:2.1.0-cpu-py310" and "torchvision" in gpu.modules
    exact = profile_for_image(IMAGE_21)
    assert {"torch==2.1.0", "torchvision==0.16.0", "torchaudio==2.1.0", "torchtext==0.16.0",
            "torchdata==0.7.0"} <= set(exact.requirements())
    devs = " ".join(exact.static_deviations())
    assert "STAND-IN" not in devs and "weights_only" not in devs and "3.10.9" in devs
    standin = " ".join(profile_for_image(IMAGE_21, mode="stand-in").static_deviations())
    assert "torch 2.13.0 (CPU) stands in for the image's torch 2.1.0" in standin and "weights_only" in standin
    assert "torchvision 0.16.0" in standin and "not checkable here" in standin
    assert "weights_only" not in " ".join(profile_for_image(
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312",
        mode="stand-in").static_deviations())
    with pytest.raises(ValueError):
        profile_for_image(IMAGE_21, mode="cuda")


@pytest.mark.parametrize("version, torchserve, toolkit, separate_sagemaker_inference", [
    ("2.0.1", "0.8.2", "2.0.16", True),   # toolkits before 2.0.21 need the separate sagemaker-inference
    ("2.1.0", "0.11.0", "2.0.24", False),
    ("2.6.0", "0.12.0", "2.0.25", False),
])
def test_torchserve_and_the_toolkit_are_the_images_own(version, torchserve, toolkit, separate_sagemaker_inference):
    p = profile_for_image(f"763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:{version}-cpu-py310")
    for mode in ("exact", "stand-in"):  # the stand-in differs in the torch family only
        reqs = p.as_mode(mode).requirements()
        assert f"torchserve=={torchserve}" in reqs and f"torch-model-archiver=={torchserve}" in reqs
        assert f"sagemaker-pytorch-inference=={toolkit}" in reqs
        assert ("sagemaker-inference" in reqs) is separate_sagemaker_inference
    assert not any("TorchServe" in d and "stand in" in d for d in p.static_deviations())


def test_a_torch_family_package_with_no_wheel_for_this_python_is_left_out_and_said():
    p = profile_for_image("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:1.13.1-cpu-py39")
    assert p.requirements()[0] == "torch==1.13.1"
    assert not any(r.startswith(("torchvision", "torchaudio", "torchdata")) for r in p.requirements())
    devs = " ".join(p.static_deviations())
    assert "not installed: torchvision 0.14.1" in devs and "no wheel for Python 3.11" in devs
    assert "torchvision" in p.modules  # the image has it: a model importing it is not "missing"


@pytest.mark.parametrize("requirements, replaced", [
    ("torch==2.1.0\n", {}),                       # the image's own: satisfied, installs nothing
    ("torch>=2.0,<2.2\ntorchvision\n", {}),
    ("torch==2.2.0  # newer\n", {"torch": "==2.2.0"}),
    ("Torch_Vision==0.17.0\n", {}),                # not a torch-family name (torch-vision does not exist)
    ("torchvision==0.17.0 ; python_version>'3'\n", {"torchvision": "==0.17.0"}),
    ("-r other.txt\n# torch==1.0\nnumpy\n", {}),
])
def test_which_requirements_replace_the_images_torch(requirements, replaced):
    from endpoint_runbook.serving.requirements import replaces_image_torch

    assert replaces_image_torch(requirements, profile_for_image(IMAGE_21).image) == replaced


def test_a_pandas_import_under_the_21_profile_is_not_missing():
    files = {"code/inference.py": b"import pandas\nimport sklearn\nimport cv2\ndef model_fn(d):\n    return 1\n"}
    r = resolve_imports(files, image_modules=profile_for_image(IMAGE_21).modules)
    assert not r.missing_packages and not [f for f in r.findings if f.code == "missing-module"]
    assert {"pandas", "sklearn", "cv2"} <= {i.package for i in r.imports if i.status == "image"}
    # the same code against an image that lacks pandas: missing (the test can fail)
    assert "pandas" in resolve_imports(files, image_modules={"numpy"}).missing_packages


def test_check_archive_resolves_against_the_named_image(tmp_path, capsys):
    path = tmp_path / "model.tar.gz"
    path.write_bytes(tar_gz({"code/inference.py": b"import pandas\nimport torchvision\n"
                                                  b"def model_fn(d):\n    return 1\n"}))
    assert check_archive_main([str(path), "--image", IMAGE_21]) == 0
    out = capsys.readouterr().out
    assert "pytorch-inference:2.1.0-cpu-py310" in out and "missing-module" not in out
    assert check_archive_main([str(path)]) == 0
    assert "newest PyTorch inference image's profile (pytorch-inference:2.6.0-cpu-py312)" in capsys.readouterr().out
    assert check_archive_main([str(path), "--image", "img"]) == 0
    assert "WARNING image-profile: no profile for img" in capsys.readouterr().out


def test_check_archive_names_torch_pins_the_image_does_not_ship(tmp_path, capsys):
    """A torch-family pin the image does not satisfy makes pip swap the image's torch at every start: said
    statically, before any install; a pin the image satisfies (or an unpinned line) is not."""
    code = b"import torch\ndef model_fn(d):\n    return 1\n"
    swapped = tmp_path / "swapped.tar.gz"
    swapped.write_bytes(tar_gz({"code/inference.py": code,
                                "code/requirements.txt": b"torch==2.4.1\ntorchvision>=0.19\nnumpy\n"}))
    assert check_archive_main([str(swapped), "--image", IMAGE_21]) == 0
    out = capsys.readouterr().out
    assert "WARNING requirements-replace-torch: code/requirements.txt asks for torch==2.4.1 where the image ships " \
           "torch 2.1.0" in out
    assert "asks for torchvision>=0.19 where the image ships torchvision 0.16.0" in out
    assert check_archive_main([str(swapped), "--image", IMAGE_21, "--strict"]) == 1
    capsys.readouterr()
    kept = tmp_path / "kept.tar.gz"
    kept.write_bytes(tar_gz({"code/inference.py": code, "code/requirements.txt": b"torch==2.1.0\ntorchvision\n"}))
    assert check_archive_main([str(kept), "--image", IMAGE_21]) == 0
    assert "requirements-replace-torch" not in capsys.readouterr().out


# -- the suite's profile environments ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def standin21():
    return ensure_serving_env(IMAGE_21, mode="stand-in")


def _layer_dists(env, requirements: str) -> dict[str, str]:
    from endpoint_runbook.serving.container_entry import layer_distributions

    site = env.layer(requirements)
    return layer_distributions(site) if site else {}


def _model(tmp_path: Path, requirements: str | None, inference: bytes = SEE) -> Path:
    d = tmp_path / f"m-{uuid.uuid4().hex[:6]}" / "model"
    (d / "code").mkdir(parents=True)
    (d / "code" / "inference.py").write_bytes(inference)
    if requirements is not None:
        (d / "code" / "requirements.txt").write_text(requirements)
    return d


def _base_state(env) -> tuple[bytes, str]:
    """The manifest as written at build time, and the numpy the base itself imports."""
    out = subprocess.run([str(env.python), "-I", "-c", "import numpy; print(numpy.__version__, numpy.__file__)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return (env.root / MANIFEST).read_bytes(), out


def test_the_base_is_the_images_own_built_with_a_manifest_read_only(env21):
    assert env21.verify() == [] and env21.mode == "exact"
    site = next(env21.root.glob("lib/python*/site-packages"))
    assert not os.stat(site / "numpy" / "__init__.py").st_mode & 0o222
    info = env21.build_info()
    v = info["versions"]
    assert info["profile"] == "pytorch-inference:2.1.0-cpu-py310" and info["mode"] == "exact"
    assert [v[p].split("+")[0] for p in ("torch", "torchvision", "torchaudio", "torchtext", "torchdata")] == \
        ["2.1.0", "0.16.0", "2.1.0", "0.16.0", "0.7.0"]
    assert v["torchserve"] == "0.11.0" and v["sagemaker-pytorch-inference"] == "2.0.24"
    assert v["scipy"] == "1.10.1" and v["captum"] == "0.6.0" and v["numpy"].startswith("1.")
    assert v["opencv-python"] == v["opencv-python-headless"]  # pip sees the image's distribution name
    assert {"pandas", "sklearn", "cv2", "scipy", "captum", "h5py", "torchvision"} <= env21.image_modules()
    assert env21.constraints is None  # pip decides as in the image: nothing pinned beyond what is installed
    assert not any("STAND-IN" in d or "FALLBACK" in d for d in env21.deviations())
    out = subprocess.run([str(env21.python), "-I", "-c", "import torch, torchvision, cv2; "
                          "print(torch.__version__, torchvision.ops.nms(torch.tensor([[0., 0, 1, 1], [0, 0, 1, 1]]), "
                          "torch.tensor([.9, .8]), .5).tolist(), torch.cuda.is_available())"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith("2.1.0") and out[1:] == ["[0]", "False"]


def test_the_20_image_has_its_torch_toolkit_and_torchserve(env20):
    v = env20.build_info()["versions"]
    assert v["torch"].startswith("2.0.1") and v["torchvision"].startswith("0.15.2")
    assert v["torchserve"] == "0.8.2" and v["sagemaker-pytorch-inference"] == "2.0.16" and "sagemaker-inference" in v
    assert _layer_dists(env20, "torch==2.0.1\n") == {}  # satisfied in the image: pip installs nothing


@pytest.mark.parametrize("requirements, imports", [
    ("torch==2.1.0\n", "torch"),                  # the image's own pin: satisfied, nothing installed
    ("opencv-python\n", "cv2"),                   # unpinned, installed in the image: numpy stays
    ("timm\nopen_clip_torch\n", "timm, open_clip, torchvision"),  # need torchvision: the image has it
    ("segmentation-models-pytorch\n", "segmentation_models_pytorch"),
])
def test_pip_decides_as_in_the_image(env21, tmp_path, requirements, imports):
    before = _base_state(env21)
    dists = _layer_dists(env21, requirements)
    assert not {"torch", "torchvision", "torchaudio", "numpy", "opencv-python", "pillow"} & set(dists), dists
    code = (f"import {imports}, numpy, json, os\n"
            "def model_fn(model_dir):\n"
            "    seen = {'numpy': numpy.__file__, 'torch': __import__('torch').__file__}\n"
            "    json.dump(seen, open(os.path.join(model_dir, 'seen.json'), 'w'))\n"
            "    return seen\n").encode()
    d = _model(tmp_path, requirements, code)
    lc = load_check_dir(d, env=env21)
    assert lc.ok and lc.mode == "exact", lc.to_dict()
    assert "requirements-replace-torch" not in [f.code for f in lc.findings]
    seen = json.loads((d / "seen.json").read_text())
    assert all(p.startswith(str(env21.root)) for p in seen.values()), seen  # the image's numpy and torch
    assert _base_state(env21) == before and env21.verify() == []


def test_a_whole_pickled_model_loads_as_the_images_torch_loads_it(env21, tmp_path):
    """torch 2.1's torch.load unpickles a whole module (and an Enum in a checkpoint); torch >=2.6 refuses."""
    net = (b"import enum, torch\nclass Kind(enum.Enum):\n    SMALL = 1\n"
           b"class Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
           b"        self.fc = torch.nn.Linear(2, 1)\n")
    inference = (b"import os, torch\nfrom net import Net, Kind\n"
                 b"def model_fn(model_dir):\n    ckpt = torch.load(os.path.join(model_dir, 'model.pt'))\n"
                 b"    assert ckpt['kind'] is Kind.SMALL\n    return ckpt['model']\n")
    d = _model(tmp_path, None, inference)
    (d / "code" / "net.py").write_bytes(net)
    subprocess.run([str(env21.python), "-I", "-c", "import sys, torch; sys.path.insert(0, sys.argv[2]); "
                    "from net import Net, Kind; torch.save({'model': Net(), 'kind': Kind.SMALL}, sys.argv[1])",
                    str(d / "model.pt"), str(d / "code")], check=True)
    lc = load_check_dir(d, env=env21)
    assert lc.ok, lc.to_dict()
    standin = load_check_dir(d, image=IMAGE_21, mode="stand-in")  # the CPU torch 2.13 stand-in: refused, said
    assert not standin.ok and "torch-load-weights-only" in [f.code for f in standin.findings]


def test_a_requirement_the_image_cannot_satisfy_fails_with_pips_reason(env21, tmp_path):
    lc = load_check_dir(_model(tmp_path, "torchvision==0.16.0\ntorch==2.2.0\n"), env=env21)
    assert lc.stage == "requirements" and not lc.ok and not lc.skipped, lc.to_dict()
    f = next(f for f in lc.findings if f.code == "requirements-install-failed")
    assert any("conflicting dependencies" in e or "Cannot install" in e for e in f.evidence), f.evidence


def _numpy_other_than(version: str) -> str:
    """Another numpy the base's compiled packages still work with (same major)."""
    if version.startswith("1."):
        return "1.26.0" if version != "1.26.0" else "1.24.4"
    return "2.2.6" if version != "2.2.6" else "2.3.5"


def test_zoo_a_numpy_pin_goes_into_the_layer_and_the_model_sees_it(env21, tmp_path):
    before = _base_state(env21)
    want = _numpy_other_than(before[1].split()[0])
    d = _model(tmp_path, f"numpy=={want}\n")
    lc = load_check_dir(d, env=env21)
    assert lc.ok, lc.to_dict()
    seen = json.loads((d / "seen.json").read_text())["numpy"]
    assert seen["version"] == want and "-layers" in seen["file"]
    assert _base_state(env21) == before and env21.verify() == []
    assert lc.profile == "pytorch-inference:2.1.0-cpu-py310" and lc.mode == "exact"
    assert any("Python 3.11" in x for x in lc.deviations)


# -- the stand-in (CPU torch): what it cannot hold is "not checkable here", never a failure ------------------
@pytest.mark.parametrize("requirements, package, replaces", [
    ("torchvision\n", "torchvision", False),      # the image ships torchvision: no false "replaces torch"
    ("torch==2.1.0\n", "torch", False),            # the image's own torch
    ("torch==2.2.0\n", "torch", True),             # really another torch, in the image too
])
def test_standin_requirements_it_cannot_hold_are_not_checkable(standin21, tmp_path, requirements, package,
                                                               replaces):
    before = _base_state(standin21)
    lc = load_check_dir(_model(tmp_path, requirements), env=standin21)
    assert lc.stage == "skipped" and not lc.ok and "not checkable here" in lc.skipped and lc.mode == "stand-in"
    skip = next(f for f in lc.findings if f.code == "load-check-skipped")
    assert skip.data == {"package": package, "not_checkable": True}
    assert [f.data["package"] for f in lc.findings if f.code == "requirements-replace-torch"] == \
        ([package] if replaces else [])
    assert any("STAND-IN" in d for d in lc.deviations)
    assert _base_state(standin21) == before and standin21.verify() == []


def test_standin_a_model_importing_torchvision_is_not_checkable(standin21, tmp_path):
    lc = load_check_dir(_model(tmp_path, None, b"import torchvision\ndef model_fn(d):\n    return 1\n"),
                        env=standin21)
    assert lc.stage == "skipped" and "torchvision" in lc.skipped, lc.to_dict()
    assert "missing-module" not in [f.code for f in lc.findings]


def test_zoo_a_dependency_that_needs_torchvision_is_skipped(standin21, tmp_path):
    pkg = tmp_path / "needs_tv"
    (pkg / "needs_tv").mkdir(parents=True)
    (pkg / "needs_tv" / "__init__.py").write_text("")
    (pkg / "setup.py").write_text("from setuptools import setup\nsetup(name='needs-tv', version='1.0', "
                                  "packages=['needs_tv'], install_requires=['torchvision'])\n")
    before = _base_state(standin21)
    lc = load_check_dir(_model(tmp_path, f"{pkg}\n"), env=standin21)
    assert lc.stage == "skipped", lc.to_dict()
    assert [f.data for f in lc.findings if f.code == "load-check-skipped"] == \
        [{"package": "torchvision", "not_checkable": True}]
    assert _base_state(standin21) == before and standin21.verify() == []


def test_zoo_a_package_that_does_not_exist_or_fails_to_build_fails_the_check(env21, tmp_path):
    bad = tmp_path / "badbuild"
    bad.mkdir()
    (bad / "setup.py").write_text("raise SystemExit('this package refuses to build')\n")
    before = _base_state(env21)
    for req in (f"endpoint-runbook-no-such-package-{uuid.uuid4().hex[:6]}==1.0\n", f"{bad}\n"):
        lc = load_check_dir(_model(tmp_path, req), env=env21)
        assert lc.stage == "requirements" and not lc.ok and not lc.skipped, lc.to_dict()
        assert [f.code for f in lc.findings] == ["requirements-install-failed"]
        assert _base_state(env21) == before and env21.verify() == []


def test_torch_load_under_the_standins_newer_torch_says_so(standin21, tmp_path):
    d = _model(tmp_path, None, b"import os, torch\ndef model_fn(model_dir):\n"
                               b"    return torch.load(os.path.join(model_dir, 'model.pt'))\n")
    subprocess.run([str(standin21.python), "-I", "-c", "import torch, datetime, sys; "
                    "torch.save({'when': datetime.date(2024, 1, 1)}, sys.argv[1])", str(d / "model.pt")], check=True)
    lc = load_check_dir(d, env=standin21)
    assert not lc.ok and lc.stage == "model_fn"
    assert "torch-load-weights-only" in [f.code for f in lc.findings]


def test_a_prebuilt_environment_is_used_as_is(env21, tmp_path, monkeypatch):
    monkeypatch.setenv("ENDPOINT_RUNBOOK_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("ENDPOINT_RUNBOOK_SERVING_ENV", str(env21.root))
    d = _model(tmp_path, None)
    lc = load_check_dir(d, image=IMAGE_21)
    assert lc.ok and json.loads((d / "seen.json").read_text())["numpy"]["file"].startswith(str(env21.root))
    assert not (tmp_path / "empty-cache" / "serving").exists()  # nothing was built


# -- builds that fail, and a damaged base -----------------------------------------------------------------
def test_no_index_skips_the_load_check_with_why(tmp_path, monkeypatch):
    monkeypatch.setenv("ENDPOINT_RUNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("ENDPOINT_RUNBOOK_SERVING_ENV", raising=False)
    lc = load_check_dir(_model(tmp_path, None), image=IMAGE_21)
    assert lc.stage == "skipped" and not lc.ok and "no serving environment could be built" in lc.skipped
    assert [f.code for f in lc.findings] == ["load-check-skipped"]
    assert any("pandas" in e or "No matching distribution" in e or "version" in e for e in lc.findings[0].evidence)


class _TinyProfile(ImageProfile):
    def requirements(self) -> list[str]:
        return ["six"]


def test_a_changed_base_is_rebuilt_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("ENDPOINT_RUNBOOK_CACHE", str(tmp_path / "cache"))
    base = profile_for_image(IMAGE_21)
    profile = _TinyProfile(base.version, base.image, IMAGE_21)
    env = ensure_serving_env(profile=profile)
    six = next(env.root.glob("lib/python*/site-packages/six.py"))
    assert env.verify() == [] and not os.stat(six).st_mode & 0o222
    os.chmod(six.parent, 0o755)
    six.unlink()  # what the old `pip install --prefix` layer did to numpy and torch
    assert env.verify() == [f"removed {six.relative_to(env.root)}"]
    said: list[str] = []
    again = ensure_serving_env(profile=profile, log=said.append)
    assert again.root == env.root and six.is_file() and again.verify() == []
    assert any("was changed after its build" in s and "six" in s for s in said), said


def test_auto_falls_back_to_the_standin_and_says_why(tmp_path, monkeypatch):
    """Exact cannot be had (too little disk here, by raising the floor past this disk): auto builds the stand-in,
    and the reason is the first deviation; a forced mode is obeyed; a bad mode is an error, not a skip."""
    from endpoint_runbook.errors import InputError
    from endpoint_runbook.serving import env as env_mod

    monkeypatch.setenv("ENDPOINT_RUNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ENDPOINT_RUNBOOK_SERVING_MODE", raising=False)
    monkeypatch.setattr(env_mod, "EXACT_MIN_FREE_GIB", 10.0**9)
    base = profile_for_image(IMAGE_21)
    tiny = _TinyProfile(base.version, base.image, IMAGE_21)
    said: list[str] = []
    env = ensure_serving_env(profile=tiny, mode="auto", log=said.append)
    assert env.mode == "stand-in" and env.root.name.startswith("2.1-standin-")
    assert env.deviations()[0].startswith("FALLBACK: the image's own environment (exact mode) could not be had "
                                          "here (too little disk")
    assert any(s.startswith("FALLBACK") for s in said)
    monkeypatch.setenv("ENDPOINT_RUNBOOK_SERVING_MODE", "exact")  # forced: no disk guard, no fallback
    exact = ensure_serving_env(profile=tiny.as_mode("stand-in"))
    assert exact.mode == "exact" and not exact.deviations()[0].startswith("FALLBACK")
    assert env_mod.serving_mode() == "exact"
    monkeypatch.setenv("ENDPOINT_RUNBOOK_SERVING_MODE", "gpu")
    with pytest.raises(InputError, match="not one of exact, stand-in, auto"):
        load_check_dir(_model(tmp_path, None), image=IMAGE_21)


def test_a_failed_exact_build_is_remembered_and_auto_uses_the_standin(tmp_path, monkeypatch):
    monkeypatch.setenv("ENDPOINT_RUNBOOK_CACHE", str(tmp_path / "cache"))
    base = profile_for_image(IMAGE_21)

    missing = f"endpoint-runbook-no-such-{uuid.uuid4().hex[:6]}==1.0"

    class _Unbuildable(_TinyProfile):
        def requirements(self) -> list[str]:
            return ["six"] if self.mode == "stand-in" else [missing]

    p = _Unbuildable(base.version, base.image, IMAGE_21)
    first = ensure_serving_env(profile=p, mode="auto")
    assert first.mode == "stand-in" and "could not be had here (building the serving environment" in \
        first.deviations()[0] and "No matching distribution found" in first.deviations()[0]
    again = ensure_serving_env(profile=p, mode="auto")  # not retried for an hour: the marker says why
    assert again.root == first.root and "its build failed 0 min ago" in again.deviations()[0]


def test_the_cache_lists_sizes_and_last_use_and_prunes(tmp_path, monkeypatch, capsys):
    from endpoint_runbook.cli import main
    from endpoint_runbook.serving.cache import list_cached, prune_cached

    monkeypatch.setenv("ENDPOINT_RUNBOOK_CACHE", str(tmp_path / "cache"))
    base = profile_for_image(IMAGE_21)
    old = ensure_serving_env(profile=_TinyProfile(base.version, base.image, IMAGE_21, mode="stand-in"))
    new = ensure_serving_env(profile=_TinyProfile(base.version, base.image, IMAGE_21, mode="exact"))
    os.utime(str(old.root) + ".last-used", (1_600_000_000, 1_600_000_000))  # used long ago
    envs = list_cached()
    assert [e.path for e in envs] == [str(new.root), str(old.root)]
    assert all(e.complete and e.bytes > 1_000_000 for e in envs) and [e.mode for e in envs] == ["exact", "stand-in"]
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert "serving environments under" in out and "2020-09-13" in out and "wheelhouse" in out
    removed, kept = prune_cached(older_than_days=30, dry_run=True)
    assert [e.path for e in removed] == [str(old.root)] and old.root.exists()
    assert main(["cache", "prune", "--older-than", "30"]) == 0
    assert not old.root.exists() and new.root.exists() and "removed 1 serving environment(s)" in capsys.readouterr().out
    assert main(["cache", "prune"]) == 2  # says what to prune, removes nothing
    assert new.root.exists()


# -- packaging --------------------------------------------------------------------------------------------
def test_the_wheel_ships_the_profiles_and_runs_a_load_check(env21, tmp_path):
    repo = Path(__file__).resolve().parents[1]
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(repo)], check=True, capture_output=True)
    whl = next(wheels.glob("endpoint_runbook-*.whl"))
    import zipfile

    names = zipfile.ZipFile(whl).namelist()
    assert "endpoint_runbook/serving/profiles/pytorch-inference.json" in names
    assert "endpoint_runbook/serving/container_entry.py" in names
    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(fresh)], check=True)
    subprocess.run([str(fresh / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(whl)],
                   check=True, capture_output=True)
    d = _model(tmp_path, None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    out = subprocess.run([str(fresh / "bin" / "python"), "-I", "-c",
                          "import json, sys; from endpoint_runbook.serving.loadcheck import load_check_dir; "
                          "lc = load_check_dir(sys.argv[1], image=sys.argv[2]); "
                          "import endpoint_runbook; print(json.dumps([lc.ok, lc.profile, endpoint_runbook.__file__]))",
                          str(d), IMAGE_21], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    ok, profile, where = json.loads(out.stdout.strip().splitlines()[-1])
    assert ok and profile == "pytorch-inference:2.1.0-cpu-py310" and where.startswith(str(fresh))
    assert (d / "seen.json").is_file()


@pytest.mark.slow
def test_zoo_in_a_real_container_the_model_sees_its_layers_numpy(env21, tmp_path):
    """The same layer through the container's path: the real toolkit installs requirements.txt, TorchServe's
    worker imports the model, and model_fn sees the layer's numpy; the base is untouched."""
    import time

    from endpoint_runbook.serving.server import start_model_server

    before = _base_state(env21)
    want = _numpy_other_than(before[1].split()[0])
    d = _model(tmp_path, f"numpy=={want}\n")
    server = start_model_server(env21, base_dir=d.parent, workdir=tmp_path / "work",
                                environment={"SAGEMAKER_PROGRAM": "inference.py", "SEE_OUT": str(d / "seen.json"),
                                             "SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    try:
        deadline = time.monotonic() + 240
        while not (d / "seen.json").is_file() and time.monotonic() < deadline and server.proc.poll() is None:
            time.sleep(0.5)
    finally:
        server.stop()
    out = server.proc.stdout.read() if server.proc.stdout else ""
    assert (d / "seen.json").is_file(), out[-3000:]
    seen = json.loads((d / "seen.json").read_text())["numpy"]
    assert seen["version"] == want and "-layers" in seen["file"]
    assert _base_state(env21) == before and env21.verify() == []
