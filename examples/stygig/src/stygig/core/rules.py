"""Which categories complete an outfit: a tshirt calls for bottomwear and footwear, not more tshirts."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CategoryRules"]


class CategoryRules:
    """Category compatibility table, ``{query_category: {item_category: score in (0, 1]}}``.

    A category missing from a row is incompatible, and so is the query's own category.
    """

    def __init__(self, table: Mapping[str, Mapping[str, float]]):
        self.table = {query: dict(row) for query, row in table.items()}

    @classmethod
    def from_settings(cls, settings: Mapping) -> CategoryRules:
        return cls(settings["category_compatibility"])

    def score(self, query_category: str, item_category: str) -> float:
        if query_category == item_category:
            return 0.0
        return float(self.table.get(query_category, {}).get(item_category, 0.0))

    def compatible(self, query_category: str) -> list[str]:
        """Categories worth recommending for a query, best first."""
        row = self.table.get(query_category, {})
        return sorted((c for c in row if self.score(query_category, c) > 0), key=lambda c: -row[c])
