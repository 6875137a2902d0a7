"""The offline engine: the same rules the serving script applies, over a local catalogue."""

import json
import logging
from pathlib import Path
from typing import Dict, List

import numpy as np

# Relative imports inside the package; the absolute form when the folder itself is on sys.path.
try:
    from .color_logic import ColorProcessor
    from .gender_logic import GenderClassifier
    from .rules.category_compatibility import CATEGORY_COMPATIBILITY
except ImportError:
    from color_logic import ColorProcessor
    from gender_logic import GenderClassifier
    from rules.category_compatibility import CATEGORY_COMPATIBILITY

logger = logging.getLogger(__name__)


class FashionEngine:
    def __init__(self, catalogue_path: str, n_clusters: int = 3):
        self.catalogue = json.loads(Path(catalogue_path).read_text())
        self.colors = ColorProcessor(n_clusters=n_clusters)
        self.genders = GenderClassifier()

    def compatible(self, category: str) -> List[str]:
        return CATEGORY_COMPATIBILITY.get(category, [])

    def rank(self, query: Dict, embeddings: np.ndarray) -> List[Dict]:
        scores = embeddings @ np.asarray(query["embedding"], dtype=np.float32)
        items = [dict(item, score=float(s)) for item, s in zip(self.catalogue, scores)]
        return sorted(items, key=lambda i: i["score"], reverse=True)
