"""The real-shape archives (tests/realshapes.py): each packs as its repository packs it, and today's static gate
(`endpoint-runbook check-archive`) on each, against the project's own image. Quick: no model containers.

Cases today's code gets wrong are strict xfails naming the issue point (issue 22) they belong to, or "new" for
what neither issue lists; the lead's fixes turn them into passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import realshapes
from endpoint_runbook.cli import check_archive_main
from realshapes import PROJECTS, build, members

CASES = [(p, v) for p, project in PROJECTS.items() for v in project.variants]
SDK_REPACKED = {"yif-ai", "swinir2"}  # packed by the SageMaker SDK's repack: a root member named "/"


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[tuple[str, str], Path]:
    out = tmp_path_factory.mktemp("realshapes")
    return {(p, v): build(p, v, out) for p, v in CASES}


def check(archive: Path, project: str, capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = check_archive_main([str(archive), "--image", PROJECTS[project].image, "--program",
                             PROJECTS[project].program])
    return rc, capsys.readouterr().out


def xfail(reason: str):
    return pytest.mark.xfail(strict=True, reason=reason)


# ------------------------------------------------------------------------------------ the packing itself

STYGIG_TRAINING_OUTPUT = ["code/", "code/inference.py", "code/requirements.txt", "config.json", "embeddings.npz",
                          "faiss_index.index", "metadata.pkl"]
STYGIG_SRC = ["src/", "src/stygig/", "src/stygig/__init__.py", "src/stygig/api/", "src/stygig/api/__init__.py",
              "src/stygig/core/", "src/stygig/core/__init__.py", "src/stygig/core/color_logic.py",
              "src/stygig/core/gender_logic.py", "src/stygig/core/recommendation_engine.py",
              "src/stygig/core/rules/", "src/stygig/core/rules/__init__.py",
              "src/stygig/core/rules/category_compatibility.py", "src/stygig/utils/",
              "src/stygig/utils/__init__.py"]
STYGIG_CONFIG = ["config/", "config/__init__.py", "config/recommendation_config.py", "config/settings.py"]
CKPT = "epoch=12-val_loss=0.41-auroc=0.981.ckpt"
MDD = "code/marinedebrisdetector_mod/"
PLASTIC_PACKAGE = [MDD, MDD + "__init__.py", MDD + "checkpoints.py", MDD + "metrics.py", MDD + "model/",
                   MDD + "model/__init__.py", MDD + "model/marine_debris_detector.py", MDD + "model/model.py",
                   MDD + "model/segmentation_model.py", MDD + "model/unet.py", MDD + "predictor.py"]
YIF_SOURCE_DIR = ["README.md", "__init__.py", "inference.py", "model.py", "requirements.txt", "sample_script.py",
                  "train_configs/", "train_configs/small.yaml", "training_script.py"]
YIF_UTILS = ["utils/", "utils/__init__.py", "utils/common.py", "utils/inference.py", "utils/sample.py",
             "utils/train.py", "utils/transformer_modules.py"]
YIF_BASELINE = ["baseline_transformer/", "baseline_transformer/__init__.py", "baseline_transformer/model.py"]
SWINIR_CODE = ["code/", "code/inference.py", "code/requirements.txt"]
SWINIR_PACKAGE = ["code/swinir/", "code/swinir/load_model.py", "code/swinir/network_swin2sr.py"]


def expected_members(project: str, variant: str) -> list[str]:
    if project == "stygig":  # tar.add(item, arcname=item.name) for each top-level item, in name order
        code, files = STYGIG_TRAINING_OUTPUT[:3], STYGIG_TRAINING_OUTPUT[3:]
        return {"broken": code + files, "fixed": code + STYGIG_CONFIG + files + STYGIG_SRC,
                "src-only": code + files + STYGIG_SRC}[variant]
    if project == "plasticdetection":  # tar.add("sagemaker_model/code", arcname="code"), then the checkpoint
        package = {"broken": [], "partial": [m for m in PLASTIC_PACKAGE if not m.endswith("model/model.py")]}
        code = ["code/", "code/__init__.py", "code/inference.py", *package.get(variant, PLASTIC_PACKAGE),
                "code/requirements.txt"]
        return sorted(code + ["code/" + CKPT]) if variant == "as-packed" else code + [CKPT]
    if project == "yif-ai":  # the SDK's repack: "/" first, then the folder's tree sorted, model.pth last
        source = ["code/" + m for m in YIF_SOURCE_DIR]
        fa = ["future_attention/"] + ["future_attention/" + m for m in YIF_SOURCE_DIR]
        added = {"broken": [], "partial": fa + YIF_UTILS, "fixed": fa + YIF_UTILS + YIF_BASELINE,
                 "sdk-dependencies": ["lib/"] + ["lib/" + m for m in fa + YIF_UTILS + YIF_BASELINE]}[variant]
        return ["/", "code/", *sorted(source + ["code/" + m for m in added]), "model.pth"]
    package = {"broken": [], "partial": SWINIR_PACKAGE[:2], "fixed": SWINIR_PACKAGE}[variant]
    return ["/", realshapes.SWINIR_WEIGHTS, *SWINIR_CODE, *package]


@pytest.mark.parametrize("project, variant", CASES)
def test_members_are_the_repositorys_packing(archives, project, variant):
    got = members(archives[project, variant])
    assert got == expected_members(project, variant), got


def test_sdk_repacks_carry_the_root_member_the_sdk_writes(archives):
    """tarfile.add(dir, arcname=os.sep) stores the folder itself as '/' (GNU tar: "Removing leading `/'")."""
    import tarfile

    for project in SDK_REPACKED:
        with tarfile.open(archives[project, "fixed"]) as tar:
            first = tar.getmembers()[0]
            assert first.isdir() and first.name == "" and first.get_info()["name"] == "/"


def test_archives_are_reproducible(archives, tmp_path):
    for project in ("stygig", "plasticdetection", "swinir2"):
        again = build(project, "fixed", tmp_path)
        assert again.read_bytes() == archives[project, "fixed"].read_bytes(), project


def test_swinir_files_keep_the_repositorys_crlf_line_ends(archives):
    import tarfile

    with tarfile.open(archives["swinir2", "fixed"]) as tar:
        for name in ("code/inference.py", "code/requirements.txt", "code/swinir/load_model.py"):
            data = tar.extractfile(name).read()
            assert data.count(b"\r\n") == data.count(b"\n") > 3, name


def test_bad_project_or_variant_says_what_exists(tmp_path):
    with pytest.raises(ValueError, match="one of stygig, plasticdetection, yif-ai, swinir2"):
        build("nope", "fixed", tmp_path)
    with pytest.raises(ValueError, match="one of broken, fixed, partial, as-packed"):
        build("plasticdetection", "half", tmp_path)
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------ the weights

def _read_member(archive: Path, name: str, dest: Path) -> Path:
    import tarfile

    with tarfile.open(archive) as tar:
        dest.write_bytes(tar.extractfile(name).read())
    return dest


def test_plastic_checkpoint_needs_full_unpickling_as_torch_2_0_does_it(archives, tmp_path):
    import torch

    ckpt = _read_member(archives["plasticdetection", "fixed"], CKPT, tmp_path / CKPT)
    with pytest.raises(Exception, match="Weights only load failed"):  # torch >= 2.6's default refuses it
        torch.load(ckpt, weights_only=True)
    loaded = torch.load(ckpt, weights_only=False)  # the 2.0 image's torch.load default
    assert loaded["hyper_parameters"]["args"].model == "unet++"
    assert sorted(loaded["state_dict"]) == sorted(realshapes.PLASTIC_SHIPPED_KEYS)
    assert loaded["state_dict"]["model.segmentation_head.0.weight"].shape == (1, 16, 3, 3)


def test_yif_checkpoint_holds_the_models_enum(archives, tmp_path):
    """The Enum pickles as future_attention.model.FutureAttnLossType: torch >= 2.6's default refuses the file,
    torch 2.1's default (weights_only=False) loads it once future_attention is importable."""
    ckpt = _read_member(archives["yif-ai", "fixed"], "model.pth", tmp_path / "model.pth")
    probe = (
        "import sys, torch\n"
        "try:\n    torch.load(sys.argv[1], weights_only=True)\n    print('loaded-weights-only')\n"
        "except Exception as e:\n    print('refused', 'Weights only load failed' in str(e))\n"
        "d = torch.load(sys.argv[1], weights_only=False)\n"
        "t = d['model_config']['future_attn_loss_type']\n"
        "print(type(t).__module__, type(t).__name__, t.name, d['model']['token_embedding.weight'].shape[0])\n")
    out = subprocess.run([sys.executable, "-c", probe, str(ckpt)], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(realshapes.YIF), "PATH": "/usr/bin:/bin",
                              "PYTHONDONTWRITEBYTECODE": "1"}, check=True).stdout
    assert out.split("\n")[:2] == ["refused True", "future_attention.model FutureAttnLossType MSE 50257"], out


