"""SageMaker PyTorch serving handlers for the StyGig recommender.

The container puts ``/opt/ml/model/code`` (this file's folder) and ``/opt/ml/model`` on the import
path, so the ``stygig`` package must ship as ``code/stygig/`` in model.tar.gz.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import json
import logging
import pickle
import sys
import time
from pathlib import Path

import boto3
import faiss
import numpy as np
import torch
from botocore.exceptions import ClientError
from PIL import Image, UnidentifiedImageError
from sagemaker_inference.errors import BaseInferenceToolkitError
from stygig.core.color_logic import ColorProcessor
from stygig.core.gender_logic import GenderClassifier
from stygig.core.ranking import Query, guess_category, rank
from stygig.core.rules import CategoryRules
from stygig.encoder import ImageEncoder

# TorchServe has already sent the root logger to stdout (MODEL_LOG); this only matters elsewhere.
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
logger = logging.getLogger("stygig.inference")
logger.setLevel(logging.INFO)

JSON_TYPE = "application/json"
IMAGE_TYPES = ("image/png", "image/jpeg", "application/x-image", "application/octet-stream")
MAX_TOP_K = 50


class BadRequest(BaseInferenceToolkitError):
    """A client error: the toolkit answers with this status and message, and the worker keeps serving."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(status, message, message)


def load_settings(model_dir: Path, config: dict) -> tuple[dict, str]:
    """Recommendation settings: ``config/settings.json`` over the defaults saved in config.json."""
    settings = dict(config["recommendation"])
    path = model_dir / "config" / "settings.json"
    if not path.is_file():
        return settings, "config.json defaults (no config/settings.json in the model)"
    settings.update(json.loads(path.read_text()))
    return settings, str(path)


def model_fn(model_dir: str) -> dict:
    """Load the encoder, the FAISS index, the catalog metadata and the recommendation rules."""
    root = Path(model_dir)
    config = json.loads((root / "config.json").read_text())
    settings, source = load_settings(root, config)
    logger.info("Recommendation settings from %s", source)

    started = time.perf_counter()
    encoder = ImageEncoder(config["embedding_dim"], config["image_size"])
    encoder.load_state_dict(torch.load(root / "encoder.pt", map_location="cpu", weights_only=True))
    encoder.eval()
    logger.info("✓ CLIP model loaded in %.1fs", time.perf_counter() - started)

    index = faiss.read_index(str(root / "faiss_index.index"))
    embeddings = np.load(root / "embeddings.npz")["embeddings"]
    with open(root / "metadata.pkl", "rb") as f:
        items = pickle.load(f)
    if not index.ntotal == len(embeddings) == len(items):
        raise ValueError(
            f"model files disagree: faiss_index.index has {index.ntotal} vectors, embeddings.npz "
            f"{len(embeddings)}, metadata.pkl {len(items)} items; rebuild them together with train.py"
        )
    model = {
        "encoder": encoder,
        "index": index,
        "items": items,
        "settings": settings,
        "colors": ColorProcessor(),
        "genders": GenderClassifier(**settings.get("gender", {})),
        "rules": CategoryRules.from_settings(settings),
    }
    logger.info("✓ All models initialized")
    logger.info("✓ Loaded metadata for %d categories", len({item["category"] for item in items}))
    return model


@functools.lru_cache(maxsize=1)
def s3_client():
    """One S3 client per worker; boto3 takes region and endpoint from the standard AWS variables."""
    return boto3.client("s3")


def read_s3(uri: object) -> bytes:
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise BadRequest(f"s3_uri must look like s3://bucket/key, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise BadRequest(f"s3_uri must look like s3://bucket/key, got {uri!r}")
    try:
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "NoSuchBucket", "404"):
            raise BadRequest(f"{uri} does not exist ({code}): check the bucket and key") from e
        raise


