"""Project configuration: deployment settings and the recommendation policy."""

from .recommendation_config import RecommendationConfig, create_custom_config, get_config
from .settings import StyGigSettings, settings

__all__ = ["StyGigSettings", "settings", "RecommendationConfig", "get_config", "create_custom_config"]
