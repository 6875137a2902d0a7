"""Rule-based gender of catalog items, and whether an item suits a shopper."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["GenderClassifier"]


class GenderClassifier:
    """Gender from item metadata when it says so, else from the item type, else unisex."""

    GENDERS = ("female", "male", "unisex")

    def __init__(
        self,
        female_types: Iterable[str] = ("dress", "skirt", "heels", "blouse"),
        male_types: Iterable[str] = ("tie", "waistcoat"),
        mixed_score: float = 0.7,
    ):
        self.female_types = frozenset(t.lower() for t in female_types)
        self.male_types = frozenset(t.lower() for t in male_types)
        self.mixed_score = mixed_score

    def classify(self, category: str, item_type: str, metadata: Mapping | None = None) -> str:
        """One of ``GENDERS``."""
        declared = str((metadata or {}).get("gender", "")).lower()
        if declared in self.GENDERS:
            return declared
        names = {category.lower(), item_type.lower()}
        if names & self.female_types:
            return "female"
        if names & self.male_types:
            return "male"
        return "unisex"

    def compatibility(self, shopper: str, item: str) -> float:
        """1 for the same gender, ``mixed_score`` when either side is unisex, 0 otherwise; symmetric."""
        if shopper == item:
            return 1.0
        if "unisex" in (shopper, item):
            return self.mixed_score
        return 0.0
