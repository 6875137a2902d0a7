#!/usr/bin/env python3
"""Serving handlers for the outfit recommender (SageMaker PyTorch inference toolkit).

model_fn loads the catalogue artefacts from the model directory and builds CLIP; input_fn takes a base64 image
(JSON) or a raw image; predict_fn embeds it, searches the FAISS index and applies the colour and gender rules;
output_fn returns JSON.
"""

import json
import logging
import os
import pickle
import sys
from pathlib import Path

# The project's src/ next to code/ goes first on the import path when it is there.
current_dir = Path(__file__).resolve().parent
project_root = current_dir.parent
src_dir = project_root / "src"
if src_dir.exists():
    sys.path.insert(0, str(src_dir))
import base64
from io import BytesIO
from typing import Any, Dict, List, Tuple

import faiss
import numpy as np
from PIL import Image

# Where the packages live inside the container's model directory.
sys.path.append("/opt/ml/model")
sys.path.append("/opt/ml/model/src")
sys.path.append("/opt/ml/model/src/stygig")

# The recommendation policy, when config/ ships with the model.
try:
    from config.recommendation_config import RecommendationConfig, get_config
except ImportError:
    # Serve with the built-in policy instead.
    RecommendationConfig = None
    get_config = None

logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
logger = logging.getLogger(__name__)

MODEL_DATA = {}


