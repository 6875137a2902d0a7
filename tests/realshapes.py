"""Model archives in the shapes of four real public SageMaker PyTorch projects, broken and fixed.

The serving code under ``tests/data/realshapes/<project>/`` is team-written test material: the same file and
folder layout, import structure, kinds of calls, handler signatures and requirement names as the repository at
the named commit, with our own small code (see that folder's README.md). ``build(project, variant, out_dir)``
packs an archive the way that repository packs it, with small deterministic weights the model code loads on the
project's image (created here, at build time):

- ``stygig`` (siddharths060/Stygig-Model-2 @1f073eb): the training job's ``/opt/ml/model`` (catalogue artefacts,
  ``code/inference.py``, ``code/requirements.txt``; the ``stygig`` package never copied); fixed as the
  repository's ``sagemaker/rebuild_model_archive.py`` fixes it (``src/stygig/`` and ``config/`` at the root).
- ``plasticdetection`` (OceanEcoWatch/PlasticDetectionModel @ba3bd1c): ``endpoint/upload_model_s3.py`` tars
  ``sagemaker_model/code`` as ``code/``; the Lightning checkpoint model_fn reads sits at the root.
- ``yif-ai`` (yiphei/yif-AI @55c3ac3, ``future_attention/``): the checkpoint ``model.pth`` repacked by the
  SageMaker SDK with ``source_dir="future_attention/"`` (the folder's files become ``code/``).
- ``swinir2`` (aws-samples/genai-media-upscaling-and-testing @1a40d3e, ``Plugins/swinir2-sagemaker``): the README's
  ``tar -czf model.tar.gz <weights>.pth`` repacked by the SDK with ``source_dir="./code/"``.

Archives are byte-for-byte deterministic. ``python tests/realshapes.py OUT_DIR`` builds every one.
"""

from __future__ import annotations

import argparse
import base64
import functools
import gzip
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parent / "data" / "realshapes"
_MTIME = 1_700_000_000  # every member's mtime, so that archives are reproducible


@dataclass(frozen=True)
class Request:
    """A request the project's own client sends (content type, accept, body)."""

    content_type: str
    accept: str
    body: bytes


@dataclass(frozen=True)
class Project:
    key: str
    repository: str  # owner/name @commit
    image: str  # the serving image the repository deploys with
    program: str  # SAGEMAKER_PROGRAM
    variants: dict[str, str]  # variant -> what it is
    packer: Callable[[str, Path], None]  # (variant, model_dir staging) -> writes the archive's files
    request: Callable[[], Request]


# ------------------------------------------------------------------------------------------ packing helpers


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime, info.uid, info.gid, info.uname, info.gname = _MTIME, 0, 0, "root", "root"
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def _no_pycache(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if "__pycache__" in info.name else _normalise(info)


def _open_tar_gz(path: Path) -> tuple[tarfile.TarFile, Callable[[], None]]:
    raw = open(path, "wb")
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
    tar = tarfile.open(fileobj=gz, mode="w")  # tarfile's default format, as the scripts and the SDK use

    def close() -> None:
        tar.close()
        gz.close()
        raw.close()

    return tar, close


def _copytree(src: Path, dst: Path, *, skip: tuple[str, ...] = ()) -> None:
    """shutil.copytree as the repositories' scripts use it, minus caches and the relative paths in ``skip``."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        rel = Path(folder).relative_to(src)
        return {n for n in names if n == "__pycache__" or n.endswith(".pyc") or (rel / n).as_posix() in skip}

    shutil.copytree(src, dst, ignore=ignore)


def _tar_top_level_items(model_dir: Path, out: Path) -> None:
    """``for item in work_dir.iterdir(): tar.add(item, arcname=item.name)`` (Stygig's rebuild script; the
    training job's own tar has the same members). Sorted here: iterdir's order is the file system's."""
    tar, close = _open_tar_gz(out)
    try:
        for item in sorted(model_dir.iterdir()):
            tar.add(item, arcname=item.name, filter=_normalise)
    finally:
        close()


def _sdk_repack(model_dir: Path, out: Path) -> None:
    """The SageMaker Python SDK's repack (``sagemaker.utils.repack_model``): the extracted model with code/
    replaced, tarred as ``tar.add(model_dir, arcname=os.path.sep)`` (a root member named '')."""
    tar, close = _open_tar_gz(out)
    try:
        tar.add(model_dir, arcname=os.path.sep, filter=_normalise)
    finally:
        close()


def _torch_save(obj, path: Path) -> None:
    import torch

    torch.save(obj, path)


def _det_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed with fixed zip timestamps (numpy stamps the current time)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
            z.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(2023, 11, 14, 0, 0, 0)), buf.getvalue(),
                       compress_type=zipfile.ZIP_DEFLATED)


