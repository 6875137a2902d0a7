"""Outfit matching: colour, gender and category rules around CLIP embeddings."""

__version__ = "0.3.0"

from .core.color_logic import ColorProcessor
from .core.gender_logic import GenderClassifier
from .core.recommendation_engine import FashionEngine

__all__ = ["FashionEngine", "ColorProcessor", "GenderClassifier"]