class OutfitRecommender:
    """Everything the endpoint needs: CLIP, the FAISS index, the catalogue metadata and the rules."""

    def __init__(self, model_dir: str, config=None):
        self.model_dir = Path(model_dir)
        self.policy = config
        self.device = None
        self.clip_model = None
        self.clip_preprocess = None
        self.color_processor = None
        self.gender_classifier = None
        self.faiss_index = None
        self.metadata = {}
        self.embeddings = {}
        self.config = {}
        self.weights = {"color": 0.45, "category": 0.25, "gender": 0.3}

    def load_model_artifacts(self):
        try:
            logger.info("Loading model artefacts from %s", self.model_dir)
            config_path = self.model_dir / "config.json"
            if config_path.exists():
                with open(config_path) as f:
                    self.config = json.load(f)
            else:
                self.config = {"clip_model": "ViT-B-32", "clip_pretrained": "openai", "embed_dim": 512,
                               "n_clusters": 3}
            self._initialize_models()

            metadata_path = self.model_dir / "metadata.pkl"
            if metadata_path.exists():
                with open(metadata_path, "rb") as f:
                    self.metadata = pickle.load(f)
            embeddings_path = self.model_dir / "embeddings.npz"
            if embeddings_path.exists():
                data = np.load(embeddings_path, allow_pickle=True)
                self.embeddings = {k: data[k] for k in data.files}
            index_path = self.model_dir / "faiss_index.index"
            if index_path.exists():
                self.faiss_index = faiss.read_index(str(index_path))
            else:
                logger.warning("No FAISS index in the model: an empty flat index instead")
                self.faiss_index = faiss.IndexFlatIP(self.config.get("embed_dim", 512))
            logger.info("Loaded %d catalogue vectors", self.faiss_index.ntotal)
        except Exception as e:
            logger.error(f"Failed to load model artefacts: {e}")
            raise

    def _initialize_models(self):
        try:
            import open_clip
            import torch
            from stygig.core.color_logic import ColorProcessor
            from stygig.core.gender_logic import GenderClassifier

            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            # /opt/ml/model is read-only: pretrained weights are cached under /tmp.
            cache_dir = "/tmp/.cache"
            os.makedirs(cache_dir, exist_ok=True)
            os.environ["TORCH_HOME"] = cache_dir
            os.environ["HF_HOME"] = cache_dir
            logger.info("Creating CLIP %s/%s", self.config["clip_model"], self.config["clip_pretrained"])
            components = open_clip.create_model_and_transforms(
                self.config["clip_model"],
                pretrained=self.config["clip_pretrained"],
                cache_dir=cache_dir,
            )
            self.clip_model, self.clip_preprocess = components[0], components[1]
            self.clip_model = self.clip_model.to(self.device).eval()
            for param in self.clip_model.parameters():
                param.requires_grad = False

            self.color_processor = ColorProcessor(n_clusters=self.config.get("n_clusters", 3))
            self.gender_classifier = GenderClassifier()
            logger.info("Models initialised")
        except Exception as e:
            logger.error(f"Failed to initialise models: {e}")
            raise

    def extract_image_features(self, image: Image.Image) -> Tuple[np.ndarray, str, str, float]:
        import tempfile

        import torch

        image = image.convert("RGB")
        color, gender, gender_conf = "unknown", "unknown", 0.0
        with tempfile.NamedTemporaryFile(suffix=".jpg") as tmp:
            image.save(tmp.name)
            try:
                colors = self.color_processor.extract_dominant_colors(tmp.name)
                color = colors[0][0] if colors else "unknown"
            except Exception as e:
                logger.warning(f"Colour extraction failed: {e}")
            try:
                gender, gender_conf = self.gender_classifier.predict_gender(tmp.name)
            except Exception as e:
                logger.warning(f"Gender prediction failed: {e}")
        with torch.no_grad():
            tensor = self.clip_preprocess(image).unsqueeze(0).to(self.device)
            embedding = self.clip_model.encode_image(tensor).cpu().numpy()[0]
        embedding = embedding / max(float(np.linalg.norm(embedding)), 1e-12)
        return embedding.astype(np.float32), color, gender, float(gender_conf)

    def search(self, embedding: np.ndarray, k: int) -> List[Tuple[int, float]]:
        if self.faiss_index.ntotal == 0:
            return []
        scores, ids = self.faiss_index.search(embedding.reshape(1, -1), min(k, self.faiss_index.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    def items_for(self, hits: List[Tuple[int, float]]) -> List[Tuple[Dict, float]]:
        flat = [item for items in self.metadata.values() for item in items]
        return [(flat[i], score) for i, score in hits if i < len(flat)]

    def score(self, color: str, gender: str, candidates, n: int) -> List[Dict]:
        scored = []
        for item, similarity in candidates:
            color_score = self.color_processor.calculate_color_harmony(color, item.get("color", "unknown"))
            gender_score = 1.0 if item["gender"] == gender else 0.75
            total = (self.weights["color"] * color_score + self.weights["category"]
                     + self.weights["gender"] * gender_score)
            scored.append({"id": item["id"], "category": item["category"], "color": item.get("color"),
                           "score": round(total, 4), "similarity": round(similarity, 4)})
        return sorted(scored, key=lambda s: s["score"], reverse=True)[:n]

    def predict(self, image: Image.Image, n_recommendations: int = 5) -> Dict[str, Any]:
        if self.policy:
            n_recommendations = self.policy.max_total_recommendations
            k = self.policy.get_search_k(self.faiss_index.ntotal)
        else:
            k = min(200, self.faiss_index.ntotal)
        embedding, color, gender, gender_conf = self.extract_image_features(image)
        candidates = self.items_for(self.search(embedding, k))
        return {"query_item": {"dominant_color": color, "predicted_gender": gender,
                               "gender_confidence": round(gender_conf, 4)},
                "recommendations": self.score(color, gender, candidates, n_recommendations),
                "total_candidates": len(candidates)}


def model_fn(model_dir: str):
    try:
        policy = None
        if RecommendationConfig and get_config:
            try:
                policy_path = Path(model_dir) / "enterprise_config.json"
                if policy_path.exists():
                    policy = RecommendationConfig.from_json_file(str(policy_path))
                else:
                    policy = get_config("default")
            except Exception as e:
                logger.warning(f"Policy not loaded ({e}): the default one")
                policy = get_config("default") if get_config else None
        engine = OutfitRecommender(model_dir, config=policy)
        engine.load_model_artifacts()
        MODEL_DATA["engine"] = engine
        return engine
    except Exception as e:
        logger.error(f"Failed to load model: {e}")
        raise


def input_fn(request_body, request_content_type: str):
    try:
        if request_content_type == "application/json":
            data = json.loads(request_body)
            if "image" not in data:
                raise ValueError("No 'image' field in the JSON request")
            image = Image.open(BytesIO(base64.b64decode(data["image"]))).convert("RGB")
            n = data.get("n_recommendations", 5)
        elif request_content_type.startswith("image/"):
            image = Image.open(BytesIO(request_body)).convert("RGB")
            n = 5
        else:
            raise ValueError(f"Unsupported content type: {request_content_type}")
        return {"image": image, "n_recommendations": n}
    except Exception as e:
        logger.error(f"Failed to parse input: {e}")
        raise ValueError(f"Invalid input format: {e}")


def predict_fn(input_data: Dict, model):
    try:
        engine = model if isinstance(model, OutfitRecommender) else MODEL_DATA.get("engine")
        if engine is None:
            raise RuntimeError("Inference engine not loaded")
        return engine.predict(input_data["image"], input_data.get("n_recommendations", 5))
    except Exception as e:
        logger.error(f"Prediction failed: {e}")
        return {"error": str(e), "query_item": None, "recommendations": []}


def output_fn(prediction: Dict, accept: str):
    return json.dumps(prediction, indent=2 if accept == "application/json" else None)