def test_swinir_weights_are_plain_tensors_under_params_ema(archives, tmp_path):
    import torch

    path = _read_member(archives["swinir2", "fixed"], realshapes.SWINIR_WEIGHTS, tmp_path / "w.pth")
    weights = torch.load(path, weights_only=True)  # a plain state dict: every torch loads it
    assert list(weights) == ["params_ema"]
    assert weights["params_ema"]["conv_last.weight"].shape == (3, realshapes.SWINIR_FEAT, 3, 3)


# ------------------------------------------------------------------------------------ check-archive today

EXIT = {("stygig", "broken"): 1, ("stygig", "fixed"): 0, ("stygig", "src-only"): 0,
        ("plasticdetection", "broken"): 1, ("plasticdetection", "fixed"): 0, ("plasticdetection", "partial"): 1,
        ("plasticdetection", "as-packed"): 0,
        ("yif-ai", "broken"): 1, ("yif-ai", "fixed"): 0, ("yif-ai", "partial"): 1, ("yif-ai", "sdk-dependencies"): 1,
        ("swinir2", "broken"): 1, ("swinir2", "fixed"): 0, ("swinir2", "partial"): 1}
#: The module each failing archive must be reported missing (the first one the container meets).
MISSING = {("stygig", "broken"): "stygig", ("plasticdetection", "broken"): "marinedebrisdetector_mod",
           ("plasticdetection", "partial"): "marinedebrisdetector_mod.model.model",
           ("yif-ai", "broken"): "future_attention", ("yif-ai", "partial"): "baseline_transformer",
           ("yif-ai", "sdk-dependencies"): "future_attention", ("swinir2", "broken"): "swinir",
           ("swinir2", "partial"): "swinir.network_swin2sr"}


