"""A rule-based gender guess per category (the project's placeholder for a trained classifier)."""

import logging
import random
from typing import List, Tuple

logger = logging.getLogger(__name__)

CATEGORY_GENDER = {"one-piece_dress": "female", "bottomwear_skirt": "female", "footwear_heels": "female"}


class GenderClassifier:
    def __init__(self):
        self.rng = random.Random(7)

    def predict_gender(self, image_path: str, category: str) -> Tuple[str, float]:
        if category in CATEGORY_GENDER:
            return CATEGORY_GENDER[category], 0.9
        return "unisex", 0.5 + self.rng.random() / 10

    def get_compatible_genders(self, user_gender: str) -> List[str]:
        if user_gender in ("male", "female"):
            return [user_gender, "unisex"]
        return ["male", "female", "unisex"]

    def calculate_gender_score(self, user_gender: str, item_gender: str) -> float:
        if item_gender == user_gender:
            return 1.0
        return 0.75 if "unisex" in (user_gender, item_gender) else 0.0
