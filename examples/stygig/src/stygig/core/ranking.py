"""Re-ranking of visually similar catalog items with the colour, gender and category rules."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stygig.core.color_logic import ColorProcessor
from stygig.core.gender_logic import GenderClassifier
from stygig.core.rules import CategoryRules

__all__ = ["Query", "guess_category", "rank"]

Neighbour = tuple[Mapping, float]  # (catalog item, inner-product similarity in [-1, 1])


@dataclass(frozen=True)
class Query:
    color: str
    category: str
    gender: str


def guess_category(neighbours: Sequence[Neighbour], votes: int = 5) -> tuple[str, str]:
    """(category, type) of a query image: similarity-weighted vote of its nearest catalog items."""
    tally: dict[tuple[str, str], float] = defaultdict(float)
    for item, similarity in neighbours[:votes]:
        tally[(item["category"], item["type"])] += max(similarity, 0.0)
    return max(tally, key=tally.get)


def rank(
    query: Query,
    neighbours: Sequence[Neighbour],
    *,
    colors: ColorProcessor,
    genders: GenderClassifier,
    rules: CategoryRules,
    weights: Mapping[str, float],
    top_k: int,
) -> list[dict]:
    """Best ``top_k`` items that complete the query's outfit, by weighted score in [0, 1].

    ``weights`` has keys similarity, color, gender, category. Items of an incompatible category or
    gender are dropped, whatever their other scores.
    """
    total_weight = sum(weights.values())
    ranked = []
    for item, similarity in neighbours:
        parts = {
            "similarity": (1.0 + similarity) / 2.0,
            "color": colors.harmony(query.color, item["color"]),
            "gender": genders.compatibility(query.gender, item["gender"]),
            "category": rules.score(query.category, item["category"]),
        }
        if parts["gender"] == 0 or parts["category"] == 0:
            continue
        score = sum(weights[name] * value for name, value in parts.items()) / total_weight
        ranked.append(
            {**item, "score": round(score, 4), "components": {k: round(v, 4) for k, v in parts.items()}}
        )
    ranked.sort(key=lambda r: (-r["score"], r["key"]))
    return ranked[:top_k]