@pytest.mark.parametrize("project, variant", [
    pytest.param(p, v) for p, v in CASES])
def test_check_archive_exit_code(archives, capsys, project, variant):
    rc, out = check(archives[project, variant], project, capsys)
    assert "unsafe-path" not in out, out  # no archive here writes outside the model folder
    assert rc == EXIT[project, variant], out
    if rc == 0:
        assert "ERROR" not in out, out


@pytest.mark.parametrize("project, variant", list(MISSING))
def test_check_archive_names_the_missing_module(archives, capsys, project, variant):
    _, out = check(archives[project, variant], project, capsys)
    errors = [line for line in out.splitlines() if line.startswith("ERROR missing-module")]
    assert any(f"imports '{MISSING[project, variant]}" in line for line in errors), out


@pytest.mark.parametrize("project, variant, module, package, file", [
    ("plasticdetection", "partial", "marinedebrisdetector_mod.model.model", "marinedebrisdetector_mod",
     "code/marinedebrisdetector_mod/model/model.py"),
    ("swinir2", "partial", "swinir.network_swin2sr", "swinir", "code/swinir/network_swin2sr.py"),
])
def test_a_missing_submodule_is_not_called_a_missing_package(archives, capsys, project, variant, module, package,
                                                            file):
    # issue 22 point 8: the package is in the archive (swinir/ a namespace package), one submodule file is not
    _, out = check(archives[project, variant], project, capsys)
    assert f"imports '{module}'" in out, out
    assert f"nothing provides package '{package}'" not in out and "Add the package" not in out, out
    assert " is in the archive (code/" in out and f"but {module} is not" in out and f"Add the file {file}" in out, out


@pytest.mark.parametrize("variant", ["broken", "fixed"])
def test_stygig_exists_guarded_reads_are_not_missing_artifacts(archives, capsys, variant):
    """src/ (sys.path.insert behind src_dir.exists()) and enterprise_config.json (read behind .exists(), under an
    except Exception that falls back to the default policy): the code checks and falls back (issue 22, 11)."""
    _, out = check(archives["stygig", variant], "stygig", capsys)
    assert "missing-artifact" not in out, out


@pytest.mark.parametrize("project, call, where, host", [
    ("stygig", "create_model_and_transforms", "code/inference.py:111", "huggingface.co"),
    ("plasticdetection", "UnetPlusPlus", "code/marinedebrisdetector_mod/model/model.py:10", "huggingface.co"),
])
def test_startup_downloads_are_named(archives, capsys, project, call, where, host):
    """Issue 22 point 9: open_clip's pretrained='openai' and smp's default encoder_weights='imagenet' download when
    model_fn runs: named with the call, its line and the host."""
    _, out = check(archives[project, "fixed"], project, capsys)
    lines = [x for x in out.splitlines() if x.startswith("WARNING startup-download")]
    assert any(call in x and where in x and f"from {host}" in x for x in lines), out


def test_a_download_nothing_runs_is_not_named(archives, capsys):
    """MarineDebrisDetector.__init__ calls torch.hub.load, but nothing on the serving path instantiates it."""
    _, out = check(archives["plasticdetection", "fixed"], "plasticdetection", capsys)
    assert "startup-download" in out and "torch.hub" not in out and "github.com" not in out, out


def test_plastic_checkpoint_outside_model_dir_root_is_a_missing_artifact(archives, capsys):
    """model_fn hands <model_dir>/<ckpt> to load_from_checkpoint (by keyword) while the archive has it under code/."""
    _, out = check(archives["plasticdetection", "as-packed"], "plasticdetection", capsys)
    assert "missing-artifact" in out and f"({CKPT} is at code/{CKPT})" in out, out
