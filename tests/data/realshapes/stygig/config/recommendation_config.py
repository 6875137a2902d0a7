"""How many items per category a recommendation holds, and how wide the index search goes."""

import json
import logging
from dataclasses import asdict, dataclass

logger = logging.getLogger(__name__)


@dataclass
class RecommendationConfig:
    items_per_category: int = 2
    max_total_recommendations: int = 10
    min_similarity_threshold: float = 0.5
    faiss_search_multiplier: int = 4

    def get_search_k(self, catalogue_size: int) -> int:
        return max(1, min(catalogue_size, self.max_total_recommendations * self.faiss_search_multiplier))

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, values):
        return cls(**values)

    @classmethod
    def from_json_file(cls, filepath: str) -> "RecommendationConfig":
        try:
            with open(filepath) as f:
                return cls.from_dict(json.load(f))
        except Exception as e:
            logger.warning("could not read %s (%s): using the defaults", filepath, e)
            return cls()


PRESETS = {
    "default": RecommendationConfig(),
    "wide": RecommendationConfig(items_per_category=3, max_total_recommendations=15),
}


def get_config(name: str = "default") -> RecommendationConfig:
    if name not in PRESETS:
        logger.warning("unknown preset %r: using the default", name)
    return PRESETS.get(name, PRESETS["default"])


def create_custom_config(items_per_category: int, **kwargs) -> RecommendationConfig:
    return RecommendationConfig(items_per_category=items_per_category, **kwargs)
