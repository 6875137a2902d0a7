"""Category rules."""

from .category_compatibility import CATEGORY_COMPATIBILITY

__all__ = ["CATEGORY_COMPATIBILITY"]