def _png(width: int, height: int) -> bytes:
    """A small deterministic RGB picture (a colour gradient with a square), PNG-encoded."""
    from PIL import Image

    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), np.full_like(x, 90)], -1)
    rgb[height // 4: height // 2, width // 4: width // 2] = (200, 30, 40)
    buf = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_request_image() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.open(io.BytesIO(_png(64, 64))).save(buf, format="JPEG", quality=90)
    return base64.b64encode(buf.getvalue()).decode()


# ------------------------------------------------------------------------------------------ stygig

STYGIG = ROOT / "stygig"
STYGIG_CATEGORIES = ("upperwear_shirt", "bottomwear_pants", "one-piece_dress")
STYGIG_COLORS = ("blue", "beige", "red", "navy")


def _stygig_training_output(model_dir: Path) -> None:
    """What the training job leaves in /opt/ml/model: the catalogue (4 items per category, CLIP ViT-B-32's 512
    dimensions), config.json, code/inference.py and code/requirements.txt. Its copy of the package looks in
    /opt/ml/code/stygig, where the package is not (it is at /opt/ml/code/src/stygig): nothing is copied."""
    import faiss

    rng = np.random.default_rng(20231114)
    metadata, embeddings, vectors = {}, {}, []
    for category in STYGIG_CATEGORIES:
        vecs = rng.standard_normal((4, 512)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        embeddings[category] = vecs
        vectors.append(vecs)
        metadata[category] = [
            {"id": f"{category}{i}", "path": f"train/{category}/{category}{i}.png", "category": category,
             "gender": "female" if category == "one-piece_dress" else ("male", "unisex")[i % 2],
             "color": STYGIG_COLORS[i]}
            for i in range(4)
        ]
    index = faiss.IndexFlatIP(512)
    index.add(np.concatenate(vectors))
    model_dir.mkdir(parents=True)
    (model_dir / "metadata.pkl").write_bytes(pickle.dumps(metadata, protocol=4))
    _det_npz(model_dir / "embeddings.npz", embeddings)
    faiss.write_index(index, str(model_dir / "faiss_index.index"))
    (model_dir / "config.json").write_text(json.dumps({
        "clip_model": "ViT-B-32", "clip_pretrained": "openai", "embed_dim": 512,
        "faiss_index_type": "IndexFlatIP", "n_clusters": 3, "scl_enabled": False}, indent=2))
    code = model_dir / "code"
    code.mkdir()
    shutil.copy(STYGIG / "sagemaker" / "inference.py", code / "inference.py")
    shutil.copy(STYGIG / "sagemaker" / "requirements.txt", code / "requirements.txt")


def _pack_stygig(variant: str, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "model_work"
        _stygig_training_output(work)
        if variant in ("fixed", "src-only"):  # rebuild_model_archive.py: src/stygig, then config/ if present
            _copytree(STYGIG / "src" / "stygig", work / "src" / "stygig")
            if variant == "fixed":
                _copytree(STYGIG / "config", work / "config")
        _tar_top_level_items(work, out)


def _stygig_request() -> Request:
    body = json.dumps({"image": _jpeg_request_image(), "n_recommendations": 3}).encode()
    return Request("application/json", "application/json", body)


# ------------------------------------------------------------------------------------------ plasticdetection

PLASTIC = ROOT / "plasticdetection"
PLASTIC_CKPT = "epoch=12-val_loss=0.41-auroc=0.981.ckpt"
#: The part of a Lightning checkpoint of SegmentationModel(UnetPlusPlus(in_channels=12, classes=1)) we ship:
#: model_fn loads it with strict=False, so the rest keeps smp's ImageNet encoder (downloaded) and its init.
PLASTIC_SHIPPED_KEYS = ("threshold", "model.segmentation_head.0.weight", "model.segmentation_head.0.bias")


def _plastic_checkpoint(path: Path) -> None:
    """A pytorch-lightning checkpoint as ``Trainer.save_checkpoint`` writes it for a module whose __init__(args)
    calls ``save_hyperparameters()``: the hyper-parameters hold the argparse Namespace (a pickled object, so
    torch.load needs weights_only=False, the default of the image's torch 2.0.1)."""
    import torch

    g = torch.Generator().manual_seed(54)
    state = {
        "threshold": torch.tensor(0.42),
        "model.segmentation_head.0.weight": torch.randn(1, 16, 3, 3, generator=g) * 0.05,
        "model.segmentation_head.0.bias": torch.zeros(1),
    }
    _torch_save({
        "epoch": 12,
        "global_step": 1300,
        "pytorch-lightning_version": "2.0.0",
        "state_dict": state,
        "hparams_name": "kwargs",
        "hyper_parameters": {"args": argparse.Namespace(
            model="unet++", learning_rate=0.001, weight_decay=1e-6, hr_only=False, seed=1)},
    }, path)


def _pack_plastic(variant: str, out: Path) -> None:
    skip = {"broken": ("marinedebrisdetector_mod",), "partial": ("marinedebrisdetector_mod/model/model.py",)}
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "sagemaker_model" / "code"
        _copytree(PLASTIC / "sagemaker_model" / "code", code, skip=skip.get(variant, ()))
        ckpt = Path(tmp) / PLASTIC_CKPT
        _plastic_checkpoint(ckpt)
        if variant == "as-packed":  # the checkpoint where the repository's own test keeps it: in code/
            shutil.move(ckpt, code / PLASTIC_CKPT)
        tar, close = _open_tar_gz(out)
        try:  # endpoint/upload_model_s3.py: tar.add(source_dir, arcname=basename(source_dir), filter=...)
            tar.add(code, arcname=os.path.basename(str(code)), filter=_no_pycache)
            if variant != "as-packed":
                tar.add(ckpt, arcname=PLASTIC_CKPT, filter=_normalise)
        finally:
            close()


def _tiff_12_band(width: int = 32, height: int = 32) -> bytes:
    """A minimal little-endian TIFF: 12 uint16 bands (pixel-interleaved), one strip, no georeferencing (a
    Sentinel-2 L2A tile's band count and reflectance scale)."""
    rng = np.random.default_rng(2400)
    pixels = rng.integers(200, 3000, size=(height, width, 12), dtype=np.uint16)
    data = pixels.tobytes()
    n_tags = 11
    ifd_at = 8
    extra_at = ifd_at + 2 + n_tags * 12 + 4
    bits_at, extra_samples_at = extra_at, extra_at + 24
    data_at = extra_samples_at + 22
    entries = [  # (tag, type, count, value or offset)
        (256, 3, 1, width), (257, 3, 1, height), (258, 3, 12, bits_at), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, 1, data_at), (277, 3, 1, 12), (278, 3, 1, height), (279, 4, 1, len(data)), (284, 3, 1, 1),
        (338, 3, 11, extra_samples_at),
    ]
    out = bytearray(b"II*\x00" + ifd_at.to_bytes(4, "little") + n_tags.to_bytes(2, "little"))
    for tag, typ, count, value in entries:
        out += tag.to_bytes(2, "little") + typ.to_bytes(2, "little") + count.to_bytes(4, "little")
        out += value.to_bytes(4 if typ == 4 or count > 2 else 2, "little").ljust(4, b"\0")
    out += (0).to_bytes(4, "little")
    out += b"".join((16).to_bytes(2, "little") for _ in range(12))
    out += bytes(22)  # ExtraSamples: 11 x 0 (unspecified)
    assert len(out) == data_at
    return bytes(out + data)


def _plastic_request() -> Request:
    return Request("application/octet-stream", "application/json", _tiff_12_band())


# ------------------------------------------------------------------------------------------ yif-ai

YIF = ROOT / "yif-ai"
YIF_PACKAGES = ("future_attention", "utils", "baseline_transformer")
#: Run with the yif-ai folder on sys.path: the checkpoint pickles future_attention.model.FutureAttnLossType.
_YIF_CHECKPOINT = """
import dataclasses, sys, torch
from future_attention.model import FutureAttentionTransformer, FutureAttnLossType, ModelConfig
torch.manual_seed(1337)
config = ModelConfig(context_size=16, n_embed=8, n_layer=1, n_head=2, alphabet_size=50257,
                     future_attn_loss_type=FutureAttnLossType.MSE)
model = FutureAttentionTransformer(config)
optimizer = torch.optim.AdamW(model.parameters(), lr=6e-4)
model_config = dataclasses.asdict(config)
train_config = {"model_config": dict(model_config), "random_seed": 1337, "batch_size": 4, "train_steps": 20,
                "gradient_accumulation_steps": 1, "lr": 6e-4, "warmup_iters": 2, "lr_decay_iters": 20,
                "est_interval": 10, "est_steps": 2, "dtype": "float32", "compile": False}
torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "model_config": model_config,
            "iter_num": 20, "config": train_config, "best_val_loss": 5.1}, sys.argv[1])
"""


@functools.lru_cache(maxsize=1)
def _yif_checkpoint_bytes() -> bytes:
    """``utils/train.py``'s ``get_torch_save_dict`` of a tiny model (GPT-2's 50257 tokens, 8 dimensions): the
    config dicts hold the ``FutureAttnLossType`` member, so loading needs ``torch.load`` with weights_only=False
    (torch 2.1's default; torch >= 2.6 refuses it) and ``future_attention.model`` importable. Made once per
    process, in a child process (the model's packages are not imported here)."""
    env = dict(os.environ, PYTHONPATH=str(YIF), PYTHONDONTWRITEBYTECODE="1")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pth"
        subprocess.run([sys.executable, "-c", _YIF_CHECKPOINT, str(path)], env=env, check=True, cwd=YIF,
                       capture_output=True, timeout=300)
        return path.read_bytes()


def _pack_yif(variant: str, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        model.mkdir()
        (model / "model.pth").write_bytes(_yif_checkpoint_bytes())  # the training job's model.tar.gz: model.pth at the root
        # PyTorchModel(model_data=..., entry_point="inference.py", source_dir="future_attention/"): the folder's
        # files become code/ (the repository's script names source_dir "transformer_dropout/", stale)
        _copytree(YIF / "future_attention", model / "code")
        if variant == "sdk-dependencies":  # dependencies=[...]: the SDK puts them under code/lib/<name>
            for pkg in YIF_PACKAGES:
                _copytree(YIF / pkg, model / "code" / "lib" / pkg)
        elif variant in ("fixed", "partial"):
            for pkg in YIF_PACKAGES if variant == "fixed" else YIF_PACKAGES[:2]:
                _copytree(YIF / pkg, model / "code" / pkg)
        _sdk_repack(model, out)


def _yif_request() -> Request:
    # infra_utils/sagemaker_scripts/run_inference.py sends {"start_tokens": "\n", "max_tokens": 1000}
    return Request("application/json", "application/json", json.dumps({"start_tokens": "\n", "max_tokens": 8}).encode())


# ------------------------------------------------------------------------------------------ swinir2

SWINIR = ROOT / "swinir2" / "Plugins" / "swinir2-sagemaker"
SWINIR_WEIGHTS = "Swin2SR_RealworldSR_X4_64_BSRGAN_PSNR.pth"
SWINIR_EMBED, SWINIR_FEAT, SWINIR_DEPTHS = 8, 16, (2,)  # load_model.py's real_sr settings, network's num_feat


def swinir_state_dict() -> dict:
    """Weights of network_swin2sr.Swin2SR for the real_sr task that make it a real x4 upscaler: the body is a
    residual identity, the features carry the RGB channels through nearest x2 twice, and conv_hr smooths them
    with a 3x3 binomial kernel (a soft nearest-neighbour upscale)."""
    import torch

    E, F = SWINIR_EMBED, SWINIR_FEAT

    def conv(cout, cin, kernel=None):
        w = torch.zeros(cout, cin, 3, 3)
        if kernel is not None:
            for c in range(3):
                w[c, c] = kernel
        return w, torch.zeros(cout)

    point = torch.zeros(3, 3)
    point[1, 1] = 1.0
    binomial = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    sd = {}

    def put(name, pair):
        sd[f"{name}.weight"], sd[f"{name}.bias"] = pair

    put("conv_first", conv(E, 3, point))
    for i, depth in enumerate(SWINIR_DEPTHS):
        for j in range(depth):
            put(f"layers.{i}.blocks.{j}.conv1", conv(E, E))
            put(f"layers.{i}.blocks.{j}.conv2", conv(E, E))
        put(f"layers.{i}.conv", conv(E, E))
    put("conv_after_body", conv(E, E))
    put("conv_before_upsample.0", conv(F, E, point))
    put("conv_up1", conv(F, F, point))
    put("conv_up2", conv(F, F, point))
    put("conv_hr", conv(F, F, binomial))
    put("conv_last", conv(3, F, point))
    return sd


def _pack_swinir(variant: str, out: Path) -> None:
    skip = {"broken": ("swinir",), "partial": ("swinir/network_swin2sr.py",)}
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        model.mkdir()
        _torch_save({"params_ema": swinir_state_dict()}, model / SWINIR_WEIGHTS)  # `tar -czf model.tar.gz <.pth>`
        # deploy.py: PyTorchModel(model_data="model.tar.gz", source_dir="./code/", entry_point="inference.py")
        _copytree(SWINIR / "code", model / "code", skip=skip.get(variant, ()))
        _sdk_repack(model, out)


def _swinir_request() -> Request:
    # test/test.py: {"image": base64 of a PNG frame}, content type and accept application/json
    body = json.dumps({"image": base64.b64encode(_png(24, 16)).decode()}).encode()
    return Request("application/json", "application/json", body)


def swinir_upscaled_size(response_body: bytes) -> tuple[int, int]:
    """(width, height) of the picture in a swinir2 response ({"generated_images": [base64 JPEG], ...})."""
    from PIL import Image

    (b64,) = json.loads(response_body)["generated_images"]
    return Image.open(io.BytesIO(base64.b64decode(b64))).size


# ------------------------------------------------------------------------------------------ the projects

PROJECTS: dict[str, Project] = {
    "stygig": Project(
        "stygig", "siddharths060/Stygig-Model-2@1f073eb",
        "763104351884.dkr.ecr.ap-south-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310", "inference.py",
        {"broken": "the training job's output: no src/stygig/, no config/",
         "fixed": "rebuild_model_archive.py: src/stygig/ and config/ added at the root",
         "src-only": "rebuild_model_archive.py on a checkout without config/ (it warns and goes on)"},
        _pack_stygig, _stygig_request),
    "plasticdetection": Project(
        "plasticdetection", "OceanEcoWatch/PlasticDetectionModel@ba3bd1c",
        "763104351884.dkr.ecr.eu-central-1.amazonaws.com/pytorch-inference:2.0.1-cpu-py310", "inference.py",
        {"broken": "code/ without marinedebrisdetector_mod/",
         "fixed": "code/ as upload_model_s3.py packs it, the checkpoint at the root",
         "partial": "marinedebrisdetector_mod/ without model/model.py (reached from segmentation_model)",
         "as-packed": "fixed, but the checkpoint in code/ (where the repository's test keeps it), not at the root"},
        _pack_plastic, _plastic_request),
    "yif-ai": Project(
        "yif-ai", "yiphei/yif-AI@55c3ac3",
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1.0-cpu-py310", "inference.py",
        {"broken": "the SDK repack with source_dir=future_attention/: none of the three packages",
         "fixed": "code/future_attention/, code/utils/, code/baseline_transformer/ added",
         "partial": "future_attention and utils added; baseline_transformer (a second-level import) missing",
         "sdk-dependencies": "the SDK's dependencies=[...] placement: code/lib/<package>/ (not importable)"},
        _pack_yif, _yif_request),
    "swinir2": Project(
        "swinir2", "aws-samples/genai-media-upscaling-and-testing@1a40d3e (Plugins/swinir2-sagemaker)",
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.0.0-gpu-py310-cu118-ubuntu20.04-sagemaker",
        "inference.py",
        {"broken": "code/ without swinir/",
         "fixed": "code/ as deploy.py's repack packs it (swinir/ is a namespace package)",
         "partial": "code/swinir/ without network_swin2sr.py"},
        _pack_swinir, _swinir_request),
}


def build(project: str, variant: str, out_dir: Path) -> Path:
    """Packs ``project``'s archive in ``variant`` (see ``PROJECTS[project].variants``) into ``out_dir``."""
    if project not in PROJECTS:
        raise ValueError(f"unknown project {project!r}: one of {', '.join(PROJECTS)}")
    p = PROJECTS[project]
    if variant not in p.variants:
        raise ValueError(f"unknown variant {variant!r} of {project}: one of {', '.join(p.variants)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{project}-{variant}.tar.gz"
    p.packer(variant, out)
    return out


def members(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return [m.name + ("/" if m.isdir() else "") for m in tar.getmembers()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="build the real-shape archives")
    ap.add_argument("out_dir")
    ap.add_argument("--project", action="append", choices=sorted(PROJECTS))
    args = ap.parse_args(argv)
    for key in args.project or PROJECTS:
        for variant in PROJECTS[key].variants:
            path = build(key, variant, Path(args.out_dir))
            print(f"{path}  ({path.stat().st_size} bytes, image {PROJECTS[key].image})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
