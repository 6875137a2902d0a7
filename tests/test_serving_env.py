"""The serving environment: image profiles, a base a model's requirements can never damage, skips with a reason.

One profile environment (the incident's image, pytorch-inference 2.1) is built once for the whole suite and
reused (the cache is keyed by the profile); the other builds here are tiny throw-away profiles.
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
    ("763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-inference:1.12.1-cpu-py38", "2.6",
     "WARNING: no profile for pytorch-inference 1.12"),
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
    assert p.requirements()[0] == f"torch=={image_profiles.LOCAL_TORCH}"  # never another torch by default


def test_every_profile_names_the_images_torch_family_and_gpu_maps_to_its_cpu_twin():
    for v in ("1.13", "2.0", "2.1", "2.2", "2.3", "2.6"):
        assert v in image_profiles.all_profile_versions()
    gpu = profile_for_image("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1.0-gpu-py310")
    assert gpu.name == "pytorch-inference:2.1.0-cpu-py310" and "torchvision" in gpu.modules
    exact = profile_for_image(IMAGE_21, exact_torch=True)
    assert {"torch==2.1.0", "torchvision==0.16.0", "torchaudio==2.1.0"} <= set(exact.requirements())
    devs = " ".join(profile_for_image(IMAGE_21).static_deviations())
    assert "torch 2.13.0 (CPU) stands in for the image's torch 2.1.0" in devs and "weights_only" in devs
    assert "Python" in devs and "3.10.9" in devs
    assert "weights_only" not in " ".join(profile_for_image(
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312").static_deviations())


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


# -- the suite's profile environment ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def env21():
    return ensure_serving_env(IMAGE_21)


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


def test_the_base_is_built_with_a_manifest_read_only_and_reports_its_deviations(env21):
    assert env21.verify() == []
    site = next(env21.root.glob("lib/python*/site-packages"))
    assert not os.stat(site / "numpy" / "__init__.py").st_mode & 0o222
    info = env21.build_info()
    assert info["profile"] == "pytorch-inference:2.1.0-cpu-py310" and info["versions"]["torch"].startswith("2.13.0")
    assert info["versions"]["scipy"] == "1.10.1" and info["versions"]["captum"] == "0.6.0"
    assert {"pandas", "sklearn", "cv2", "scipy", "captum", "h5py"} <= env21.image_modules()
    assert "torch==2.13.0" in (env21.root / "layer-constraints.txt").read_text()


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
    assert lc.profile == "pytorch-inference:2.1.0-cpu-py310" and any("torch 2.13.0" in x for x in lc.deviations)


@pytest.mark.parametrize("requirements, package", [
    ("torchvision\n", "torchvision"),
    ("torch==2.1.0\n", "torch"),
])
def test_zoo_requirements_that_replace_the_torch_family_are_skipped_with_why(env21, tmp_path, requirements,
                                                                             package):
    before = _base_state(env21)
    lc = load_check_dir(_model(tmp_path, requirements), env=env21)
    assert lc.stage == "skipped" and not lc.ok and lc.skipped
    f = next(f for f in lc.findings if f.code == "requirements-replace-torch")
    assert f.data["package"] == package and f.severity == "warning"
    assert _base_state(env21) == before and env21.verify() == []


def test_zoo_a_dependency_that_needs_torchvision_is_skipped(env21, tmp_path):
    pkg = tmp_path / "needs_tv"
    (pkg / "needs_tv").mkdir(parents=True)
    (pkg / "needs_tv" / "__init__.py").write_text("")
    (pkg / "setup.py").write_text("from setuptools import setup\nsetup(name='needs-tv', version='1.0', "
                                  "packages=['needs_tv'], install_requires=['torchvision'])\n")
    before = _base_state(env21)
    lc = load_check_dir(_model(tmp_path, f"{pkg}\n"), env=env21)
    assert lc.stage == "skipped", lc.to_dict()
    assert [f.data["package"] for f in lc.findings if f.code == "requirements-replace-torch"] == ["torchvision"]
    assert _base_state(env21) == before and env21.verify() == []


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


def test_torch_load_under_a_newer_torch_says_so(env21, tmp_path):
    d = _model(tmp_path, None, b"import os, torch\ndef model_fn(model_dir):\n"
                               b"    return torch.load(os.path.join(model_dir, 'model.pt'))\n")
    subprocess.run([str(env21.python), "-I", "-c", "import torch, datetime, sys; "
                    "torch.save({'when': datetime.date(2024, 1, 1)}, sys.argv[1])", str(d / "model.pt")], check=True)
    lc = load_check_dir(d, env=env21)
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

    from endpoint_runbook.serving.env import start_model_server

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
