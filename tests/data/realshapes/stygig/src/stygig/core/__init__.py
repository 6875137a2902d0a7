"""The matching logic."""

from .color_logic import ColorProcessor
from .gender_logic import GenderClassifier
from .recommendation_engine import FashionEngine

__all__ = ["FashionEngine", "ColorProcessor", "GenderClassifier"]