def open_image(data: bytes, source: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as e:
        raise BadRequest(f"{source} is not an image ({len(data)} bytes): send a PNG or JPEG") from e
    return image.convert("RGB")


def parse_json_request(body: str | bytes) -> dict:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"request body is not valid JSON: {e}") from e
    if not isinstance(payload, dict):
        raise BadRequest('a JSON request must be an object with "s3_uri" or "image_base64"')

    if "s3_uri" in payload:
        source = payload["s3_uri"]
        image = open_image(read_s3(source), source)
    elif "image_base64" in payload:
        source = "image_base64"
        try:
            data = base64.b64decode(payload["image_base64"], validate=True)
        except (binascii.Error, TypeError, ValueError) as e:
            raise BadRequest(f"image_base64 is not valid base64: {e}") from e
        image = open_image(data, source)
    else:
        raise BadRequest('a JSON request needs "s3_uri" (s3://bucket/key) or "image_base64"')

    top_k = payload.get("top_k")
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K
    ):
        raise BadRequest(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}")
    gender = payload.get("gender")
    if gender is not None and gender not in GenderClassifier.GENDERS:
        raise BadRequest(f"gender must be one of {', '.join(GenderClassifier.GENDERS)}, got {gender!r}")
    return {"image": image, "source": source, "top_k": top_k, "gender": gender}


def input_fn(body: str | bytes, content_type: str | None) -> dict:
    """A JSON request (``s3_uri`` or ``image_base64``, optional ``top_k``, ``gender``) or a raw image."""
    started = time.perf_counter()
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == JSON_TYPE:
        request = parse_json_request(body)
    elif media_type in IMAGE_TYPES:
        image = open_image(bytes(body), "request body")
        request = {"image": image, "source": "request body", "top_k": None, "gender": None}
    else:
        raise BadRequest(
            f"content type {content_type!r} is not supported: send {JSON_TYPE} "
            f'({{"s3_uri": "s3://bucket/key"}} or {{"image_base64": ...}}) or an image '
            f"({', '.join(IMAGE_TYPES)})",
            status=415,
        )
    request["fetch_ms"] = (time.perf_counter() - started) * 1000
    return request


def predict_fn(data: dict, model: dict) -> dict:
    """Encode the image, search the index, re-rank with the colour, gender and category rules."""
    settings = model["settings"]
    started = time.perf_counter()
    embedding = model["encoder"].encode([data["image"]])
    encoded = time.perf_counter()

    pool = min(settings["candidate_pool"], model["index"].ntotal)
    similarities, ids = model["index"].search(embedding, pool)
    neighbours = [(model["items"][i], float(s)) for i, s in zip(ids[0], similarities[0]) if i >= 0]
    searched = time.perf_counter()

    color, rgb = model["colors"].dominant_color(data["image"])
    category, item_type = guess_category(neighbours, settings["category_votes"])
    gender = data["gender"] or model["genders"].classify(category, item_type)
    ranked = rank(
        Query(color=color, category=category, gender=gender),
        neighbours,
        colors=model["colors"],
        genders=model["genders"],
        rules=model["rules"],
        weights=settings["weights"],
        top_k=data["top_k"] or settings["top_k"],
    )
    ranked_at = time.perf_counter()

    timing = {
        "fetch_ms": data["fetch_ms"],
        "encode_ms": (encoded - started) * 1000,
        "search_ms": (searched - encoded) * 1000,
        "rank_ms": (ranked_at - searched) * 1000,
    }
    return {
        "query": {
            "source": data["source"],
            "dominant_color": color,
            "dominant_rgb": list(rgb),
            "category_guess": category,
            "type_guess": item_type,
            "gender": gender,
            "compatible_categories": model["rules"].compatible(category),
            "timing_ms": {name: round(ms, 2) for name, ms in timing.items()},
        },
        "recommendations": [{"rank": n, **item} for n, item in enumerate(ranked, start=1)],
    }


def output_fn(prediction: dict, accept: str | None) -> tuple[str, str]:
    """The prediction as JSON."""
    media_type = (accept or JSON_TYPE).split(";")[0].strip().lower()
    if media_type not in (JSON_TYPE, "*/*"):
        raise BadRequest(f"cannot answer in {accept!r}: this model returns {JSON_TYPE}", status=406)
    return json.dumps(prediction), JSON_TYPE
