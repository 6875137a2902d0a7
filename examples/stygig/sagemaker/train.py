"""Build the StyGig model from a catalog directory and package it as model.tar.gz.

    python train.py --catalog DIR --code-root DIR --output PATH [--packaging buggy|fixed] [--limit N]

The archive holds, at its root: embeddings.npz, faiss_index.index, metadata.pkl, config.json,
encoder.pt, code/inference.py, code/requirements.txt and, with ``--packaging fixed``, code/stygig/
and config/. ``--packaging buggy`` reproduces the incident: it looks for the package at
``<code-root>/stygig`` (it lives at ``<code-root>/src/stygig``), finds nothing, says nothing, and
ships an archive whose inference.py cannot import ``stygig``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import pickle
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
import torch
from PIL import Image

# This file sits at <code root>/sagemaker/train.py; <code root> stands in for /opt/ml/code.
DEFAULT_CODE_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(DEFAULT_CODE_ROOT / "src"))
from stygig.core.color_logic import ColorProcessor
from stygig.core.gender_logic import GenderClassifier
from stygig.encoder import build_encoder

logger = logging.getLogger("stygig.train")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SEED = 0
ARCHIVE_MTIME = 1_700_000_000  # fixed, so the same inputs give the same archive bytes


def find_images(catalog: Path, limit: int | None = None) -> list[Path]:
    """Catalog images in key order; ``limit`` keeps an evenly spaced subset."""
    paths = sorted(p for p in catalog.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images under {catalog} (expected train/<category>/<type>/*.png)")
    if limit and limit < len(paths):
        paths = [paths[i * len(paths) // limit] for i in range(limit)]
    return paths


def load_settings(code_root: Path) -> dict:
    path = code_root / "config" / "settings.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the recommender settings live in <code-root>/config/")
    return json.loads(path.read_text())


def describe_items(paths: list[Path], images: list[Image.Image], catalog: Path, settings: dict) -> list[dict]:
    """Metadata per image: S3-style key, category and type from the folders, colour, gender."""
    colors = ColorProcessor()
    genders = GenderClassifier(**settings.get("gender", {}))
    items = []
    for path, image in zip(paths, images):
        key = path.relative_to(catalog).as_posix()
        category, item_type = path.parts[-3], path.parts[-2]
        color, rgb = colors.dominant_color(image)
        items.append(
            {
                "key": key,
                "category": category,
                "type": item_type,
                "color": color,
                "rgb": list(rgb),
                "gender": genders.classify(category, item_type),
            }
        )
    return items


def build_model_dir(catalog: Path, code_root: Path, model_dir: Path, limit: int | None = None) -> dict:
    """Write embeddings, index, metadata, config and encoder weights into ``model_dir``."""
    settings = load_settings(code_root)
    paths = find_images(catalog, limit)
    images = [Image.open(p).convert("RGB") for p in paths]
    items = describe_items(paths, images, catalog, settings)

    started = time.perf_counter()
    encoder = build_encoder(SEED)
    embeddings = encoder.encode(images)
    logger.info("Encoded %d images in %.1fs", len(images), time.perf_counter() - started)

    index = faiss.IndexFlatIP(embeddings.shape[1])
    index.add(embeddings)
    faiss.write_index(index, str(model_dir / "faiss_index.index"))
    np.savez(model_dir / "embeddings.npz", embeddings=embeddings, keys=np.array([i["key"] for i in items]))
    with open(model_dir / "metadata.pkl", "wb") as f:
        pickle.dump(items, f, protocol=4)
    torch.save(encoder.state_dict(), model_dir / "encoder.pt")
    config = {
        "model_name": "stygig-encoder",
        "embedding_dim": int(embeddings.shape[1]),
        "image_size": encoder.image_size,
        "seed": SEED,
        "num_items": len(items),
        "categories": sorted({i["category"] for i in items}),
        "recommendation": settings,
    }
    (model_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return config


def package_code(code_root: Path, model_dir: Path, packaging: str) -> None:
    """Copy the serving code (and, when fixed, the stygig package and config/) into the model dir."""
    code_dir = model_dir / "code"
    code_dir.mkdir()
    for name in ("inference.py", "requirements.txt"):
        shutil.copy2(code_root / "sagemaker" / name, code_dir / name)

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    if packaging == "buggy":
        source_dir = code_root / "stygig"  # the incident's bug: the package lives under src/
        if source_dir.exists():
            shutil.copytree(source_dir, code_dir / "stygig", ignore=ignore)
        return

    source_dir = code_root / "src" / "stygig"
    if not source_dir.is_dir():
        raise FileNotFoundError(f"{source_dir} is missing: inference.py imports the stygig package")
    # code/ is on the serving worker's import path; src/ is not.
    shutil.copytree(source_dir, code_dir / "stygig", ignore=ignore)
    logger.info("Copied %s to code/stygig", source_dir)
    shutil.copytree(code_root / "config", model_dir / "config", ignore=ignore)
    logger.info("Copied %s to config", code_root / "config")


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = ARCHIVE_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def write_archive(model_dir: Path, output: Path) -> list[str]:
    """Deterministic model.tar.gz with members at the archive root; returns the member names."""
    members = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*"))
    output.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(output, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name in members:
            tar.add(model_dir / name, arcname=name, recursive=False, filter=_normalise)
    return members


def package_fixed(code_root: Path, model_dir: Path, output: Path) -> list[str] | None:
    """The permanent fix as reusable parts: endpoint-runbook's packaging puts the package where the serving
    worker imports it (code/stygig/) and config/ at the root. None when endpoint-runbook is not installed."""
    try:
        from endpoint_runbook.archive import package_model
    except ImportError:
        return None
    result = package_model(output, model_dir=model_dir, entry_script=code_root / "sagemaker" / "inference.py",
                           requirements=code_root / "sagemaker" / "requirements.txt",
                           source_packages=[code_root / "src" / "stygig"], extra_dirs=[code_root / "config"])
    return list(result.members)


def check_before_saving(output: Path) -> bool:
    """`endpoint-runbook check-archive` as a training job would run it: False stops the job."""
    try:
        from endpoint_runbook.archive import check_archive
    except ImportError:
        logger.warning("endpoint-runbook is not installed: %s is not checked (pip install endpoint-runbook)", output)
        return True
    errors = [f for f in check_archive(output) if f.severity == "error"]
    for f in errors:
        logger.error("check-archive: %s: %s", f.code, f.message)
    return not errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the StyGig model and package model.tar.gz.")
    parser.add_argument("--catalog", type=Path, required=True, help="catalog root holding train/...")
    parser.add_argument(
        "--code-root",
        type=Path,
        default=DEFAULT_CODE_ROOT,
        help="source tree (stand-in for /opt/ml/code): src/stygig, config/, sagemaker/",
    )
    parser.add_argument("--output", type=Path, required=True, help="where to write model.tar.gz")
    parser.add_argument(
        "--packaging",
        choices=("buggy", "fixed"),
        default="fixed",
        help="fixed: ship code/stygig and config/; buggy: reproduce the incident's archive",
    )
    parser.add_argument("--limit", type=int, help="use an evenly spaced subset of N catalog images")
    parser.add_argument("--no-check", dest="check", action="store_false",
                        help="skip check-archive before saving (the incident's training job had no check)")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        config = build_model_dir(args.catalog, args.code_root, model_dir, args.limit)
        members = package_fixed(args.code_root, model_dir, args.output) if args.packaging == "fixed" else None
        if members is None:
            package_code(args.code_root, model_dir, args.packaging)
            members = write_archive(model_dir, args.output)
    if args.check and not check_before_saving(args.output):
        args.output.unlink()
        logger.error("Not saving %s: it would crash-loop on the endpoint. Fix the packaging.", args.output)
        return 1
    logger.info(
        "Wrote %s: %d items, %d categories, %d members",
        args.output,
        config["num_items"],
        len(config["categories"]),
        len(members),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
